//! The project README, compiled and run as doctests from outside the
//! workspace (`cargo test --doc`): its examples use only `ftpkit::` paths
//! (and tokio), as a user's code would.
#![doc = include_str!("../../../README.md")]
