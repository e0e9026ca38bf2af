//! Golden files: the snapshot store (`.snap` files, pending `.snap.new`, `--update`, CI mode) and
//! the interactive review that accepts or rejects pending snapshots.

pub mod review;
pub mod store;
