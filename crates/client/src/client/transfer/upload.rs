//! [`Upload`]: an `AsyncWrite` whose shutdown completes the transfer.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use ftpkit_control::Reply;
use ftpkit_data::DataStream;
use tokio::io::AsyncWrite;

use super::ascii::LfToCrlf;
use super::channel::{await_completion, reset, Channel, State};
use super::TransferInfo;
use crate::client::Client;
use crate::error::{Error, Result};

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
    ch: Channel<'a>,
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
    let reply = await_completion(client, "upload", completed).await;
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
        let close_timeout = client.config.timeouts.reply;
        let ch = Channel::new(client, data, info, "upload");
        let ascii = ch.ascii.then(|| AsciiOut {
            conv: LfToCrlf::default(),
            out: Vec::new(),
            pos: 0,
        });
        Self {
            ch,
            close_timeout,
            ascii,
            unique_name,
        }
    }

    /// What is known about the transfer so far.
    pub fn info(&self) -> &TransferInfo {
        &self.ch.info
    }

    /// Bytes sent over the data connection so far.
    pub fn bytes(&self) -> u64 {
        self.ch.info.bytes
    }

    /// Ends the upload: the end of the data, then the server's completion
    /// reply. A 4yz/5yz reply is the error. Returns what is known of the
    /// transfer, [`TransferInfo::completion`] included.
    pub async fn finish(mut self) -> Result<TransferInfo> {
        tokio::io::AsyncWriteExt::shutdown(&mut self)
            .await
            .map_err(Error::from_io_error)?;
        Ok(self.ch.info.clone())
    }

    /// Cancels the upload and waits for the session to be usable again:
    /// the data connection is reset (so the server cannot mistake its end
    /// for the end of the file), then `ABOR` and its replies.
    pub async fn abort(mut self) -> Result<()> {
        self.ch.abort().await
    }

    /// For `STOU`: the name the server chose, when its reply gave one.
    pub fn unique_name(&self) -> Option<&[u8]> {
        self.unique_name.as_deref()
    }

    fn poll_raw_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let State::Open { data, .. } = &mut self.ch.state else {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the upload is finished or failed",
            )));
        };
        match Pin::new(data).poll_write(cx, buf) {
            Poll::Ready(Ok(n)) => {
                self.ch.moved(n);
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => {
                // The server probably refused the data; its reply says why.
                self.fail_with_reply(e);
                self.ch.poll_finishing(cx).map(|r| r.map(|()| 0))
            }
            Poll::Pending => {
                let e = ready!(self.ch.poll_idle(cx, "data (upload idle)"));
                Poll::Ready(Err(e))
            }
        }
    }

    /// After a write error: read the completion reply to report the
    /// server's reason, falling back to the I/O error.
    fn fail_with_reply(&mut self, e: io::Error) {
        let Some((client, data)) = self.ch.take_open() else {
            return;
        };
        drop(data);
        let io_err = Error::from_io("writing the data connection", e);
        let known = self.ch.info.completion.take();
        self.ch.state = State::Finishing(Box::pin(async move {
            match await_completion(client, "upload", known).await {
                Err(reply_err) => Err(reply_err),
                Ok(_) => Err(io_err),
            }
        }));
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
        let span = this.ch.span.clone();
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
        let span = this.ch.span.clone();
        let _g = span.enter();
        ready!(this.poll_drain_ascii(cx))?;
        match &mut this.ch.state {
            State::Open { data, .. } => Pin::new(data).poll_flush(cx),
            _ => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let span = this.ch.span.clone();
        let _g = span.enter();
        if matches!(this.ch.state, State::Open { .. }) {
            ready!(this.poll_drain_ascii(cx))?;
            if let Some((client, data)) = this.ch.take_open() {
                let completed = this.ch.info.completion.clone();
                this.ch.state = State::Finishing(Box::pin(finish(
                    client,
                    data,
                    this.close_timeout,
                    completed,
                )));
            }
        }
        this.ch.poll_finishing(cx)
    }
}

impl Drop for Upload<'_> {
    fn drop(&mut self) {
        if let Some((_, data)) = self.ch.take_open() {
            let _g = self.ch.span.enter();
            tracing::warn!(
                bytes = self.ch.info.bytes,
                "upload dropped before finish(): the data connection is reset and the transfer aborted"
            );
            reset(data);
        }
    }
}
