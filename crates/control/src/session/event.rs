//! What a session tells its driver.

use crate::reply::Reply;

/// Which step of a multi-step operation the server refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Step {
    /// `USER`.
    User,
    /// `PASS`.
    Pass,
    /// `ACCT`, or a 332 when no account was configured.
    Acct,
    /// `PROT C` (a refused `PROT P` is a downgrade error instead).
    Prot,
    /// `TYPE`.
    Type,
}

/// An event for the driver, taken with [`super::Session::poll_event`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The server's greeting (220, or 230 when it needs no login).
    Greeting(Reply),
    /// A 1yz reply that is not a transfer mark (120 "ready in n minutes",
    /// a 110 restart marker...). Informational.
    Preliminary(Reply),
    /// The server accepted `AUTH TLS`. The driver must now run the TLS
    /// handshake on the control connection, feed no bytes meanwhile, and
    /// call [`super::Session::tls_established`] when it is done.
    StartTls,
    /// The server accepted `CCC`. The driver must send TLS close_notify,
    /// wait for the server's, and continue on the bare TCP stream.
    StopTls,
    /// Login succeeded.
    LoggedIn(Reply),
    /// A multi-step operation (open, login, secure) finished; the session
    /// is idle.
    Ready,
    /// The server refused a step; the operation ended and the session is
    /// idle (for example: not logged in after a 530 to `PASS`).
    Rejected {
        /// The step refused.
        step: Step,
        /// The server's reply.
        reply: Reply,
    },
    /// The final reply to a command sent with [`super::Session::command`].
    Reply(Reply),
    /// The 1yz mark of a data command: the data connection is in use.
    TransferStarted(Reply),
    /// The 2yz completion of a data command.
    TransferCompleted(Reply),
    /// A 4yz/5yz reply to a data command, at the mark or at completion.
    TransferFailed(Reply),
    /// The answer to the passive command pipelined behind a transfer
    /// ([`super::Session::send_ahead`]). After the transfer's end it is
    /// kept for the next transfer ([`super::Session::take_ahead`]) when it
    /// is the expected `229`/`227`; before the end, the server read the
    /// command during the transfer, and pipelining is off for the rest of
    /// the session. Informational either way.
    Ahead(Reply),
    /// `ABOR` finished: the replies the server sent for the aborted
    /// transfer and for `ABOR` itself, in order.
    Aborted(Vec<Reply>),
    /// `QUIT` was answered; the connection can be closed.
    Closed(Reply),
}
