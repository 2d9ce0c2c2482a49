//! # ftpkit-data
//!
//! Passive and active FTP data channels that take their protection from the
//! control session.
#![forbid(unsafe_code)]
