"""runlog internals: base."""
