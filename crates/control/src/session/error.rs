//! Session errors, grouped by who is at fault.

use crate::command::CommandError;
use crate::reply::{DecodeError, Reply};

/// A session error. Errors from the server's side (misbehaviour, downgrade,
/// 421) are fatal: the session is failed and every later call is refused.
/// Caller errors (misuse, invalid command) change nothing and send nothing.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The caller asked for something the current state does not allow.
    #[error(transparent)]
    Misuse(#[from] Misuse),
    /// A command argument was invalid (CR, LF, NUL...). Nothing was sent.
    #[error("invalid command: {0}")]
    InvalidCommand(#[from] CommandError),
    /// The server broke the protocol.
    #[error(transparent)]
    ServerMisbehaved(#[from] Misbehaviour),
    /// TLS was required and the server tried to avoid it.
    #[error(transparent)]
    Downgrade(#[from] Downgrade),
    /// The server closed the session: a 421 reply, or end of stream
    /// (`None`) where a reply was due.
    #[error("server closed the connection{}", .0.as_ref().map(|r| format!(": {r}")).unwrap_or_default())]
    ServerClosed(Option<Reply>),
    /// The greeting was a refusal (e.g. `530 too many users`).
    #[error("server refused the connection: {0}")]
    GreetingRefused(Reply),
}

/// Calls the current state does not allow. Nothing was sent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Misuse {
    /// The session is busy with another operation.
    #[error("session busy ({0}); wait for the current operation to finish")]
    Busy(&'static str),
    /// Input fed while the driver should be doing the TLS handshake.
    #[error("TLS handshake in progress")]
    HandshakeInProgress,
    /// `tls_established` without a pending `StartTls`.
    #[error("no TLS handshake was requested")]
    NoHandshakePending,
    /// The operation needs a transfer in progress.
    #[error("no transfer in progress")]
    NotInTransfer,
    /// Login is needed first.
    #[error("not logged in")]
    NotLoggedIn,
    /// TLS is required and not yet established.
    #[error("TLS is required before this step")]
    TlsRequired,
    /// TLS is already active.
    #[error("the control connection is already secured")]
    AlreadySecure,
    /// CCC without TLS.
    #[error("the control connection is not secured")]
    NotSecure,
    /// `transfer` with a command that has no data connection.
    #[error("{0} does not use a data connection")]
    NotADataCommand(&'static str),
    /// `send_ahead` on a session whose server does not get pipelined
    /// commands ([`super::Pipelining`]).
    #[error("pipelining is off for this server")]
    PipeliningOff,
    /// `send_ahead` with a command that is not `EPSV` or `PASV`.
    #[error("{0} cannot be pipelined behind a transfer; only EPSV and PASV can")]
    NotAPassiveCommand(&'static str),
    /// A command with a dedicated method was passed to `command`.
    #[error("{0} must be sent with its dedicated session method")]
    UseDedicatedMethod(&'static str),
    /// The session failed earlier.
    #[error("the session failed earlier and cannot be used")]
    Failed,
    /// The session was closed.
    #[error("the session is closed")]
    Closed,
}

/// Server behaviour that breaks the protocol.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Misbehaviour {
    /// The reply stream could not be decoded.
    #[error("undecodable reply: {0}")]
    Decode(#[from] DecodeError),
    /// Bytes followed the 234 reply before the TLS handshake: they could be
    /// an injected plaintext reply (curl CVE-2021-22947).
    #[error("server sent data after the 234 reply, before the TLS handshake")]
    BytesAfterAuth,
    /// A reply that makes no sense at this point.
    #[error("unexpected reply to {during}: {reply}")]
    UnexpectedReply {
        /// What the session was waiting for.
        during: &'static str,
        /// The reply.
        reply: Reply,
    },
    /// A reply when no command was outstanding.
    #[error("unsolicited reply: {0}")]
    UnsolicitedReply(Reply),
}

/// TLS was required and the server avoided it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Downgrade {
    /// `AUTH TLS` was refused.
    #[error("server refused AUTH TLS: {0}")]
    AuthRefused(Reply),
    /// `PBSZ 0` was refused.
    #[error("server refused PBSZ: {0}")]
    PbszRefused(Reply),
    /// `PROT P` was refused.
    #[error("server refused PROT P: {0}")]
    ProtRefused(Reply),
    /// The server claimed a logged-in session before TLS (a 230 greeting,
    /// or 230 to AUTH).
    #[error("server logged in without TLS: {0}")]
    LoggedInWithoutTls(Reply),
}
