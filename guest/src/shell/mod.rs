//! Shell commands: whether one is provably read-only, and the directories it works in.
