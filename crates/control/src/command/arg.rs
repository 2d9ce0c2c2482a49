//! Command arguments kept as raw bytes.

use std::fmt;

/// One argument of a command: a path, a user name, a SITE string...
///
/// Arguments are bytes, not `String`, so that a file name that is not UTF-8
/// can be listed and then sent back to the server unchanged. Whether an
/// argument is acceptable (no CR, LF or NUL) is checked when the command is
/// encoded, before a single byte is produced.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Arg(Vec<u8>);

impl Arg {
    /// Wraps raw bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into())
    }

    /// The bytes that go on the wire.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Whether the argument is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The first forbidden byte (CR, LF or NUL) and its position, if any.
    pub fn forbidden_byte(&self) -> Option<(usize, u8)> {
        forbidden_byte(&self.0)
    }
}

/// Finds the first CR, LF or NUL in `bytes`.
fn forbidden_byte(bytes: &[u8]) -> Option<(usize, u8)> {
    bytes
        .iter()
        .position(|b| matches!(b, b'\r' | b'\n' | 0))
        .and_then(|i| bytes.get(i).map(|b| (i, *b)))
}

/// The first CR, LF or NUL in `bytes`, by name (`"CR"`, `"LF"`, `"NUL"`),
/// for messages that refuse text before it could become a command
/// argument (URLs, credentials, command lines typed by a user).
pub fn forbidden_byte_name(bytes: &[u8]) -> Option<&'static str> {
    forbidden_byte(bytes).map(|(_, b)| byte_name(b))
}

/// CR, LF or NUL by name.
pub(crate) fn byte_name(b: u8) -> &'static str {
    match b {
        b'\r' => "CR",
        b'\n' => "LF",
        0 => "NUL",
        _ => "control byte",
    }
}

impl fmt::Debug for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(&self.0))
    }
}

impl fmt::Display for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0))
    }
}

impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Self(v.as_bytes().to_vec())
    }
}

impl From<String> for Arg {
    fn from(v: String) -> Self {
        Self(v.into_bytes())
    }
}

impl From<&String> for Arg {
    fn from(v: &String) -> Self {
        Self(v.as_bytes().to_vec())
    }
}

impl From<Vec<u8>> for Arg {
    fn from(v: Vec<u8>) -> Self {
        Self(v)
    }
}

impl From<&[u8]> for Arg {
    fn from(v: &[u8]) -> Self {
        Self(v.to_vec())
    }
}

impl From<crate::listing::RawName> for Arg {
    fn from(v: crate::listing::RawName) -> Self {
        Self(v.as_bytes().to_vec())
    }
}

impl From<&crate::listing::RawName> for Arg {
    fn from(v: &crate::listing::RawName) -> Self {
        Self(v.as_bytes().to_vec())
    }
}
