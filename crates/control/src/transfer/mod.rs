//! The data-connection half of the protocol, as a sans-IO sub-machine.
//!
//! Opening a data channel for one transfer command is a conversation of its
//! own: `EPSV` (falling back to `PASV`) or `EPRT` (falling back to `PORT`),
//! an optional `REST`, the transfer command, and then a race between the
//! server's `1yz` mark, the data connection and, under `PROT P`, its TLS
//! handshake. [`Opening`] holds every decision of that conversation; the
//! driver only performs the [`DataAction`]s it asks for and reports what
//! happened, in the shape of [`crate::Session`]:
//!
//! - **out**: [`Opening::poll_action`] (commands to send, a connection to
//!   make or accept, a TLS handshake to start, a timer to arm, the result);
//! - **in**: [`Opening::handle_event`] for the control connection's events,
//!   [`Opening::handle_listening`], [`Opening::handle_connected`],
//!   [`Opening::handle_connect_failed`], [`Opening::handle_tls_established`],
//!   [`Opening::handle_tls_failed`] and [`Opening::handle_timeout`];
//! - **reading**: the driver reads the control connection only while
//!   [`Opening::wants_control`] says so, and concurrently waits for the data
//!   connection, the handshake and the armed timer.
//!
//! There is no clock: a timer is armed with a [`Duration`](std::time::Duration)
//! by [`DataAction::ArmTimer`] and reported back by kind; a report that
//! comes after the machine moved on is ignored.
//!
//! What the machine decides:
//!
//! - which of `EPSV`/`PASV`/`EPRT`/`PORT` to send, falling back on "not
//!   implemented" (500/501/502/504/522) and remembering the fallback for the
//!   session ([`DataCommands`]); no fallback on IPv6, where `PASV`/`PORT`
//!   cannot work; a passive command refused with `425` is asked again up
//!   to [`PASSIVE_RETRIES`] times (a server's random passive port can be
//!   taken by another session at that instant);
//! - where a passive connection goes ([`PassiveAddress`], [`DataRoute`]):
//!   the control peer unless the user trusts the reply, and through the
//!   proxy when there is one; active mode through a proxy is refused;
//! - `REST`: a refusal, or an answer naming another offset, fails with the
//!   restart marker cleared (`REST 0`) so the file is never spliced;
//! - `PROT P` means TLS on the data connection. The handshake waits a short
//!   grace for the mark (servers that issue a ticket per transfer send it
//!   with the mark), and after a full handshake on a server that uses
//!   tickets, the server's verdict is awaited briefly so that a refusal for
//!   want of reuse is this opening's result ([`crate::resumption`] decides
//!   what to do about it);
//! - a server that completes without a data connection (`226` for an empty
//!   listing) is accepted; in active mode it will never connect;
//! - a failed data connection is explained by the server's reply when one
//!   comes within a short wait.

mod opening;
mod route;

pub use opening::{
    ChannelMode, DataAction, DataFailure, OpenFailure, Opened, Opening, OpeningParams, Wait, Waits,
    PASSIVE_RETRIES,
};
pub use route::{DataRoute, DataTarget, PassiveAddress};

/// Which passive and active commands work with this server. Starts with
/// the extended ones (RFC 2428) and falls back for the rest of the session
/// when the server does not implement them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataCommands {
    /// `EPSV` is still worth trying.
    pub epsv: bool,
    /// `EPRT` is still worth trying.
    pub eprt: bool,
}

impl DataCommands {
    /// Extended commands first (`try_extended`), or only `PASV`/`PORT`.
    pub fn new(try_extended: bool) -> Self {
        DataCommands {
            epsv: try_extended,
            eprt: try_extended,
        }
    }
}

impl Default for DataCommands {
    fn default() -> Self {
        DataCommands::new(true)
    }
}

/// 500/501/502/504 (and 522, "use another protocol"): the command is not
/// available, so a fallback is worth trying. Other refusals are reported.
pub fn is_not_implemented(code: crate::ReplyCode) -> bool {
    matches!(code.as_u16(), 500 | 501 | 502 | 504 | 522)
}
