//! A scripted, deliberately misbehaving FTP/FTPS server for ftpkit's hostile
//! and fault tests. Unpublished test support; **not** a substitute for tests
//! against real servers.
//!
//! The server listens on an ephemeral **loopback** port (`127.0.0.1:0` or
//! `[::1]:0`, never anything else) and follows a [`Script`]: raw bytes to
//! send, command lines to expect, delays, stalls, TLS handshakes, passive and
//! active data connections, abrupt closes. It records every command line it
//! receives (raw bytes), every data byte, every TLS handshake (including
//! whether a data connection resumed the control session) into a
//! [`Transcript`]. Failures (unexpected command, early EOF, time-out...) are
//! returned as [`ScriptError`]s in the transcript, never panics in the task.
//! Every waiting step gives up after a time-out (default 10 s), so a
//! misbehaving client cannot hang a test.
//!
//! ```no_run
//! use std::time::Duration;
//! use ftpkit_testkit::{Script, ScriptedServer, ServerTls, TestPki};
//!
//! # async fn demo() {
//! let pki = TestPki::new(); // CA + server cert for localhost/127.0.0.1/::1, in memory
//! let script = Script::new()
//!     .send("220 hello\r\n")
//!     .expect("AUTH")
//!     .reply("234 go\r\n")
//!     .start_tls()
//!     .expect("USER")
//!     .reply("331 pw\r\n")
//!     .expect_line("PASS secret")
//!     .reply("230 in\r\n")
//!     .expect_line("PROT P")
//!     .reply("200 ok\r\n")
//!     .expect("EPSV")
//!     .reply_epsv()
//!     .expect("RETR")
//!     .reply("150 here\r\n")
//!     .data_accept() // TLS, since PROT P was seen; resumption is recorded
//!     .data_send(b"hello")
//!     .data_close()
//!     .delay(Duration::from_millis(20))
//!     .reply("226 done\r\n")
//!     .expect("QUIT")
//!     .reply("221 bye\r\n")
//!     .expect_eof();
//! let server = ScriptedServer::start_tls(script, ServerTls::new(&pki)).await;
//! // ... run the client against server.addr(), trusting pki.ca_cert_der() ...
//! let t = server.finish().await;
//! t.assert_ok();
//! assert_eq!(t.verbs(), ["AUTH", "USER", "PASS", "PROT", "EPSV", "RETR", "QUIT"]);
//! assert!(t.data_connections()[0].tls.as_ref().is_some_and(|i| i.resumed()));
//! # }
//! ```
//!
//! # Network safety
//!
//! Every listener binds `127.0.0.1:0` or `[::1]:0`. Active-mode steps connect
//! only to loopback addresses (`127.0.0.0/8`, `::1`); any other `PORT`/`EPRT`
//! address is refused and recorded ([`Event::ActiveConnectRefused`]). A
//! "foreign" `227` host ([`Script::reply_pasv_with_host`]) is only text, but a
//! buggy client would connect to it: advertise `127.0.0.2` (loopback, where
//! nothing listens, so the attempt is refused at once), never an address off
//! this machine.
//!
//! # Time-outs
//!
//! Each waiting step (expect, accept, handshake, read to end, stall) waits at
//! most [`Script::timeout`] (default [`DEFAULT_STEP_TIMEOUT`], 10 s) and then
//! records [`ScriptError::Timeout`]. After the last step the server closes
//! gracefully and reads for at most [`Script::linger`] (default 1 s); commands
//! arriving then are [`ScriptError::CommandAfterScript`]. Drop the client
//! before awaiting [`ScriptedServer::finish`] to avoid waiting out the linger.
//!
//! # Layout
//!
//! - `lib.rs`: this overview and the re-exports.
//! - `script.rs`: the [`Script`] builder DSL, [`TlsExpect`], [`DataProtection`],
//!   [`StepContext`] and the [`pasv_reply`] / [`epsv_reply`] formatters.
//! - `server.rs`: [`ScriptedServer`] and [`ServerBuilder`]: the loopback
//!   listener and the accept loop (one script per control connection).
//! - `session.rs`: the interpreter running one script on one control
//!   connection (line reading, time-outs, TLS upgrade, data steps).
//! - `data.rs`: loopback-only data listeners, `PORT`/`EPRT` parsing and the
//!   loopback check guarding active connects.
//! - `stream.rs`: plain-or-TLS connection type and the close modes
//!   (graceful, abrupt, reset).
//! - `tls.rs`: [`ServerTls`]: rustls server configuration (versions, client
//!   certificates, resumption cache or tickets).
//! - `pki.rs`: [`TestPki`] and [`CertKey`]: CA, server and client
//!   certificates generated with rcgen at run time (PEM and DER).
//! - `transcript.rs`: [`Transcript`], [`Entry`], [`Event`], [`CommandLine`],
//!   [`TlsInfo`], [`DataConnection`], [`ScriptError`].
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod data;
pub mod delay_proxy;
pub mod fault_proxy;
mod forward;
mod pki;
mod script;
mod server;
mod session;
mod stream;
mod tls;
mod transcript;

pub use data::{active_target, is_loopback, parse_eprt_argument, parse_port_argument};
pub use pki::{provider, CertKey, TestPki, Validity, SERVER_NAMES};
pub use script::{
    epsv_reply, pasv_reply, DataProtection, Script, StepContext, TlsExpect, DEFAULT_LINGER,
    DEFAULT_STEP_TIMEOUT,
};
pub use server::{ScriptedServer, ServerBuilder};
pub use tls::{ClientAuth, Resumption, ServerTls, TlsVersions};
pub use transcript::{
    CloseKind, CommandLine, DataConnection, Entry, Event, PeerClose, ScriptError, TlsInfo,
    Transcript,
};
