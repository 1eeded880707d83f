//! The held-connection table with explicit time.
