//! SOCKS5 (RFC 1928) with optional username/password authentication
//! (RFC 1929). Only `CONNECT`; the target is always sent by name (or as the
//! IP literal it already is), so the proxy does the resolving.

use std::io;
use std::net::IpAddr;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::{authority, read_exact_or_proxy_error, ProxyConnector, ProxyCredentials, ProxyError};

const VERSION: u8 = 0x05;
const METHOD_NONE: u8 = 0x00;
const METHOD_USERPASS: u8 = 0x02;
const METHOD_UNACCEPTABLE: u8 = 0xFF;
const USERPASS_VERSION: u8 = 0x01;
const CMD_CONNECT: u8 = 0x01;
const ATYP_IPV4: u8 = 0x01;
const ATYP_DOMAIN: u8 = 0x03;
const ATYP_IPV6: u8 = 0x04;

/// Opens a tunnel to `host:port` through `proxy`.
pub(super) async fn connect(
    proxy: &ProxyConnector,
    host: &str,
    port: u16,
) -> io::Result<TcpStream> {
    // Validate before connecting: nothing goes out for a bad request.
    let request = connect_request(host, port)?;
    let auth = match &proxy.credentials {
        Some(c) => Some(auth_request(c)?),
        None => None,
    };
    let mut s = proxy.open().await?;

    // Method selection.
    let greeting: &[u8] = if auth.is_some() {
        &[VERSION, 2, METHOD_NONE, METHOD_USERPASS]
    } else {
        &[VERSION, 1, METHOD_NONE]
    };
    s.write_all(greeting).await?;
    let chosen: [u8; 2] = read_reply(&mut s, "method selection", &[VERSION]).await?;
    match (chosen[1], &auth) {
        (METHOD_NONE, _) => {}
        (METHOD_USERPASS, Some(auth)) => {
            s.write_all(auth).await?;
            // RFC 1929 says version 1; some proxies echo 5. Accept both.
            let status: [u8; 2] =
                read_reply(&mut s, "authentication", &[USERPASS_VERSION, VERSION]).await?;
            if status[1] != 0 {
                return Err(ProxyError::AuthFailed(format!(
                    "SOCKS5 username/password status {:#04x}",
                    status[1]
                ))
                .into());
            }
        }
        (METHOD_UNACCEPTABLE, None) => {
            return Err(ProxyError::AuthRequired(
                "the SOCKS5 proxy accepts no unauthenticated clients".into(),
            )
            .into())
        }
        (METHOD_UNACCEPTABLE, Some(_)) => {
            return Err(ProxyError::AuthFailed(
                "the SOCKS5 proxy accepts neither no authentication nor username/password".into(),
            )
            .into())
        }
        (m, _) => {
            return Err(ProxyError::Protocol(format!(
                "the SOCKS5 proxy chose method {m:#04x}, which was not offered"
            ))
            .into())
        }
    }

    // CONNECT.
    s.write_all(&request).await?;
    let head: [u8; 4] = read_reply(&mut s, "the CONNECT reply", &[VERSION]).await?;
    if head[1] != 0 {
        return Err(ProxyError::Refused {
            target: authority(host, port),
            reason: reply_text(head[1]),
        }
        .into());
    }
    // The bound address: read and ignore.
    let rest = match head[3] {
        ATYP_IPV4 => 4 + 2,
        ATYP_IPV6 => 16 + 2,
        ATYP_DOMAIN => {
            let mut len = [0u8; 1];
            read_exact_or_proxy_error(&mut s, &mut len, "the CONNECT reply").await?;
            usize::from(len[0]) + 2
        }
        t => {
            return Err(ProxyError::Protocol(format!("bad address type {t:#04x} in reply")).into())
        }
    };
    let mut bound = [0u8; 255 + 2];
    let bound = bound.get_mut(..rest).unwrap_or_default();
    read_exact_or_proxy_error(&mut s, bound, "the CONNECT reply").await?;
    Ok(s)
}

/// The CONNECT request for `host:port`.
/// Reads the `N`-byte reply `what`, whose first byte (the version) must be
/// one of `versions`.
async fn read_reply<const N: usize>(
    s: &mut TcpStream,
    what: &str,
    versions: &[u8],
) -> io::Result<[u8; N]> {
    let mut reply = [0u8; N];
    read_exact_or_proxy_error(s, &mut reply, what).await?;
    match reply.first() {
        Some(v) if versions.contains(v) => Ok(reply),
        v => Err(ProxyError::Protocol(format!(
            "not a SOCKS5 reply to {what} (version byte {:#04x})",
            v.copied().unwrap_or_default()
        ))
        .into()),
    }
}

fn connect_request(host: &str, port: u16) -> io::Result<Vec<u8>> {
    let mut req = vec![VERSION, CMD_CONNECT, 0x00];
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(a)) => {
            req.push(ATYP_IPV4);
            req.extend_from_slice(&a.octets());
        }
        Ok(IpAddr::V6(a)) => {
            req.push(ATYP_IPV6);
            req.extend_from_slice(&a.octets());
        }
        Err(_) => {
            let len = u8::try_from(host.len())
                .ok()
                .filter(|&l| l > 0)
                .ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "SOCKS5 host names are 1 to 255 bytes",
                    )
                })?;
            req.push(ATYP_DOMAIN);
            req.push(len);
            req.extend_from_slice(host.as_bytes());
        }
    }
    req.extend_from_slice(&port.to_be_bytes());
    Ok(req)
}

/// The RFC 1929 request.
fn auth_request(c: &ProxyCredentials) -> io::Result<Vec<u8>> {
    let field = |s: &str, what: &str| {
        u8::try_from(s.len())
            .ok()
            .filter(|&l| l > 0)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("SOCKS5 {what}s are 1 to 255 bytes"),
                )
            })
    };
    let ulen = field(c.username(), "username")?;
    let plen = field(c.password(), "password")?;
    let mut req = vec![USERPASS_VERSION, ulen];
    req.extend_from_slice(c.username().as_bytes());
    req.push(plen);
    req.extend_from_slice(c.password().as_bytes());
    Ok(req)
}

fn reply_text(code: u8) -> String {
    let what = match code {
        0x01 => "general SOCKS server failure",
        0x02 => "connection not allowed by ruleset",
        0x03 => "network unreachable",
        0x04 => "host unreachable",
        0x05 => "connection refused",
        0x06 => "TTL expired",
        0x07 => "command not supported",
        0x08 => "address type not supported",
        _ => "unknown reply code",
    };
    format!("SOCKS5 reply {code:#04x} ({what})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_encoded() {
        assert_eq!(
            connect_request("ftp.example", 21).ok(),
            Some([&[5u8, 1, 0, 3, 11][..], b"ftp.example", &[0, 21]].concat())
        );
        assert_eq!(
            connect_request("192.0.2.1", 2121).ok(),
            Some(vec![5, 1, 0, 1, 192, 0, 2, 1, 0x08, 0x49])
        );
        assert!(connect_request("", 21).is_err());
        assert!(connect_request(&"a".repeat(256), 21).is_err());
        assert_eq!(
            auth_request(&ProxyCredentials::new("u", "pw")).ok(),
            Some(vec![1, 1, b'u', 2, b'p', b'w'])
        );
        assert!(auth_request(&ProxyCredentials::new("", "pw")).is_err());
    }
}
