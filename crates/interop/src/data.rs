//! Deterministic test data and hashing, fast enough for 1 GiB transfers.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// `len` pseudo-random bytes from `seed` (xorshift64*), hashed as they are
/// produced.
pub struct Pattern {
    state: u64,
    left: u64,
    hash: ring::digest::Context,
}

impl Pattern {
    /// A stream of `len` bytes.
    pub fn new(seed: u64, len: u64) -> Self {
        Self {
            state: seed | 1,
            left: len,
            hash: ring::digest::Context::new(&ring::digest::SHA256),
        }
    }

    /// The SHA-256 of what was produced so far.
    pub fn sha256(self) -> Vec<u8> {
        self.hash.finish().as_ref().to_vec()
    }

    fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            self.state ^= self.state >> 12;
            self.state ^= self.state << 25;
            self.state ^= self.state >> 27;
            let v = self.state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }

    /// All the bytes at once (for small sizes).
    pub fn bytes(seed: u64, len: usize) -> Vec<u8> {
        let mut p = Self::new(seed, len as u64);
        let mut v = vec![0u8; len];
        p.fill(&mut v);
        v
    }
}

impl AsyncRead for Pattern {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = (buf.remaining() as u64).min(self.left) as usize;
        let this = &mut *self;
        let out = buf.initialize_unfilled_to(n);
        this.fill(out);
        this.hash.update(out);
        buf.advance(n);
        this.left -= n as u64;
        Poll::Ready(Ok(()))
    }
}

/// A writer that only hashes and counts.
pub struct HashSink {
    hash: ring::digest::Context,
    /// Bytes written.
    pub len: u64,
}

impl Default for HashSink {
    fn default() -> Self {
        Self {
            hash: ring::digest::Context::new(&ring::digest::SHA256),
            len: 0,
        }
    }
}

impl HashSink {
    /// The SHA-256 of everything written.
    pub fn sha256(self) -> Vec<u8> {
        self.hash.finish().as_ref().to_vec()
    }
}

impl AsyncWrite for HashSink {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.hash.update(buf);
        self.len += buf.len() as u64;
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// SHA-256 of bytes.
pub fn sha256(data: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, data)
        .as_ref()
        .to_vec()
}

/// Hex of bytes.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
