//! `213` replies to SIZE and MDTM (RFC 3659 §3, §4).

use super::ParseError;
use crate::listing::{parse_mdtm_time, Modified};
use crate::reply::{Reply, ReplyCode};

/// Parses the size in a `213` reply to `SIZE` (RFC 3659 §4).
pub fn parse_size(reply: &Reply) -> Result<u64, ParseError> {
    if reply.code() != ReplyCode::FILE_STATUS {
        return Err(ParseError::UnexpectedCode(reply.code().as_u16()));
    }
    let t = reply.first_line().trim_ascii();
    if t.is_empty() || t.len() > 20 || !t.iter().all(u8::is_ascii_digit) {
        return Err(ParseError::Malformed("SIZE reply"));
    }
    t.iter()
        .try_fold(0u64, |acc, d| {
            acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        })
        .ok_or(ParseError::OutOfRange("size"))
}

/// Parses the time in a `213` reply to `MDTM`: `YYYYMMDDHHMMSS[.fff]`, UTC
/// (RFC 3659 §2.3, §3), fractional seconds included.
pub fn parse_mdtm(reply: &Reply) -> Result<Modified, ParseError> {
    if reply.code() != ReplyCode::FILE_STATUS {
        return Err(ParseError::UnexpectedCode(reply.code().as_u16()));
    }
    parse_mdtm_time(reply.first_line().trim_ascii()).ok_or(ParseError::Malformed("MDTM time"))
}
