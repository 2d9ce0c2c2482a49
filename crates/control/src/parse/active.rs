//! `PORT` and `EPRT` arguments (the server side of active mode, and round
//! trips of what the encoder writes).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};

use super::passive::{parse_port_number, rfc2428_fields};
use super::ParseError;

/// Parses a `PORT` argument `h1,h2,h3,h4,p1,p2` (RFC 959 §4.1.2).
pub fn parse_port_argument(arg: &[u8]) -> Result<SocketAddrV4, ParseError> {
    let fields: Vec<&[u8]> = arg
        .trim_ascii()
        .split(|&b| b == b',')
        .map(<[u8]>::trim_ascii)
        .collect();
    let mut nums = [0u8; 6];
    if fields.len() != nums.len() {
        return Err(ParseError::Malformed("PORT argument"));
    }
    for (slot, f) in nums.iter_mut().zip(&fields) {
        if f.is_empty() || f.len() > 3 || !f.iter().all(u8::is_ascii_digit) {
            return Err(ParseError::Malformed("PORT argument"));
        }
        let n = f.iter().fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'));
        *slot = u8::try_from(n).map_err(|_| ParseError::OutOfRange("PORT number"))?;
    }
    let [a, b, c, d, p1, p2] = nums;
    let port = u16::from_be_bytes([p1, p2]);
    if port == 0 {
        return Err(ParseError::OutOfRange("PORT port"));
    }
    Ok(SocketAddrV4::new(Ipv4Addr::new(a, b, c, d), port))
}

/// Parses an `EPRT` argument `<d>af<d>addr<d>port<d>` (RFC 2428 §2), where
/// `af` is 1 (IPv4) or 2 (IPv6).
pub fn parse_eprt_argument(arg: &[u8]) -> Result<SocketAddr, ParseError> {
    let arg = arg.trim_ascii();
    let &delim = arg.first().ok_or(ParseError::Missing("EPRT argument"))?;
    if !(33..=126).contains(&delim) || delim.is_ascii_alphanumeric() {
        return Err(ParseError::Malformed("EPRT delimiter"));
    }
    let [af, addr, port] =
        rfc2428_fields(arg, delim).ok_or(ParseError::Malformed("EPRT fields"))?;
    let addr = std::str::from_utf8(addr).map_err(|_| ParseError::Malformed("EPRT address"))?;
    let ip: IpAddr = match af {
        b"1" => addr
            .parse::<Ipv4Addr>()
            .map_err(|_| ParseError::Malformed("EPRT IPv4 address"))?
            .into(),
        b"2" => addr
            .parse::<Ipv6Addr>()
            .map_err(|_| ParseError::Malformed("EPRT IPv6 address"))?
            .into(),
        _ => return Err(ParseError::Malformed("EPRT address family")),
    };
    Ok(SocketAddr::new(ip, parse_port_number(port)?))
}
