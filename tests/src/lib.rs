//! Shared helpers of the workspace-level end-to-end tests in `tests/tests/`.
//!
//! [`DemoMembers`] (from the `tally-testkit` crate) plays the members of the demo consortium:
//! it keeps each member's chain tip and signs events into the right chain, so a test reads as
//! the supply-chain story it checks.
//! [`fuzz`] is the stable mutation fuzzer of every decoder that takes outside input, run by
//! the `fuzz` binary and, briefly, by `tests/fuzz.rs`.

pub mod fuzz;

/// The path of a file in the shared external test data, next to the repository.
pub fn shared_data(relative: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data")
        .join(relative)
}

pub use tally_testkit::members::{DemoMembers, Error};
