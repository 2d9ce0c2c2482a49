//! [`Upload`]: an `AsyncWrite` whose shutdown completes the transfer.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use ftpkit_control::command::TransferType;
use ftpkit_control::Reply;
use ftpkit_data::DataStream;
use tokio::io::AsyncWrite;
use tokio::time::{Instant, Sleep};

use super::ascii::LfToCrlf;
use super::download::await_completion;
use super::TransferInfo;
use crate::client::Client;
use crate::error::{Error, Result};

type Finish<'a> = Pin<Box<dyn Future<Output = Result<Reply>> + Send + 'a>>;

enum State<'a> {
    Writing {
        client: &'a mut Client,
        data: DataStream,
    },
    Finishing(Finish<'a>),
    Done,
    Failed,
}

/// An upload in progress: write to it like any `AsyncWrite`, then call
/// `shutdown()` (`AsyncWriteExt::shutdown`). Shutdown closes the data
/// connection cleanly (TLS close_notify, then waiting for the server's end)
/// and reads the completion reply; a 4yz/5yz reply there is the error of
/// `shutdown()`.
///
/// [`finish`](Self::finish) does the same and returns what is known of
/// the transfer, completion reply included.
///
/// What reaches the server:
///
/// - `finish()` / `shutdown()`: every byte, then the end of the data
///   (TLS close_notify, then FIN), and the completion reply is read;
/// - [`abort`](Self::abort): the data connection is reset (no
///   close_notify, no FIN), then `ABOR`, and the replies it owes are read;
/// - dropped without either: the data connection is reset at once, a
///   `tracing` warning says so, and the client's next call sends `ABOR`
///   and drains its replies before doing anything else. A reset is not an
///   end of file: servers take it as a failed transfer, never as a
///   complete one (what they keep of the file differs: vsftpd and
///   ProFTPD keep the bytes received so far).
#[must_use = "an upload is complete only once finish() or shutdown() returns Ok"]
pub struct Upload<'a> {
    state: State<'a>,
    info: TransferInfo,
    idle: Pin<Box<Sleep>>,
    idle_timeout: Duration,
    /// The transfer's `debug` span, entered while polling.
    span: tracing::Span,
    close_timeout: Duration,
    ascii: Option<AsciiOut>,
    /// The name the server chose (STOU).
    unique_name: Option<Vec<u8>>,
}

struct AsciiOut {
    conv: LfToCrlf,
    out: Vec<u8>,
    pos: usize,
}

/// Closes the data connection, then reads the completion reply (unless the
/// server already sent it). If the close fails, the server's reply (which
/// usually says why) wins.
async fn finish(
    client: &mut Client,
    mut data: DataStream,
    close_timeout: Duration,
    completed: Option<Reply>,
) -> Result<Reply> {
    let closed = data.close(close_timeout).await;
    drop(data);
    let reply = match completed {
        Some(r) => Ok(r),
        None => await_completion(client, "upload").await,
    };
    match (closed, reply) {
        (_, Err(e)) => Err(e),
        (Err(e), Ok(_)) => Err(e.into()),
        (Ok(()), Ok(r)) => Ok(r),
    }
}

impl<'a> Upload<'a> {
    pub(crate) fn new(
        client: &'a mut Client,
        data: Option<DataStream>,
        info: TransferInfo,
        unique_name: Option<Vec<u8>>,
    ) -> Self {
        let t = client.config.timeouts;
        let span = client
            .transfer_span
            .take()
            .unwrap_or_else(tracing::Span::none);
        let ascii = (client.transfer_type() == Some(TransferType::Ascii)).then(|| AsciiOut {
            conv: LfToCrlf::default(),
            out: Vec::new(),
            pos: 0,
        });
        let state = match (data, &info.completion) {
            (Some(data), _) => State::Writing { client, data },
            (None, Some(_)) => State::Done,
            (None, None) => State::Finishing(Box::pin(await_completion(client, "upload"))),
        };
        Self {
            state,
            info,
            idle: Box::pin(tokio::time::sleep(t.data_idle)),
            idle_timeout: t.data_idle,
            span,
            close_timeout: t.reply,
            ascii,
            unique_name,
        }
    }

    /// What is known about the transfer so far.
    pub fn info(&self) -> &TransferInfo {
        &self.info
    }

    /// Bytes sent over the data connection so far.
    pub fn bytes(&self) -> u64 {
        self.info.bytes
    }

    /// Ends the upload: the end of the data, then the server's completion
    /// reply. A 4yz/5yz reply is the error. Returns what is known of the
    /// transfer, [`TransferInfo::completion`] included.
    pub async fn finish(mut self) -> Result<TransferInfo> {
        tokio::io::AsyncWriteExt::shutdown(&mut self)
            .await
            .map_err(Error::from_io_error)?;
        Ok(self.info.clone())
    }

    /// Cancels the upload and waits for the session to be usable again:
    /// the data connection is reset (so the server cannot mistake its end
    /// for the end of the file), then `ABOR` and its replies.
    pub async fn abort(mut self) -> Result<()> {
        match std::mem::replace(&mut self.state, State::Failed) {
            State::Writing { client, data } => {
                reset(data);
                client.ready().await
            }
            _ => Ok(()),
        }
    }

    /// For `STOU`: the name the server chose, when its reply gave one.
    pub fn unique_name(&self) -> Option<&[u8]> {
        self.unique_name.as_deref()
    }

    fn poll_raw_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let State::Writing { data, .. } = &mut self.state else {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the upload is finished or failed",
            )));
        };
        match Pin::new(data).poll_write(cx, buf) {
            Poll::Ready(Ok(n)) => {
                self.info.bytes += n as u64;
                self.idle.as_mut().reset(Instant::now() + self.idle_timeout);
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => {
                // The server probably refused the data; its reply says why.
                self.fail_with_reply(e);
                self.poll_finishing(cx).map(|r| r.map(|()| 0))
            }
            Poll::Pending => {
                if self.idle.as_mut().poll(cx).is_ready() {
                    self.state = State::Failed;
                    return Poll::Ready(Err(Error::timeout("data (upload idle)").into()));
                }
                Poll::Pending
            }
        }
    }

    /// After a write error: read the completion reply to report the
    /// server's reason, falling back to the I/O error.
    fn fail_with_reply(&mut self, e: io::Error) {
        let State::Writing { client, data } = std::mem::replace(&mut self.state, State::Failed)
        else {
            return;
        };
        drop(data);
        let io_err = Error::from_io("writing the data connection", e);
        self.state = State::Finishing(Box::pin(async move {
            match await_completion(client, "upload").await {
                Err(reply_err) => Err(reply_err),
                Ok(_) => Err(io_err),
            }
        }));
    }

    fn poll_finishing(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.state {
            State::Finishing(fut) => {
                let r = ready!(fut.as_mut().poll(cx));
                match r {
                    Ok(reply) => {
                        self.info.completion = Some(reply);
                        self.state = State::Done;
                        Poll::Ready(Ok(()))
                    }
                    Err(e) => {
                        self.state = State::Failed;
                        Poll::Ready(Err(e.into()))
                    }
                }
            }
            State::Done => Poll::Ready(Ok(())),
            _ => Poll::Ready(Err(io::Error::other("the upload already failed"))),
        }
    }

    /// Writes out converted TYPE A bytes still queued.
    fn poll_drain_ascii(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some(mut a) = self.ascii.take() else {
            return Poll::Ready(Ok(()));
        };
        let r = loop {
            if a.pos >= a.out.len() {
                a.out.clear();
                a.pos = 0;
                break Poll::Ready(Ok(()));
            }
            let pending = a.out.get(a.pos..).unwrap_or_default();
            match self.poll_raw_write(cx, pending) {
                Poll::Ready(Ok(n)) => a.pos += n,
                other => break other.map(|r| r.map(drop)),
            }
        };
        self.ascii = Some(a);
        r
    }
}

impl AsyncWrite for Upload<'_> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let span = this.span.clone();
        let _g = span.enter();
        if this.ascii.is_none() {
            return this.poll_raw_write(cx, buf);
        }
        ready!(this.poll_drain_ascii(cx))?;
        let take = buf.len().min(64 * 1024);
        if let Some(a) = this.ascii.as_mut() {
            a.conv
                .convert(buf.get(..take).unwrap_or_default(), &mut a.out);
        }
        // The bytes are accepted once converted; they go out on the next
        // write, flush or shutdown.
        Poll::Ready(Ok(take))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let span = this.span.clone();
        let _g = span.enter();
        ready!(this.poll_drain_ascii(cx))?;
        match &mut this.state {
            State::Writing { data, .. } => Pin::new(data).poll_flush(cx),
            _ => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let span = this.span.clone();
        let _g = span.enter();
        if matches!(this.state, State::Writing { .. }) {
            ready!(this.poll_drain_ascii(cx))?;
            if let State::Writing { client, data } =
                std::mem::replace(&mut this.state, State::Failed)
            {
                let close_timeout = this.close_timeout;
                let completed = this.info.completion.clone();
                this.state =
                    State::Finishing(Box::pin(finish(client, data, close_timeout, completed)));
            }
        }
        this.poll_finishing(cx)
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

impl Drop for Upload<'_> {
    fn drop(&mut self) {
        if let State::Writing { data, .. } = std::mem::replace(&mut self.state, State::Failed) {
            let _g = self.span.enter();
            tracing::warn!(
                bytes = self.info.bytes,
                "upload dropped before finish(): the data connection is reset and the transfer aborted"
            );
            reset(data);
        }
    }
}
