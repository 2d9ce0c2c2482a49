//! # ftpkit-control
//!
//! The FTP/FTPS control connection as a **sans-IO** state machine: typed
//! commands, an incremental reply decoder, login, `AUTH TLS`/`PBSZ`/`PROT`/
//! `CCC`, the data-connection protocol (EPSV/PASV/EPRT/PORT, `REST`, the
//! mark and the data TLS handshake, with their fallbacks), FEAT and directory listings. No
//! sockets, no TLS library, no runtime, no clock: bytes in, events and bytes
//! out. That is what makes it testable byte by byte and fuzzable, and what
//! lets any runtime drive it (the `ftpkit` crate drives it with tokio).
//!
//! ## Layout
//!
//! | module | holds |
//! |---|---|
//! | [`command`] | [`Command`], one variant per verb with its RFC, argument checks and encoding |
//! | [`reply`] | [`Reply`], [`ReplyCode`], the bounded incremental [`ReplyDecoder`] |
//! | [`session`] | [`Session`], the state machine and its calling contract; config, events, errors |
//! | [`parse`] | payload parsers: 227/229 and PORT/EPRT, 257, 213 SIZE/MDTM, FEAT |
//! | [`listing`] | LIST (Unix, DOS) and MLSD/MLST parsers, the bounded line splitter, lossless names |
//! | [`transfer`] | the data-connection half: [`transfer::Opening`] decides EPSV/PASV/EPRT/PORT and their fallbacks, the address policy, `REST`, the mark and the data TLS handshake |
//! | [`resumption`] | TLS session reuse on data connections: when to renew the session, whether a refusal was a failed reuse, whether a retry is safe |
//! | [`secret`] | [`Secret`], which keeps passwords out of `Debug` and logs |
//!
//! ## Example: a session fed by hand
//!
//! ```
//! use ftpkit_control::{Credentials, Event, Session, SessionConfig};
//!
//! let config = SessionConfig::new().credentials(Credentials::new("alice", "pw"));
//! let mut s = Session::new(config)?;
//! s.handle_input(b"220 ready\r\n")?;
//! assert_eq!(s.poll_transmit().as_deref(), Some(&b"USER alice\r\n"[..]));
//! s.handle_input(b"331 password please\r\n")?;
//! assert_eq!(s.poll_transmit().as_deref(), Some(&b"PASS pw\r\n"[..]));
//! s.handle_input(b"230 welcome\r\n")?;
//! assert_eq!(s.poll_transmit().as_deref(), Some(&b"FEAT\r\n"[..]));
//! s.handle_input(b"211 no features\r\n")?;
//! assert_eq!(s.poll_transmit().as_deref(), Some(&b"TYPE I\r\n"[..]));
//! s.handle_input(b"200 binary\r\n")?;
//! assert!(s.is_idle());
//! assert!(matches!(s.poll_event(), Some(Event::Greeting(_))));
//! # Ok::<(), ftpkit_control::SessionError>(())
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::indexing_slicing))]

pub mod capabilities;
pub mod command;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod listing;
pub mod parse;
pub mod reply;
pub mod resumption;
pub mod secret;
pub mod session;
pub mod transfer;

pub use command::{Arg, Command, CommandError};
pub use reply::{Reply, ReplyCode, ReplyDecoder};
pub use secret::Secret;
pub use session::{
    Credentials, DataProtection, Event, Security, Session, SessionConfig, SessionError,
};
