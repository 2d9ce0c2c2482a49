//! The `ftpkit` command-line client.
fn main() {}
