//! Server replies: the typed code, the text, and the incremental decoder.
//!
//! A reply is one line `xyz text` or several lines opened by `xyz-text` and
//! closed by a line that starts with the same code and a space
//! (RFC 959 §4.2). The text is kept as bytes: servers send Latin-1, UTF-8
//! and anything else, and a file name inside a reply must survive unchanged.

mod code;
mod decoder;

pub use code::{ReplyClass, ReplyCode};
pub use decoder::{decode_reply, DecodeError, Decoded, DecoderLimits, ReplyDecoder};

use std::fmt;

use bytes::Bytes;

/// One complete reply.
#[derive(Clone, PartialEq, Eq)]
pub struct Reply {
    code: ReplyCode,
    lines: Vec<Bytes>,
}

impl Reply {
    /// Builds a reply from a code and its text lines (code prefixes already
    /// removed). Used by tests and by drivers that synthesize replies.
    pub fn new(code: ReplyCode, lines: Vec<Bytes>) -> Self {
        Self { code, lines }
    }

    /// The reply code.
    pub fn code(&self) -> ReplyCode {
        self.code
    }

    /// The text of every line, with the `xyz ` / `xyz-` prefixes removed
    /// where the server sent them. Never empty.
    pub fn lines(&self) -> &[Bytes] {
        &self.lines
    }

    /// The text of the first line.
    pub fn first_line(&self) -> &[u8] {
        self.lines.first().map_or(&[][..], |l| &l[..])
    }

    /// The whole text, lines joined by `\n`, decoded lossily as UTF-8.
    pub fn text(&self) -> String {
        let mut s = String::new();
        for (i, l) in self.lines.iter().enumerate() {
            if i > 0 {
                s.push('\n');
            }
            s.push_str(&String::from_utf8_lossy(l));
        }
        s
    }

    /// Whether this is a multi-line reply.
    pub fn is_multiline(&self) -> bool {
        self.lines.len() > 1
    }
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reply({} {:?})", self.code, self.text())
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}",
            self.code,
            String::from_utf8_lossy(self.first_line())
        )
    }
}
