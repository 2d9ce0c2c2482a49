//! `227` (PASV) and `229` (EPSV) replies.

use std::net::{Ipv4Addr, SocketAddrV4};

use super::ParseError;
use crate::reply::{Reply, ReplyCode};

/// Parses a `227` reply into the address it advertises.
///
/// The six numbers `h1,h2,h3,h4,p1,p2` may stand anywhere in the text, with
/// or without parentheses and with spaces around the commas, as servers
/// write them in many ways. Every number must be 0-255; the port must not
/// be 0.
///
/// The address is returned for information: ftpkit connects to the control
/// connection's peer, not to this address, unless the user opts in.
///
/// ```
/// # use ftpkit_control::{parse::parse_pasv, reply::{decode_reply, Decoded, DecoderLimits}};
/// let Decoded::Complete { reply, .. } = decode_reply(
///     b"227 Entering Passive Mode (127,0,0,1,195,80).\r\n", DecoderLimits::default())
/// else { unreachable!() };
/// assert_eq!(parse_pasv(&reply).unwrap().to_string(), "127.0.0.1:50000");
/// ```
pub fn parse_pasv(reply: &Reply) -> Result<SocketAddrV4, ParseError> {
    if reply.code() != ReplyCode::PASSIVE_MODE {
        return Err(ParseError::UnexpectedCode(reply.code().as_u16()));
    }
    parse_pasv_text(reply.first_line())
}

/// Finds `h1,h2,h3,h4,p1,p2` in text.
pub(crate) fn parse_pasv_text(text: &[u8]) -> Result<SocketAddrV4, ParseError> {
    let mut i = 0;
    while i < text.len() {
        let at_start = text.get(i).is_some_and(u8::is_ascii_digit)
            && (i == 0 || !text.get(i - 1).is_some_and(u8::is_ascii_digit));
        if at_start {
            if let Some(nums) = six_numbers(text.get(i..).unwrap_or_default()) {
                if nums.iter().any(|&n| n > 255) {
                    return Err(ParseError::OutOfRange("PASV number"));
                }
                let b = nums.map(|n| n as u8);
                let port = u16::from_be_bytes([b[4], b[5]]);
                if port == 0 {
                    return Err(ParseError::OutOfRange("PASV port"));
                }
                return Ok(SocketAddrV4::new(
                    Ipv4Addr::new(b[0], b[1], b[2], b[3]),
                    port,
                ));
            }
        }
        i += 1;
    }
    Err(ParseError::Missing("six comma-separated numbers"))
}

/// Reads six comma-separated numbers (spaces allowed around commas) at the
/// start of `s`. Numbers are limited to three digits while scanning; range
/// is checked by the caller.
fn six_numbers(s: &[u8]) -> Option<[u32; 6]> {
    let mut out = [0u32; 6];
    let mut pos = 0;
    for (k, slot) in out.iter_mut().enumerate() {
        if k > 0 {
            while s.get(pos) == Some(&b' ') {
                pos += 1;
            }
            if s.get(pos) != Some(&b',') {
                return None;
            }
            pos += 1;
            while s.get(pos) == Some(&b' ') {
                pos += 1;
            }
        }
        let start = pos;
        while s.get(pos).is_some_and(u8::is_ascii_digit) {
            pos += 1;
        }
        let digits = s.get(start..pos)?;
        if digits.is_empty() || digits.len() > 3 {
            return None;
        }
        *slot = digits
            .iter()
            .fold(0, |acc, d| acc * 10 + u32::from(d - b'0'));
    }
    // A seventh number would mean this was not a PASV tuple.
    if s.get(pos) == Some(&b',') && s.get(pos + 1).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    Some(out)
}

/// Parses a `229` reply (`Entering Extended Passive Mode (|||port|)`) into
/// the port.
///
/// The delimiter is whatever printable character follows `(`, used four
/// times as RFC 2428 §3 allows. The network-protocol and address fields are
/// tolerated but ignored: the data connection goes to the control peer.
pub fn parse_epsv(reply: &Reply) -> Result<u16, ParseError> {
    if reply.code() != ReplyCode::EXTENDED_PASSIVE_MODE {
        return Err(ParseError::UnexpectedCode(reply.code().as_u16()));
    }
    parse_epsv_text(reply.first_line())
}

pub(crate) fn parse_epsv_text(text: &[u8]) -> Result<u16, ParseError> {
    let open = memchr::memchr(b'(', text).ok_or(ParseError::Missing("'(' in 229 reply"))?;
    let inner = text.get(open + 1..).unwrap_or_default();
    let close = memchr::memchr(b')', inner).ok_or(ParseError::Missing("')' in 229 reply"))?;
    let inner = inner.get(..close).unwrap_or_default();
    let &delim = inner.first().ok_or(ParseError::Malformed("229 reply"))?;
    if !(33..=126).contains(&delim) || delim.is_ascii_digit() {
        return Err(ParseError::Malformed("229 delimiter"));
    }
    let [_proto, _addr, port] =
        rfc2428_fields(inner, delim).ok_or(ParseError::Malformed("229 reply fields"))?;
    parse_port_number(port)
}

/// The three fields of an RFC 2428 `<d>proto<d>address<d>port<d>` text
/// whose delimiter is `delim`, or `None` if it is not of that form.
pub(crate) fn rfc2428_fields(text: &[u8], delim: u8) -> Option<[&[u8]; 3]> {
    let fields: Vec<&[u8]> = text.split(|&b| b == delim).collect();
    // "|||port|" splits into ["", "", "", "port", ""].
    match fields.as_slice() {
        [empty, proto, addr, port, tail] if empty.is_empty() && tail.is_empty() => {
            Some([proto, addr, port])
        }
        _ => None,
    }
}

/// Parses a decimal TCP port, 1-65535.
pub(crate) fn parse_port_number(s: &[u8]) -> Result<u16, ParseError> {
    if s.is_empty() || s.len() > 5 || !s.iter().all(u8::is_ascii_digit) {
        return Err(ParseError::Malformed("port"));
    }
    let n = s.iter().fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'));
    match u16::try_from(n) {
        Ok(p) if p != 0 => Ok(p),
        _ => Err(ParseError::OutOfRange("port")),
    }
}
