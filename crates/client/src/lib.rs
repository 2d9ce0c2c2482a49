//! # ftpkit
//!
//! Async FTP/FTPS client for tokio and rustls.
#![forbid(unsafe_code)]
