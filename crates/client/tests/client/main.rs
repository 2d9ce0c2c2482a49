//! The client's tests, in one binary: each file is a module, and helpers
//! they share are in `common`. Every server here is scripted (the
//! `ftpkit-testkit` scripted server, or an in-process libunftp); the tests
//! against real servers are in `crates/interop`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

mod connector;
mod hostile;
mod identity;
mod integrity;
mod listing;
mod mirror_rules;
mod ops;
mod pool;
mod resumption;
mod scripted;
mod segments;
