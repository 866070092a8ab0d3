"""runlog internals: store.sqlite."""
