//! Tests that need nothing outside the repository: no AWS emulator, no control plane, no
//! root, no release build. A plain `cargo test` runs them (with the unit tests); see
//! docs/testing.md for the other groups.

#[path = "../support/mod.rs"]
mod support;

mod binary;
mod iam_policy;
mod layout;
mod process;
mod properties;
mod schema_table;
mod triggers;
