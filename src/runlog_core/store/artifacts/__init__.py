"""runlog internals: store.artifacts."""
