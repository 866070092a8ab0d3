"""runlog internals: views."""
