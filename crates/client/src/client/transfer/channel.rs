//! [`Channel`]: what a [`Download`](super::Download) and an
//! [`Upload`](super::Upload) share. The data connection and the client it
//! borrows, the completion reply, the byte count, the idle deadline and
//! the transfer's span. The reading and writing sides only add their own
//! direction.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use ftpkit_control::command::TransferType;
use ftpkit_control::resumption::judge_refusal;
use ftpkit_control::{Event, Reply};
use ftpkit_data::DataStream;
use tokio::time::{Instant, Sleep};

use super::TransferInfo;
use crate::client::Client;
use crate::error::{Error, ErrorKind, Result};

/// The completion being awaited (and, for uploads, the close before it).
pub(super) type Finish<'a> = Pin<Box<dyn Future<Output = Result<Reply>> + Send + 'a>>;

/// Where a transfer stands.
pub(super) enum State<'a> {
    /// The data connection is open.
    Open {
        client: &'a mut Client,
        data: DataStream,
    },
    /// The data is over; the completion is on its way.
    Finishing(Finish<'a>),
    Done,
    Failed,
}

/// The state and bookkeeping of one transfer.
pub(super) struct Channel<'a> {
    pub(super) state: State<'a>,
    pub(super) info: TransferInfo,
    idle: Pin<Box<Sleep>>,
    idle_timeout: Duration,
    /// The transfer's `debug` span, entered while polling.
    pub(super) span: tracing::Span,
    /// The transfer runs in TYPE A.
    pub(super) ascii: bool,
}

impl<'a> Channel<'a> {
    /// A transfer on `client`: reading or writing `data`, or, when the
    /// server completed without a data connection, awaiting or holding the
    /// completion. `verb` names the transfer in errors.
    pub(super) fn new(
        client: &'a mut Client,
        data: Option<DataStream>,
        info: TransferInfo,
        verb: &'static str,
    ) -> Self {
        let idle_timeout = client.config.timeouts.data_idle;
        let span = client
            .transfer_span
            .take()
            .unwrap_or_else(tracing::Span::none);
        let ascii = client.transfer_type() == Some(TransferType::Ascii);
        let state = match (data, &info.completion) {
            (Some(data), _) => State::Open { client, data },
            (None, known) => {
                let known = known.clone();
                State::Finishing(Box::pin(await_completion(client, verb, known)))
            }
        };
        Channel {
            state,
            info,
            idle: Box::pin(tokio::time::sleep(idle_timeout)),
            idle_timeout,
            span,
            ascii,
        }
    }

    /// `n` bytes moved: counted, and the idle deadline starts again.
    pub(super) fn moved(&mut self, n: usize) {
        self.info.bytes += n as u64;
        self.idle.as_mut().reset(Instant::now() + self.idle_timeout);
    }

    /// While the data connection is pending: the idle deadline. When it
    /// passes the transfer fails with a timeout naming `what`.
    pub(super) fn poll_idle(
        &mut self,
        cx: &mut Context<'_>,
        what: &'static str,
    ) -> Poll<io::Error> {
        ready!(self.idle.as_mut().poll(cx));
        self.state = State::Failed;
        Poll::Ready(Error::timeout(what).into())
    }

    /// Takes the open data connection and its client out (the state is
    /// `Failed` until the caller sets the next one).
    pub(super) fn take_open(&mut self) -> Option<(&'a mut Client, DataStream)> {
        match std::mem::replace(&mut self.state, State::Failed) {
            State::Open { client, data } => Some((client, data)),
            other => {
                self.state = other;
                None
            }
        }
    }

    /// Polls the completion: `Ok` once it came (kept in
    /// [`TransferInfo::completion`]), or the error that ended the transfer.
    pub(super) fn poll_finishing(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.state {
            State::Finishing(fut) => match ready!(fut.as_mut().poll(cx)) {
                Ok(reply) => {
                    self.info.completion = Some(reply);
                    self.state = State::Done;
                    Poll::Ready(Ok(()))
                }
                Err(e) => {
                    self.state = State::Failed;
                    Poll::Ready(Err(e.into()))
                }
            },
            State::Done => Poll::Ready(Ok(())),
            State::Open { .. } => Poll::Ready(Err(io::Error::other("the transfer is still open"))),
            State::Failed => Poll::Ready(Err(io::Error::other("the transfer already failed"))),
        }
    }

    /// Cancels the transfer and waits for the session to be usable again:
    /// an open data connection is reset (so the server cannot mistake its
    /// end for the end of a file), then `ABOR` and the replies it owes are
    /// read. After the end of the data, only the completion is awaited.
    pub(super) async fn abort(&mut self) -> Result<()> {
        match std::mem::replace(&mut self.state, State::Failed) {
            State::Open { client, data } => {
                reset(data);
                client.ready().await
            }
            State::Finishing(fut) => fut.await.map(drop),
            State::Done | State::Failed => Ok(()),
        }
    }
}

/// Reads the replies that end a transfer: its completion, unless it is
/// `known` already, then the answer to a passive command pipelined behind
/// it, so that the session is idle when the transfer's result is known.
pub(crate) async fn await_completion(
    client: &mut Client,
    verb: &'static str,
    known: Option<Reply>,
) -> Result<Reply> {
    let outcome = match known {
        Some(r) => Ok(r),
        None => read_completion(client, verb).await,
    };
    if client.is_broken() {
        return outcome;
    }
    let ahead = client.read_ahead().await;
    match (outcome, ahead) {
        (Err(e), _) | (Ok(_), Err(e)) => Err(e),
        (Ok(r), Ok(())) => Ok(r),
    }
}

/// Reads a transfer's events up to its final reply.
async fn read_completion(client: &mut Client, verb: &'static str) -> Result<Reply> {
    loop {
        match client.control.next_event().await? {
            Event::TransferCompleted(r) => return Ok(r),
            Event::TransferFailed(r) => {
                let cause = client
                    .data_handshake
                    .and_then(|h| judge_refusal(h, Some(&r), client.server_uses_tickets()));
                let refusal = Error::from_reply(verb, r);
                return Err(match cause {
                    // Too late to retry here (the caller has the stream):
                    // renew before the next data connection instead.
                    Some(cause) => {
                        client.renew_before_next_data = true;
                        Error::reuse_refused(cause, refusal)
                    }
                    None => refusal,
                });
            }
            // `Ahead` before the end: the server read the pipelined
            // command during the transfer (pipelining is now off).
            Event::Ahead(r) => {
                tracing::debug!(reply = %r, "a pipelined passive command was answered during {verb}; pipelining off for this session");
            }
            Event::TransferStarted(_) | Event::Preliminary(_) => {}
            other => {
                let e = Error::new(
                    ErrorKind::Protocol,
                    format!("unexpected event at the end of {verb}: {other:?}"),
                );
                return Err(client.control.poison(e));
            }
        }
    }
}

/// Drops a data connection with a TCP reset: no TLS close_notify and no
/// FIN, so that the server sees a failed transfer, not the end of a file.
pub(crate) fn reset(data: DataStream) {
    // tokio deprecates `set_linger` because a non-zero linger blocks the
    // thread in `close`; a zero linger is the abortive close, which never
    // blocks.
    #[allow(deprecated)]
    let _ = data.tcp().set_linger(Some(Duration::ZERO));
    drop(data);
}
