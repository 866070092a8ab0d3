"""runlog internals: plugins."""
