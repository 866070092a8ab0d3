"""runlog internals: store.postgres."""
