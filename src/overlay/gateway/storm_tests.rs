//! Reconnect storms through the model and the table, with explicit time.
