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
//! | [`protection`] | [`SessionTls`], the TLS side of a control session, and [`Protection`]: what the session says a new data channel must use |
//! | [`store`] | [`SessionStore`]: the session's TLS ticket supply, shared by the control connection and its data connections |
//! | [`passive`] | the passive connect (where it goes is decided by [`ftpkit_control::transfer`]) |
//! | [`active`] | [`ActiveConfig`] and [`ActiveListener`]: bind, advertise, accept from the control peer |
//! | [`stream`] | [`DataStream`], plain or TLS, with a clean close (close_notify, then wait for the peer's) |
//! | [`tls`] | [`TlsData`]: TLS on a data connection through rustls's unbuffered API: one buffer from the socket, decrypted in place |
//! | [`maybe_tls`] | [`MaybeTls`], the one plain-or-TLS stream type (data, control, test server) |
//! | [`error`] | [`DataError`] |
//!
//! Deadlines: every function that waits takes a `Duration` and fails with
//! [`DataError::TimedOut`] when it passes.
#![forbid(unsafe_code)]

pub mod active;
pub mod error;
pub mod maybe_tls;
pub mod passive;
pub mod protection;
pub mod store;
pub mod stream;
pub mod tls;

pub use active::{ActiveConfig, ActiveListener, PeerCheck};
pub use error::DataError;
pub use maybe_tls::MaybeTls;
pub use passive::{connect_passive, PassiveAddress};
pub use protection::{Protection, SessionTls};
pub use store::{SessionStats, SessionStore};
pub use stream::{DataStream, TlsInfo};
pub use tls::{TlsData, TLS_READ_BUFFER};
