//! [`Download`]: an `AsyncRead` that finishes itself.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use ftpkit_data::DataStream;
use tokio::io::{AsyncRead, ReadBuf};

use super::ascii::CrlfToLf;
use super::channel::{await_completion, Channel, State};
use super::TransferInfo;
use crate::client::Client;
use crate::error::{Error, ErrorKind, Result};

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
    ch: Channel<'a>,
    ascii: Option<AsciiIn>,
}

struct AsciiIn {
    conv: CrlfToLf,
    raw: Vec<u8>,
    out: Vec<u8>,
    pos: usize,
    eof: bool,
}

impl<'a> Download<'a> {
    pub(crate) fn new(
        client: &'a mut Client,
        data: Option<DataStream>,
        info: TransferInfo,
    ) -> Self {
        let ch = Channel::new(client, data, info, "transfer");
        let ascii = ch.ascii.then(|| AsciiIn {
            conv: CrlfToLf::default(),
            raw: vec![0u8; 64 * 1024],
            out: Vec::with_capacity(64 * 1024 + 1),
            pos: 0,
            eof: false,
        });
        Self { ch, ascii }
    }

    /// What is known about the transfer so far.
    pub fn info(&self) -> &TransferInfo {
        &self.ch.info
    }

    /// Bytes received over the data connection so far.
    pub fn bytes(&self) -> u64 {
        self.ch.info.bytes
    }

    /// Cancels the download and waits for the session to be usable again:
    /// the data connection is closed, then `ABOR` and the replies it owes
    /// are read. After the end of the data, only the completion is awaited.
    pub async fn abort(mut self) -> Result<()> {
        self.ch.abort().await
    }

    /// At the end of the data: a byte count that differs from the size
    /// the server announced is an error, whatever the completion reply
    /// said. TYPE A transfers are not checked (line ends change the count).
    fn check_length(&mut self) -> io::Result<()> {
        if self.ch.ascii {
            return Ok(());
        }
        self.ch.info.check_announced().map_err(|e| {
            self.ch.state = State::Failed;
            e.into()
        })
    }

    /// Reads raw bytes from the data connection, finishing at EOF.
    fn poll_raw(&mut self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let State::Open { data, .. } = &mut self.ch.state else {
            ready!(self.ch.poll_finishing(cx))?;
            self.check_length()?;
            return Poll::Ready(Ok(()));
        };
        let before = buf.filled().len();
        match Pin::new(&mut *data).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let n = buf.filled().len() - before;
                if n > 0 {
                    self.ch.moved(n);
                    return Poll::Ready(Ok(()));
                }
                // End of data: read the completion reply, unless the server
                // sent it before the data ended (no mark, or a fast server).
                if let Some((client, data)) = self.ch.take_open() {
                    drop(data);
                    let known = self.ch.info.completion.take();
                    self.ch.state =
                        State::Finishing(Box::pin(await_completion(client, "download", known)));
                }
                self.poll_raw(cx, buf)
            }
            Poll::Ready(Err(e)) => {
                let tls = data.is_tls();
                self.ch.state = State::Failed;
                let err = if tls && e.kind() == io::ErrorKind::UnexpectedEof {
                    Error::new(
                        ErrorKind::Truncated,
                        "the data connection ended without TLS close_notify: the download may be truncated",
                    )
                    .with_source(e)
                } else {
                    Error::from_io("reading the data connection", e)
                };
                Poll::Ready(Err(err.into()))
            }
            Poll::Pending => {
                let e = ready!(self.ch.poll_idle(cx, "data (download idle)"));
                Poll::Ready(Err(e))
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
        let span = this.ch.span.clone();
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
