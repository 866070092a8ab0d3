"""runlog internals: integration."""
from runlog_core.plugins.manager import open_store as open_store
