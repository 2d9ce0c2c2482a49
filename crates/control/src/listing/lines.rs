//! Incremental, bounded line splitting of a listing data stream.

use bytes::{Bytes, BytesMut};

use super::ListingError;

/// Default [`LineSplitter`] line limit: 8 KiB.
const DEFAULT_MAX_LINE_LEN: usize = 8 * 1024;
/// Default [`LineSplitter`] listing limit: 64 MiB.
const DEFAULT_MAX_TOTAL: u64 = 64 * 1024 * 1024;

/// Splits the bytes of a `LIST`/`NLST`/`MLSD` data connection into lines.
///
/// Feed chunks as they arrive with [`push`](Self::push), drain complete lines
/// with [`next_line`](Self::next_line), and at end of stream drain the rest
/// (including a final line without terminator) with
/// [`finish`](Self::finish). Lines end with CRLF or a bare LF; the terminator
/// is not part of the returned line. A CR not followed by LF is data.
///
/// Memory is bounded: a line longer than `max_line_len` bytes (terminator
/// excluded) fails with [`ListingError::LineTooLong`], and more than
/// `max_total` bytes pushed in all fails with
/// [`ListingError::ListingTooLarge`]. The splitter never holds more than the
/// lines pushed but not yet drained plus one partial line. After an error
/// every further call returns that error.
///
/// ```
/// use ftpkit_control::listing::LineSplitter;
///
/// let mut s = LineSplitter::new();
/// s.push(b"one\r\ntw").unwrap();
/// assert_eq!(s.next_line().unwrap().as_deref(), Some(&b"one"[..]));
/// assert_eq!(s.next_line().unwrap(), None);
/// s.push(b"o\nthree").unwrap();
/// assert_eq!(s.next_line().unwrap().as_deref(), Some(&b"two"[..]));
/// assert_eq!(s.next_line().unwrap(), None);
/// assert_eq!(s.finish().unwrap().as_deref(), Some(&b"three"[..]));
/// assert_eq!(s.finish().unwrap(), None);
/// ```
#[derive(Debug)]
pub struct LineSplitter {
    buf: BytesMut,
    /// Bytes at the start of `buf` already known to contain no LF.
    scanned: usize,
    /// Length of the unterminated data at the end of `buf` (after its last LF).
    tail_len: usize,
    total: u64,
    max_line_len: usize,
    max_total: u64,
    error: Option<ListingError>,
}

impl Default for LineSplitter {
    fn default() -> Self {
        Self::new()
    }
}

impl LineSplitter {
    /// A splitter with the default limits: 8 KiB per line, 64 MiB in all.
    pub fn new() -> Self {
        Self::with_limits(DEFAULT_MAX_LINE_LEN, DEFAULT_MAX_TOTAL)
    }

    /// A splitter with the given limits (line length without terminator,
    /// and total bytes pushed).
    pub fn with_limits(max_line_len: usize, max_total: u64) -> Self {
        Self {
            buf: BytesMut::new(),
            scanned: 0,
            tail_len: 0,
            total: 0,
            max_line_len,
            max_total,
            error: None,
        }
    }

    /// The line length limit.
    pub fn max_line_len(&self) -> usize {
        self.max_line_len
    }

    /// The total size limit.
    pub fn max_total(&self) -> u64 {
        self.max_total
    }

    /// Bytes pushed so far.
    pub fn total_bytes(&self) -> u64 {
        self.total
    }

    /// Bytes buffered and not yet returned.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Appends a chunk of the data stream.
    ///
    /// # Errors
    ///
    /// [`ListingError::ListingTooLarge`] if the total would exceed
    /// `max_total` (the chunk is then not buffered), and
    /// [`ListingError::LineTooLong`] if the unterminated last line already
    /// exceeds `max_line_len`.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), ListingError> {
        self.check()?;
        if chunk.is_empty() {
            return Ok(());
        }
        let len = u64::try_from(chunk.len()).unwrap_or(u64::MAX);
        let total = self.total.saturating_add(len);
        if total > self.max_total {
            return self.fail(ListingError::ListingTooLarge {
                max: self.max_total,
            });
        }
        self.total = total;
        self.tail_len = match memchr::memrchr(b'\n', chunk) {
            Some(lf) => chunk.len() - lf - 1,
            None => self.tail_len.saturating_add(chunk.len()),
        };
        // A trailing CR may be the first half of a CRLF.
        let tail_content = if chunk.last() == Some(&b'\r') {
            self.tail_len - 1
        } else {
            self.tail_len
        };
        if tail_content > self.max_line_len {
            return self.fail(ListingError::LineTooLong {
                max: self.max_line_len,
            });
        }
        self.buf.extend_from_slice(chunk);
        Ok(())
    }

    /// The next complete line, or `None` if no complete line is buffered.
    ///
    /// # Errors
    ///
    /// [`ListingError::LineTooLong`] for a line over `max_line_len`, or the
    /// error an earlier call failed with.
    pub fn next_line(&mut self) -> Result<Option<Bytes>, ListingError> {
        self.check()?;
        let unscanned = self.buf.get(self.scanned..).unwrap_or_default();
        let Some(lf) = memchr::memchr(b'\n', unscanned) else {
            self.scanned = self.buf.len();
            return Ok(None);
        };
        let end = self.scanned + lf;
        self.scanned = 0;
        let mut line = self.buf.split_to(end + 1).freeze();
        line.truncate(end);
        self.deliver(line)
    }

    /// Signals end of stream and returns the next remaining line: complete
    /// lines first, then the final unterminated one (a trailing CR is
    /// dropped with it). Call until it returns `None`.
    ///
    /// # Errors
    ///
    /// As [`next_line`](Self::next_line).
    pub fn finish(&mut self) -> Result<Option<Bytes>, ListingError> {
        if let Some(line) = self.next_line()? {
            return Ok(Some(line));
        }
        if self.buf.is_empty() {
            return Ok(None);
        }
        let line = self.buf.split().freeze();
        self.scanned = 0;
        self.tail_len = 0;
        self.deliver(line)
    }

    /// Hands out `line` (its LF already gone) without a final CR, or fails
    /// for good if it is longer than `max_line_len`.
    fn deliver(&mut self, mut line: Bytes) -> Result<Option<Bytes>, ListingError> {
        if line.last() == Some(&b'\r') {
            line.truncate(line.len() - 1);
        }
        if line.len() > self.max_line_len {
            return self
                .fail(ListingError::LineTooLong {
                    max: self.max_line_len,
                })
                .map(|()| None);
        }
        Ok(Some(line))
    }

    fn check(&self) -> Result<(), ListingError> {
        match &self.error {
            Some(err) => Err(err.clone()),
            None => Ok(()),
        }
    }

    fn fail(&mut self, err: ListingError) -> Result<(), ListingError> {
        self.buf = BytesMut::new();
        self.scanned = 0;
        self.tail_len = 0;
        self.error = Some(err.clone());
        Err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scanned_offset_survives_partial_pushes() {
        let mut s = LineSplitter::new();
        for b in b"abc" {
            s.push(&[*b]).unwrap();
            assert_eq!(s.next_line().unwrap(), None);
        }
        s.push(b"\r").unwrap();
        assert_eq!(s.next_line().unwrap(), None);
        s.push(b"\nx\n").unwrap();
        assert_eq!(s.next_line().unwrap().as_deref(), Some(&b"abc"[..]));
        assert_eq!(s.next_line().unwrap().as_deref(), Some(&b"x"[..]));
        assert_eq!(s.next_line().unwrap(), None);
        assert_eq!(s.buffered(), 0);
    }
}
