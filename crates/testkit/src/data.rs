//! Data-connection helpers: loopback-only listeners, parsing the address of a
//! `PORT`/`EPRT` command ([`parse_port_argument`], [`parse_eprt_argument`],
//! [`active_target`]) and the loopback check ([`is_loopback`]) that keeps
//! active connects on this machine.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use tokio::net::TcpListener;

use crate::transcript::CommandLine;

/// Binds a data listener on `127.0.0.1:0` (or `[::1]:0`): never any other address.
pub(crate) async fn bind_loopback(v6: bool) -> io::Result<TcpListener> {
    let ip: IpAddr = if v6 {
        Ipv6Addr::LOCALHOST.into()
    } else {
        Ipv4Addr::LOCALHOST.into()
    };
    TcpListener::bind(SocketAddr::new(ip, 0)).await
}

/// Whether `ip` is on this machine's loopback (`127.0.0.0/8`, `::1`, or
/// `::ffff:127.x.y.z`). Active connects go nowhere else.
pub fn is_loopback(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

/// Parses a `PORT` argument `h1,h2,h3,h4,p1,p2`.
pub fn parse_port_argument(arg: &str) -> Option<SocketAddr> {
    let nums: Vec<u8> = arg
        .trim()
        .split(',')
        .map(|p| p.trim().parse::<u8>())
        .collect::<Result<_, _>>()
        .ok()?;
    let [h1, h2, h3, h4, p1, p2] = nums[..] else {
        return None;
    };
    let ip = Ipv4Addr::new(h1, h2, h3, h4);
    Some(SocketAddr::new(
        ip.into(),
        u16::from(p1) << 8 | u16::from(p2),
    ))
}

/// Parses an `EPRT` argument `<d>proto<d>addr<d>port<d>` (RFC 2428), e.g.
/// `|1|127.0.0.1|4711|` or `|2|::1|4711|`.
pub fn parse_eprt_argument(arg: &str) -> Option<SocketAddr> {
    let arg = arg.trim();
    let delim = arg.chars().next()?;
    let parts: Vec<&str> = arg.split(delim).collect();
    // "", proto, addr, port, ""
    let ["", proto, addr, port, ""] = parts[..] else {
        return None;
    };
    let port: u16 = port.parse().ok()?;
    let ip: IpAddr = match proto {
        "1" => IpAddr::V4(addr.parse().ok()?),
        "2" => IpAddr::V6(addr.parse().ok()?),
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// The address named by the last `PORT` or `EPRT` command among `commands`.
pub fn active_target(commands: &[CommandLine]) -> Result<SocketAddr, String> {
    let cmd = commands
        .iter()
        .rev()
        .find(|c| matches!(c.verb().as_str(), "PORT" | "EPRT"))
        .ok_or_else(|| "no PORT or EPRT command received".to_owned())?;
    let arg = cmd.argument().unwrap_or_default();
    let parsed = if cmd.verb() == "PORT" {
        parse_port_argument(&arg)
    } else {
        parse_eprt_argument(&arg)
    };
    parsed.ok_or_else(|| format!("cannot parse {:?}", cmd.text()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_and_eprt_parse() {
        assert_eq!(
            parse_port_argument("127,0,0,1,4,1"),
            Some("127.0.0.1:1025".parse().unwrap())
        );
        assert_eq!(parse_port_argument("127,0,0,1,4"), None);
        assert_eq!(parse_port_argument("127,0,0,1,4,256"), None);
        assert_eq!(
            parse_eprt_argument("|1|127.0.0.1|2000|"),
            Some("127.0.0.1:2000".parse().unwrap())
        );
        assert_eq!(
            parse_eprt_argument("!2!::1!2000!"),
            Some("[::1]:2000".parse().unwrap())
        );
        assert_eq!(parse_eprt_argument("|3|x|1|"), None);
        let cmds = [
            CommandLine::new("PORT 127,0,0,1,0,21\r\n"),
            CommandLine::new("EPRT |1|127.0.0.2|99|\r\n"),
            CommandLine::new("LIST\r\n"),
        ];
        assert_eq!(active_target(&cmds), Ok("127.0.0.2:99".parse().unwrap()));
    }

    #[test]
    fn loopback_only() {
        assert!(is_loopback("127.0.0.1".parse().unwrap()));
        assert!(is_loopback("127.9.9.9".parse().unwrap()));
        assert!(is_loopback("::1".parse().unwrap()));
        assert!(is_loopback("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!is_loopback("10.0.0.1".parse().unwrap()));
        assert!(!is_loopback("0.0.0.0".parse().unwrap()));
        assert!(!is_loopback("::".parse().unwrap()));
        assert!(!is_loopback("192.0.2.1".parse().unwrap()));
    }
}
