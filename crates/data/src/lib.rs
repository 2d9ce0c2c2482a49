//! # ftpkit-data
//!
//! FTP data channels for tokio: passive connections, active listeners, and
//! the [`DataStream`] that carries one transfer. Each channel takes its
//! protection from the control session when it opens, as a [`Protection`]
//! value: clear, or TLS with the control connection's server name and
//! session store, so that every data connection resumes the control
//! connection's TLS session.
//!
//! ## Layout
//!
//! | module | holds |
//! |---|---|
//! | [`protection`] | [`Protection`]: what the session says a new data channel must use |
//! | [`passive`] | where a passive channel connects ([`PassiveAddress`]) and the connect itself |
//! | [`active`] | [`ActiveConfig`] and [`ActiveListener`]: bind, advertise, accept from the control peer |
//! | [`stream`] | [`DataStream`], plain or TLS, with a clean close (close_notify, then wait for the peer's) |
//! | [`error`] | [`DataError`] |
//!
//! Deadlines: every function that waits takes a `Duration` and fails with
//! [`DataError::TimedOut`] when it passes.
#![forbid(unsafe_code)]

pub mod active;
pub mod error;
pub mod passive;
pub mod protection;
pub mod stream;

pub use active::{ActiveConfig, ActiveListener, PeerCheck};
pub use error::DataError;
pub use passive::{connect_passive, PassiveAddress};
pub use protection::{Protection, TlsParams};
pub use stream::{DataStream, TlsInfo};
