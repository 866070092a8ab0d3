"""runlog internals: writer."""
