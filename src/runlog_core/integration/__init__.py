"""runlog internals: integration."""
