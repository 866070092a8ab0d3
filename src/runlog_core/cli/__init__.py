"""runlog internals: cli."""
