//! TLS session reuse on data connections, as decisions without I/O.
//!
//! Servers that require reuse (vsftpd `require_ssl_reuse=YES`, ProFTPD's
//! default, FileZilla Server) accept a protected data connection only if
//! its TLS handshake resumes the control connection's session. On TLS 1.3
//! that means presenting a ticket the server issued, and a client may
//! present each ticket once (RFC 8446 appendix C.4; rustls enforces it). So
//! a session has a **ticket supply**: tickets from the control handshake,
//! then tickets that arrive on data connections. Servers differ: vsftpd
//! issues one per data connection, so its supply never runs out; ProFTPD
//! issues two at login and one per download or listing but none per
//! upload; Pure-FTPd issues none and does not require reuse.
//!
//! This module decides, from facts the driver reports:
//!
//! - **Refresh**: before a data connection, whether the control session
//!   must be renewed (a new control connection, login, state restored)
//!   because no ticket is left and the server has shown it uses tickets
//!   ([`TicketSupply::before_data_connection`]);
//! - **Recovery**: after a data connection was refused, whether the refusal
//!   was a failed reuse ([`judge_refusal`]) and whether the command may be
//!   sent again on a renewed session ([`retry_is_safe`], [`on_refusal`]).
//!
//! What a renewed session must restore is [`Session::renewal_config`]
//! (credentials, `PBSZ`/`PROT`, `OPTS UTF8`, `TYPE`) plus the working
//! directory the driver reads with `PWD`.
//!
//! [`Session::renewal_config`]: crate::Session::renewal_config

use crate::command::Command;
use crate::reply::Reply;

/// What the driver knows about the ticket supply of the current control
/// connection, just before it opens a protected data connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TicketSupply {
    /// The control connection negotiated TLS 1.3. (TLS 1.2 sessions can be
    /// offered any number of times: no supply to run out of.)
    pub tls13: bool,
    /// TLS 1.3 tickets the server issued on this control connection.
    pub control_tickets_received: u64,
    /// Tickets on hand that have not been offered and have not expired.
    pub usable: usize,
}

/// What to do before opening a protected data connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BeforeData {
    /// Open it: a ticket is on hand, or none is needed.
    Proceed,
    /// Renew the control session first: the server uses tickets and none is
    /// left, so the data connection could only make a full handshake, which
    /// a server that requires reuse refuses.
    Renew,
}

impl TicketSupply {
    /// Whether the server has shown that it uses tickets: it issued at least
    /// one on the control connection.
    pub fn server_uses_tickets(&self) -> bool {
        self.tls13 && self.control_tickets_received > 0
    }

    /// Whether a data connection could resume the control session right
    /// now without waiting for a fresh ticket: TLS 1.2, a server that
    /// issues no tickets, or a ticket on hand
    /// ([`OpeningParams::session_on_hand`](crate::transfer::OpeningParams::session_on_hand)).
    pub fn session_on_hand(&self) -> bool {
        !self.server_uses_tickets() || self.usable > 0
    }

    /// Whether to renew the session before the next data connection.
    pub fn before_data_connection(&self) -> BeforeData {
        if !self.session_on_hand() {
            BeforeData::Renew
        } else {
            BeforeData::Proceed
        }
    }
}

/// How the TLS handshake of a data connection went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataHandshake {
    /// It resumed a session of the control connection.
    Resumed,
    /// It completed with a full handshake.
    Full,
    /// It did not complete (reset, alert, time-out).
    Failed,
    /// The client refused the server's certificate (or it failed the pin).
    /// Never a reuse failure, never retried: a data connection answered
    /// with another certificate is an attack or a misconfiguration.
    CertificateRejected,
}

/// Why a data connection was refused, when the cause is a failed reuse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReuseFailure {
    /// The server refused a data connection that made a full handshake
    /// (vsftpd `522 … session reuse required`, ProFTPD `425 … Operation not
    /// permitted`), for example because the ticket offered had expired on
    /// the server (ProFTPD issue 1931) or none was on hand.
    FullHandshakeRefused,
    /// The data connection's handshake failed on a server that uses
    /// tickets.
    HandshakeFailed,
}

impl std::fmt::Display for ReuseFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ReuseFailure::FullHandshakeRefused => {
                "the server refused a data connection that did not resume the control connection's TLS session"
            }
            ReuseFailure::HandshakeFailed => {
                "the data connection's TLS handshake failed on a server that requires session reuse"
            }
        })
    }
}

/// Reply codes with which servers refuse a data connection they cannot
/// use: 425 (can't open), 426 (closed), 450/451 (not taken / aborted),
/// 522 and 534 (RFC 4217: protection or security refused).
pub(crate) fn refuses_data_connection(reply: &Reply) -> bool {
    matches!(reply.code().as_u16(), 425 | 426 | 450 | 451 | 522 | 534)
}

/// Whether a refused data connection was a failed reuse.
///
/// `reply` is the server's refusal, when one came. A connection that
/// resumed was not refused for reuse; one that made a full handshake, or
/// whose handshake failed, was, if the server uses tickets (or says so in
/// its reply, as vsftpd's "session reuse required" does).
pub fn judge_refusal(
    handshake: DataHandshake,
    reply: Option<&Reply>,
    server_uses_tickets: bool,
) -> Option<ReuseFailure> {
    let mentions_reuse = reply.is_some_and(|r| {
        let text = r.text().to_ascii_lowercase();
        text.contains("reuse") || text.contains("resum")
    });
    match handshake {
        DataHandshake::Resumed | DataHandshake::CertificateRejected => None,
        DataHandshake::Full => {
            let refused = reply.is_some_and(refuses_data_connection);
            (refused && (server_uses_tickets || mentions_reuse))
                .then_some(ReuseFailure::FullHandshakeRefused)
        }
        DataHandshake::Failed => {
            let refused = reply.is_none_or(refuses_data_connection);
            (refused && (server_uses_tickets || mentions_reuse))
                .then_some(ReuseFailure::HandshakeFailed)
        }
    }
}

/// Whether `cmd` may be sent again after its data connection was refused,
/// `bytes_accepted` being what the server took of an upload.
///
/// Reads (RETR, LIST, MLSD, NLST) always may. STOR and APPE may only when
/// no byte reached the file: then the retry cannot duplicate or splice
/// data. STOU may not: the refused attempt may already have created a file
/// under a name the client never learned.
pub fn retry_is_safe(cmd: &Command, bytes_accepted: u64) -> bool {
    match cmd {
        Command::Retr(_) | Command::List(_) | Command::Nlst(_) | Command::Mlsd(_) => true,
        Command::Stor(_) | Command::Appe(_) => bytes_accepted == 0,
        _ => false,
    }
}

/// What to do after a data connection was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnRefusal {
    /// Not a reuse failure: report the server's refusal as it is.
    Report,
    /// Renew the control session and send the command once more.
    RenewAndRetry(ReuseFailure),
    /// A reuse failure that cannot be retried (already retried, or unsafe):
    /// report it as such, naming the cause.
    Fail(ReuseFailure),
}

/// The recovery decision for a refused data connection.
///
/// `retried` tells whether this command was already sent again once after
/// a renewal: a second reuse failure is reported, not retried.
pub fn on_refusal(
    cmd: &Command,
    bytes_accepted: u64,
    handshake: DataHandshake,
    reply: Option<&Reply>,
    server_uses_tickets: bool,
    retried: bool,
) -> OnRefusal {
    match judge_refusal(handshake, reply, server_uses_tickets) {
        None => OnRefusal::Report,
        Some(cause) if !retried && retry_is_safe(cmd, bytes_accepted) => {
            OnRefusal::RenewAndRetry(cause)
        }
        Some(cause) => OnRefusal::Fail(cause),
    }
}
