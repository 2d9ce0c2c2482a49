//! `257` replies to PWD and MKD (RFC 959 Appendix II).

use super::ParseError;
use crate::reply::{Reply, ReplyCode};

/// Extracts the quoted path of a `257` reply: `257 "/a ""quoted"" dir" ...`.
///
/// Doubled quotes inside the path stand for one quote. The path is returned
/// as raw bytes (it need not be UTF-8). Control bytes are refused. A reply
/// with no quote at all, which a few old servers send (`257 /home is the
/// current directory`), yields its first word when that starts with `/`.
pub fn parse_pwd(reply: &Reply) -> Result<Vec<u8>, ParseError> {
    if reply.code() != ReplyCode::PATH_CREATED {
        return Err(ParseError::UnexpectedCode(reply.code().as_u16()));
    }
    let text = reply.first_line();
    let Some(open) = memchr::memchr(b'"', text) else {
        let word = text
            .trim_ascii_start()
            .split(|&b| b == b' ')
            .next()
            .unwrap_or_default();
        if word.starts_with(b"/") && !word.iter().any(u8::is_ascii_control) {
            return Ok(word.to_vec());
        }
        return Err(ParseError::Missing("quoted path"));
    };
    let mut out = Vec::new();
    let mut rest = text.get(open + 1..).unwrap_or_default().iter().peekable();
    while let Some(&b) = rest.next() {
        match b {
            b'"' if rest.peek() == Some(&&b'"') => {
                rest.next();
                out.push(b'"');
            }
            b'"' => return Ok(out),
            b if b < 0x20 || b == 0x7f => return Err(ParseError::ControlByte),
            b => out.push(b),
        }
    }
    Err(ParseError::Malformed("unterminated quoted path"))
}
