//! Watching the bytes a stream reads, for the wrappers that count them
//! ([`Metered`](crate::ops::Metered)) or keep them
//! ([`Sniffed`](crate::sniff::Sniffed)).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

/// Polls `inner` to read into `buf`, then shows `seen` the bytes that read
/// added (possibly none: end of stream).
pub(crate) fn poll_read_observed<R: AsyncRead + Unpin>(
    inner: &mut R,
    cx: &mut Context<'_>,
    buf: &mut ReadBuf<'_>,
    seen: impl FnOnce(&[u8]),
) -> Poll<io::Result<()>> {
    let before = buf.filled().len();
    let r = Pin::new(inner).poll_read(cx, buf);
    if let Poll::Ready(Ok(())) = r {
        seen(buf.filled().get(before..).unwrap_or_default());
    }
    r
}
