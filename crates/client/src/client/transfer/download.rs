//! [`Download`]: an `AsyncRead` that finishes itself.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use ftpkit_control::command::TransferType;
use ftpkit_control::resumption::judge_refusal;
use ftpkit_control::{Event, Reply};
use ftpkit_data::DataStream;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::time::{Instant, Sleep};

use super::ascii::CrlfToLf;
use super::TransferInfo;
use crate::client::Client;
use crate::error::{Error, ErrorKind, Result};

type Finish<'a> = Pin<Box<dyn Future<Output = Result<Reply>> + Send + 'a>>;

enum State<'a> {
    Reading {
        client: &'a mut Client,
        data: DataStream,
    },
    Finishing(Finish<'a>),
    Done,
    Failed,
}

/// A download in progress: read it like any `AsyncRead`.
///
/// At the end of the data it reads the server's completion reply itself; a
/// 4yz/5yz reply there comes out of `poll_read` as an error (an
/// [`Error`] inside the `io::Error`, see [`Error::from_io_error`]). A TLS
/// data connection that ends without close_notify is reported as possible
/// truncation.
///
/// Dropping a download before its end is allowed: the client aborts the
/// transfer on its next call. [`abort`](Self::abort) does the same at once
/// and waits for the session to be usable again.
#[must_use = "a download must be read to its end, or aborted"]
pub struct Download<'a> {
    state: State<'a>,
    info: TransferInfo,
    idle: Pin<Box<Sleep>>,
    idle_timeout: Duration,
    /// The transfer's `debug` span, entered while polling.
    span: tracing::Span,
    ascii: Option<AsciiIn>,
    /// The transfer runs in TYPE A: byte counts differ from file sizes.
    type_ascii: bool,
}

struct AsciiIn {
    conv: CrlfToLf,
    raw: Vec<u8>,
    out: Vec<u8>,
    pos: usize,
    eof: bool,
}

/// Reads the replies that end a transfer.
pub(crate) async fn await_completion(client: &mut Client, verb: &'static str) -> Result<Reply> {
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

impl<'a> Download<'a> {
    pub(crate) fn new(
        client: &'a mut Client,
        data: Option<DataStream>,
        info: TransferInfo,
    ) -> Self {
        let idle_timeout = client.config.timeouts.data_idle;
        let span = client
            .transfer_span
            .take()
            .unwrap_or_else(tracing::Span::none);
        let ascii = (client.transfer_type() == Some(TransferType::Ascii)).then(|| AsciiIn {
            conv: CrlfToLf::default(),
            raw: vec![0u8; 64 * 1024],
            out: Vec::with_capacity(64 * 1024 + 1),
            pos: 0,
            eof: false,
        });
        let state = match (data, &info.completion) {
            (Some(data), _) => State::Reading { client, data },
            (None, Some(_)) => State::Done,
            (None, None) => State::Finishing(Box::pin(await_completion(client, "transfer"))),
        };
        Self {
            state,
            info,
            idle: Box::pin(tokio::time::sleep(idle_timeout)),
            idle_timeout,
            span,
            type_ascii: ascii.is_some(),
            ascii,
        }
    }

    /// What is known about the transfer so far.
    pub fn info(&self) -> &TransferInfo {
        &self.info
    }

    /// Bytes received over the data connection so far.
    pub fn bytes(&self) -> u64 {
        self.info.bytes
    }

    /// Cancels the download and waits for the session to be usable again:
    /// the data connection is closed, then `ABOR` and the replies it owes
    /// are read. After the end of the data, only the completion is awaited.
    pub async fn abort(mut self) -> Result<()> {
        match std::mem::replace(&mut self.state, State::Failed) {
            State::Reading { client, data } => {
                super::upload::reset(data);
                client.ready().await
            }
            State::Finishing(fut) => fut.await.map(drop),
            State::Done | State::Failed => Ok(()),
        }
    }

    /// At the end of the data: a byte count that differs from the size
    /// the server announced is an error, whatever the completion reply
    /// said. TYPE A transfers are not checked (line ends change the count).
    fn check_length(&mut self) -> io::Result<()> {
        // (`ascii` is taken out while a TYPE A read is in progress, so the
        // mode is kept on its own.)
        if self.type_ascii {
            return Ok(());
        }
        self.info.check_announced().map_err(|e| {
            self.state = State::Failed;
            e.into()
        })
    }

    /// Reads raw bytes from the data connection, finishing at EOF.
    fn poll_raw(&mut self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        loop {
            match &mut self.state {
                State::Reading { data, .. } => {
                    let before = buf.filled().len();
                    match Pin::new(data).poll_read(cx, buf) {
                        Poll::Ready(Ok(())) => {
                            let n = buf.filled().len() - before;
                            if n > 0 {
                                self.info.bytes += n as u64;
                                self.idle.as_mut().reset(Instant::now() + self.idle_timeout);
                                return Poll::Ready(Ok(()));
                            }
                            // End of data: read the completion reply, unless
                            // the server sent it before the data ended (no
                            // mark, or a fast server).
                            let State::Reading { client, data } =
                                std::mem::replace(&mut self.state, State::Failed)
                            else {
                                return Poll::Ready(Err(io::Error::other("download state")));
                            };
                            drop(data);
                            if self.info.completion.is_some() {
                                self.state = State::Done;
                                self.check_length()?;
                            } else {
                                self.state = State::Finishing(Box::pin(await_completion(
                                    client, "download",
                                )));
                            }
                        }
                        Poll::Ready(Err(e)) => {
                            let tls = matches!(
                                &self.state,
                                State::Reading { data, .. } if data.is_tls()
                            );
                            self.state = State::Failed;
                            let err = if tls && e.kind() == io::ErrorKind::UnexpectedEof {
                                Error::new(
                                    ErrorKind::Truncated,
                                    "the data connection ended without TLS close_notify: the download may be truncated",
                                )
                                .with_source(e)
                            } else {
                                Error::from_io("reading the data connection", e)
                            };
                            return Poll::Ready(Err(err.into()));
                        }
                        Poll::Pending => {
                            if self.idle.as_mut().poll(cx).is_ready() {
                                self.state = State::Failed;
                                return Poll::Ready(Err(
                                    Error::timeout("data (download idle)").into()
                                ));
                            }
                            return Poll::Pending;
                        }
                    }
                }
                State::Finishing(fut) => {
                    let r = ready!(fut.as_mut().poll(cx));
                    match r {
                        Ok(reply) => {
                            self.info.completion = Some(reply);
                            self.state = State::Done;
                            self.check_length()?;
                        }
                        Err(e) => {
                            self.state = State::Failed;
                            return Poll::Ready(Err(e.into()));
                        }
                    }
                }
                State::Done => return Poll::Ready(Ok(())),
                State::Failed => {
                    return Poll::Ready(Err(io::Error::other("the download already failed")))
                }
            }
        }
    }
}

impl AsyncRead for Download<'_> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let span = this.span.clone();
        let _g = span.enter();
        let Some(mut a) = this.ascii.take() else {
            return this.poll_raw(cx, buf);
        };
        let r = loop {
            if a.pos < a.out.len() {
                let avail = a.out.get(a.pos..).unwrap_or_default();
                let n = avail.len().min(buf.remaining());
                buf.put_slice(avail.get(..n).unwrap_or_default());
                a.pos += n;
                break Poll::Ready(Ok(()));
            }
            if a.eof {
                break Poll::Ready(Ok(()));
            }
            a.out.clear();
            a.pos = 0;
            let mut raw = ReadBuf::new(&mut a.raw);
            match this.poll_raw(cx, &mut raw) {
                Poll::Ready(Ok(())) => {
                    let filled = raw.filled();
                    if filled.is_empty() {
                        a.eof = true;
                        a.conv.finish(&mut a.out);
                    } else {
                        a.conv.convert(filled, &mut a.out);
                    }
                }
                other => break other,
            }
        };
        this.ascii = Some(a);
        r
    }
}
