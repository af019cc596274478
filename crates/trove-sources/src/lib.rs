//! Repository snapshots from git URLs and GitHub.
