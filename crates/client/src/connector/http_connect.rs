//! HTTP `CONNECT` tunnels (RFC 9110 §9.3.6) with optional `Basic` proxy
//! authentication (RFC 7617).

use std::io;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::{authority, read_exact_or_proxy_error, ProxyConnector, ProxyError};

/// Longest response header accepted from the proxy.
const MAX_HEADER: usize = 16 * 1024;

/// Opens a tunnel to `host:port` through `proxy`.
pub(super) async fn connect(
    proxy: &ProxyConnector,
    host: &str,
    port: u16,
) -> io::Result<TcpStream> {
    let target = authority(host, port);
    if target
        .bytes()
        .any(|b| b.is_ascii_control() || b == b' ' || b == b'/' || b == b'@')
    {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the target host is not a valid host name",
        ));
    }
    let mut request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some(c) = &proxy.credentials {
        let token = base64(format!("{}:{}", c.username(), c.password()).as_bytes());
        request.push_str(&format!("Proxy-Authorization: Basic {token}\r\n"));
    }
    request.push_str("\r\n");

    let mut s = proxy.open().await?;
    s.write_all(request.as_bytes()).await?;

    // Read the header a byte at a time: what follows it is the FTP
    // server's greeting, which must stay in the socket.
    let mut header = Vec::with_capacity(256);
    while !header.ends_with(b"\r\n\r\n") && !header.ends_with(b"\n\n") {
        if header.len() >= MAX_HEADER {
            return Err(ProxyError::Protocol("response header too long".into()).into());
        }
        let mut b = [0u8; 1];
        read_exact_or_proxy_error(&mut s, &mut b, "the CONNECT response").await?;
        header.push(b[0]);
    }
    let status_line = header
        .split(|&b| b == b'\n')
        .next()
        .map(|l| String::from_utf8_lossy(l).trim_end().to_owned())
        .unwrap_or_default();
    let status = parse_status(&status_line)
        .ok_or_else(|| ProxyError::Protocol(format!("bad status line {status_line:?}")))?;
    match status {
        200..=299 => Ok(s),
        407 if proxy.credentials.is_some() => Err(ProxyError::AuthFailed(status_line).into()),
        407 => Err(ProxyError::AuthRequired(status_line).into()),
        _ => Err(ProxyError::Refused {
            target,
            reason: status_line,
        }
        .into()),
    }
}

/// The status code of `HTTP/1.x NNN reason`.
fn parse_status(line: &str) -> Option<u16> {
    let rest = line
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| line.strip_prefix("HTTP/1.0 "))?;
    let code = rest.get(..3)?;
    if !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if rest.len() > 3 && !rest[3..].starts_with(' ') {
        return None;
    }
    code.parse().ok()
}

/// Standard base64 with padding (RFC 4648 §4).
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                let idx = ((n >> (18 - 6 * i)) & 0x3f) as usize;
                out.push(char::from(ALPHABET[idx]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
            ("Aladdin:open sesame", "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="),
        ] {
            assert_eq!(base64(input.as_bytes()), want);
        }
    }

    #[test]
    fn status_lines() {
        assert_eq!(
            parse_status("HTTP/1.1 200 Connection established"),
            Some(200)
        );
        assert_eq!(parse_status("HTTP/1.0 407"), Some(407));
        assert_eq!(parse_status("HTTP/1.1 2000 x"), None);
        assert_eq!(parse_status("SSH-2.0-OpenSSH"), None);
    }
}
