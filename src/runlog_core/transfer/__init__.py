"""runlog internals: transfer."""
