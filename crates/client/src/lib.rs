//! # ftpkit
//!
//! An async FTP/FTPS client for tokio and rustls. Plain FTP, explicit TLS
//! (`AUTH TLS`) and implicit TLS, with data channels that inherit the
//! control connection's protection and resume its TLS session.
//!
//! ## Layout
//!
//! | module | holds |
//! |---|---|
//! | [`client`](Client) (`client/`) | [`Client`]: connect, login, secure, commands, transfers (the driver of the sans-IO data-connection machine) |
//! | `builder.rs` | [`ClientBuilder`]: fluent settings, `.netrc`, URLs, then connect |
//! | `control.rs` | the control stream (plain/TLS) and the loop driving [`ftpkit_control::Session`] |
//! | `sniff.rs`, `observe.rs` | the TCP stream under TLS that keeps its last read (plaintext where TLS was expected), and the one routine that shows a wrapper the bytes read |
//! | [`tls`] | trust, pins, client certificates, the TLS context each session's [`ftpkit_data::SessionTls`] comes from, certificate info |
//! | [`config`] | [`Config`], [`Timeouts`], data modes |
//! | [`connector`] | [`Connector`]: the pluggable transport; [`ProxyConnector`] for SOCKS5 and HTTP `CONNECT` proxies |
//! | `url.rs` | [`FtpUrl`]: `ftp://`, `ftpes://`, `ftps://` URLs into a [`Config`] |
//! | [`login`] | [`resolve_login`]: the one login rule of every URL entry point (URL, `.netrc`, anonymous) |
//! | [`proto`] | the sans-IO core, re-exported |
//! | [`netrc`] | `~/.netrc` credentials |
//! | [`ops`] | progress, whole-file transfers with resume and verification, listing streams, recursive mirror, segmented download |
//! | [`pool`] | [`Pool`]: pooled connections (health check, keepalive, one retry loop over the [`ops`] routines) |
//! | [`error`] | [`Error`], [`ErrorKind`] |
//!
//! The protocol itself lives in `ftpkit-control` (sans-IO) and the data
//! channels in `ftpkit-data`; this crate drives them with tokio.
#![forbid(unsafe_code)]

mod builder;
mod client;
pub mod config;
pub mod connector;
mod control;
pub mod error;
pub mod login;
pub mod netrc;
mod observe;
pub mod ops;
pub mod pool;
mod sniff;
pub mod tls;
mod url;

pub use self::url::FtpUrl;
pub use builder::ClientBuilder;
pub use client::Client;
pub use client::{Download, TransferInfo, Upload, LIST_DIR_MAX_ROWS};
pub use config::{
    Config, DataMode, DataProtection, ExtendedCommands, Pipelining, Security, Timeouts,
};
pub use connector::{Connector, ProxyConnector, ProxyCredentials, ProxyError, ProxyProtocol};
pub use error::{Error, ErrorKind, Result};
/// The sans-IO protocol core (the `ftpkit-control` crate): the control
/// session, the data-connection sub-machine, commands, replies, parsers and
/// listings, for programs that drive the protocol themselves (see
/// `examples/blocking_std.rs`). A program that wants no tokio can depend on
/// `ftpkit-control` alone.
pub use ftpkit_control as proto;
pub use ftpkit_control::capabilities::Support;
pub use ftpkit_control::command::TransferType;
pub use ftpkit_control::listing::{Entry, EntryKind, ListLine, Modified, RawName};
pub use ftpkit_control::parse::FeatureSet;
pub use ftpkit_control::{Arg, Command, Credentials, Reply, ReplyCode};
pub use ftpkit_data::TlsInfo;
pub use login::{resolve_login, Login};
pub use netrc::{Netrc, NetrcEntry};
pub use pool::{Pool, PoolConfig, PoolStats, Pooled};
