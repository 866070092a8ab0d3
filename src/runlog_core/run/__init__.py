"""runlog internals: run."""
