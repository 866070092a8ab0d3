"""runlog internals: submit."""
