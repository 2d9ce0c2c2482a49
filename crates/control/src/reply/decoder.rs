//! Incremental, bounded reply decoding.
//!
//! Decoding has three outcomes: a complete reply (with the bytes that follow
//! it), "need more bytes", or a failure. Failures are final: a decoder that
//! failed keeps failing, since the stream can no longer be trusted.
//!
//! Limits: a line longer than [`DecoderLimits::max_line_len`] or a reply of
//! more than [`DecoderLimits::max_lines`] lines fails instead of growing
//! memory, and so does a NUL byte anywhere in a reply.

use bytes::{Bytes, BytesMut};

use super::{Reply, ReplyCode};

/// Bounds applied while decoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecoderLimits {
    /// Longest line accepted, without its line ending. Default 8 KiB.
    pub max_line_len: usize,
    /// Most lines in one reply. Default 2,048.
    pub max_lines: usize,
}

impl Default for DecoderLimits {
    fn default() -> Self {
        Self {
            max_line_len: 8 * 1024,
            max_lines: 2048,
        }
    }
}

/// Why a reply could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// A line was longer than the limit.
    #[error("reply line longer than {limit} bytes")]
    LineTooLong {
        /// The limit in force.
        limit: usize,
    },
    /// A reply had more lines than the limit.
    #[error("reply has more than {limit} lines")]
    TooManyLines {
        /// The limit in force.
        limit: usize,
    },
    /// A NUL byte appeared in a reply.
    #[error("NUL byte in reply")]
    NulByte,
    /// A reply did not start with a valid three-digit code followed by a
    /// space, a hyphen or the end of the line.
    #[error("malformed reply line: {0}")]
    Malformed(String),
}

/// The result of [`decode_reply`].
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// A whole reply, and the input that follows it.
    Complete {
        /// The reply.
        reply: Reply,
        /// The unconsumed rest of the input.
        rest: &'a [u8],
    },
    /// The input ends inside a reply; call again with more bytes.
    Incomplete,
    /// The input is not a valid reply.
    Failed(DecodeError),
}

/// Decodes one reply from the start of `input`, without keeping state.
///
/// ```
/// use ftpkit_control::reply::{decode_reply, Decoded, DecoderLimits};
/// let input = b"211-Features:\r\n MDTM\r\n211 End\r\n230 more";
/// match decode_reply(input, DecoderLimits::default()) {
///     Decoded::Complete { reply, rest } => {
///         assert_eq!(reply.code().as_u16(), 211);
///         assert_eq!(reply.lines().len(), 3);
///         assert_eq!(rest, b"230 more");
///     }
///     other => panic!("{other:?}"),
/// }
/// ```
pub fn decode_reply(input: &[u8], limits: DecoderLimits) -> Decoded<'_> {
    let mut asm = Assembler::default();
    let mut pos = 0;
    loop {
        let rest = input.get(pos..).unwrap_or_default();
        match next_line(rest, limits) {
            Err(e) => return Decoded::Failed(e),
            Ok(None) => return Decoded::Incomplete,
            Ok(Some((line, used))) => {
                pos += used;
                match asm.feed(Bytes::copy_from_slice(line), limits) {
                    Err(e) => return Decoded::Failed(e),
                    Ok(Some(reply)) => {
                        return Decoded::Complete {
                            reply,
                            rest: input.get(pos..).unwrap_or_default(),
                        }
                    }
                    Ok(None) => {}
                }
            }
        }
    }
}

/// Finds the next complete line: its content (line ending removed) and how
/// many bytes it used including the ending.
fn next_line(buf: &[u8], limits: DecoderLimits) -> Result<Option<(&[u8], usize)>, DecodeError> {
    let Some(nl) = memchr::memchr(b'\n', buf) else {
        // Not even a whole line yet: refuse to wait for an endless one.
        // (+1 leaves room for a CR that belongs to the ending.)
        return if buf.len() > limits.max_line_len + 1 {
            Err(DecodeError::LineTooLong {
                limit: limits.max_line_len,
            })
        } else {
            Ok(None)
        };
    };
    let mut line = buf.get(..nl).unwrap_or_default();
    if let Some(stripped) = line.strip_suffix(b"\r") {
        line = stripped;
    }
    if line.len() > limits.max_line_len {
        return Err(DecodeError::LineTooLong {
            limit: limits.max_line_len,
        });
    }
    if memchr::memchr(0, line).is_some() {
        return Err(DecodeError::NulByte);
    }
    Ok(Some((line, nl + 1)))
}

/// Collects the lines of one reply.
#[derive(Debug, Default)]
struct Assembler {
    /// The code and lines of a multi-line reply under way.
    open: Option<(ReplyCode, Vec<Bytes>)>,
}

impl Assembler {
    fn feed(&mut self, line: Bytes, limits: DecoderLimits) -> Result<Option<Reply>, DecodeError> {
        match self.open.take() {
            None => {
                let (code, sep) = parse_code(&line)?;
                let text = line.slice(line.len().min(4)..);
                match sep {
                    Some(b'-') => {
                        if limits.max_lines < 2 {
                            return Err(DecodeError::TooManyLines {
                                limit: limits.max_lines,
                            });
                        }
                        self.open = Some((code, vec![text]));
                        Ok(None)
                    }
                    _ => Ok(Some(Reply::new(code, vec![text]))),
                }
            }
            Some((code, mut lines)) => {
                if lines.len() >= limits.max_lines {
                    return Err(DecodeError::TooManyLines {
                        limit: limits.max_lines,
                    });
                }
                let digits = code.as_u16().to_string();
                let prefixed = line.starts_with(digits.as_bytes());
                match (prefixed, line.get(3)) {
                    // `xyz text` or a bare `xyz` closes the reply.
                    (true, None | Some(b' ')) => {
                        lines.push(line.slice(line.len().min(4)..));
                        Ok(Some(Reply::new(code, lines)))
                    }
                    // Some servers prefix every continuation line with `xyz-`.
                    (true, Some(b'-')) => {
                        lines.push(line.slice(4..));
                        self.open = Some((code, lines));
                        Ok(None)
                    }
                    _ => {
                        lines.push(line);
                        self.open = Some((code, lines));
                        Ok(None)
                    }
                }
            }
        }
    }
}

/// Parses the `xyz` and the byte after it on a reply's first line.
fn parse_code(line: &[u8]) -> Result<(ReplyCode, Option<u8>), DecodeError> {
    let malformed = || {
        let shown: String =
            String::from_utf8_lossy(line.get(..line.len().min(32)).unwrap_or_default())
                .into_owned();
        DecodeError::Malformed(shown)
    };
    let (Some(&a), Some(&b), Some(&c)) = (line.first(), line.get(1), line.get(2)) else {
        return Err(malformed());
    };
    let code = ReplyCode::from_digits([a, b, c]).ok_or_else(malformed)?;
    match line.get(3) {
        None => Ok((code, None)),
        Some(&sep @ (b' ' | b'-')) => Ok((code, Some(sep))),
        Some(_) => Err(malformed()),
    }
}

/// A stateful decoder: push bytes as they arrive, take replies out.
///
/// Work is linear in the input: lines already assembled into a reply under
/// way are not scanned again.
#[derive(Debug, Default)]
pub struct ReplyDecoder {
    buf: BytesMut,
    limits: DecoderLimits,
    asm: Assembler,
    failed: Option<DecodeError>,
}

impl ReplyDecoder {
    /// A decoder with the given limits.
    pub fn new(limits: DecoderLimits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> DecoderLimits {
        self.limits
    }

    /// Appends received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Takes the next complete reply: `Ok(Some)` complete, `Ok(None)` need
    /// more bytes, `Err` failed (and every later call fails the same way).
    pub fn decode(&mut self) -> Result<Option<Reply>, DecodeError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let r = self.decode_inner();
        if let Err(e) = &r {
            self.failed = Some(e.clone());
            self.buf.clear();
        }
        r
    }

    fn decode_inner(&mut self) -> Result<Option<Reply>, DecodeError> {
        loop {
            let used = match next_line(&self.buf, self.limits)? {
                None => return Ok(None),
                Some((line, used)) => (line.len(), used),
            };
            let (len, used) = used;
            let mut chunk = self.buf.split_to(used).freeze();
            chunk.truncate(len);
            if let Some(reply) = self.asm.feed(chunk, self.limits)? {
                return Ok(Some(reply));
            }
        }
    }

    /// Bytes received that belong to no reply yet, including the lines of a
    /// multi-line reply under way. Used to detect bytes sent after a `234`
    /// reply, before the TLS handshake.
    pub fn has_pending_input(&self) -> bool {
        !self.buf.is_empty() || self.asm.open.is_some()
    }

    /// Discards everything buffered (after a TLS switch nothing from the
    /// plaintext phase may be interpreted).
    pub fn reset(&mut self) {
        self.buf.clear();
        self.asm = Assembler::default();
    }
}
