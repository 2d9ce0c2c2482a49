//! Active mode: the client listens and the server connects to it.

use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

use crate::DataError;

/// Which peers an active-mode listener accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum PeerCheck {
    /// Only a connection from the control connection's peer address. Others
    /// are closed at once and the listener keeps waiting. The default: a
    /// third party cannot slip data into a transfer.
    #[default]
    ControlPeer,
    /// Any address (a server whose data connections come from another host).
    Any,
}

/// Settings of active mode.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ActiveConfig {
    /// Address to bind; default: the control socket's local address.
    pub bind_ip: Option<IpAddr>,
    /// Ports to try, in turn; default: any port the system gives.
    pub port_range: Option<RangeInclusive<u16>>,
    /// Address to advertise in PORT/EPRT instead of the bound one (for NAT).
    pub advertise: Option<IpAddr>,
    /// Which peers are accepted.
    pub peer_check: PeerCheck,
}

/// A listener for one active-mode data connection.
#[derive(Debug)]
pub struct ActiveListener {
    listener: TcpListener,
    advertised: SocketAddr,
    peer_check: PeerCheck,
}

/// Spreads successive binds over the port range.
static NEXT_PORT: AtomicU32 = AtomicU32::new(0);

impl ActiveListener {
    /// Binds per `config`, next to the control connection's local address.
    pub async fn bind(config: &ActiveConfig, control_local: SocketAddr) -> Result<Self, DataError> {
        let ip = config.bind_ip.unwrap_or(control_local.ip());
        let listener = match &config.port_range {
            None => TcpListener::bind(SocketAddr::new(ip, 0))
                .await
                .map_err(DataError::Bind)?,
            Some(range) => {
                let (lo, hi) = (u32::from(*range.start()), u32::from(*range.end()));
                if lo > hi {
                    return Err(DataError::Bind(std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        "empty active port range",
                    )));
                }
                let span = hi - lo + 1;
                let start = NEXT_PORT.fetch_add(1, Ordering::Relaxed) % span;
                let mut last_err = None;
                let mut found = None;
                for i in 0..span {
                    let port = u16::try_from(lo + (start + i) % span).unwrap_or(0);
                    match TcpListener::bind(SocketAddr::new(ip, port)).await {
                        Ok(l) => {
                            found = Some(l);
                            break;
                        }
                        Err(e) => last_err = Some(e),
                    }
                }
                found.ok_or_else(|| {
                    DataError::Bind(
                        last_err.unwrap_or_else(|| std::io::Error::other("no port in range")),
                    )
                })?
            }
        };
        let local = listener.local_addr()?;
        let advertised = SocketAddr::new(config.advertise.unwrap_or(local.ip()), local.port());
        Ok(Self {
            listener,
            advertised,
            peer_check: config.peer_check,
        })
    }

    /// The address to send in PORT/EPRT.
    pub fn advertised(&self) -> SocketAddr {
        self.advertised
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Accepts the data connection within `deadline`. Connections from any
    /// address other than `control_peer` are closed and counted (unless
    /// [`PeerCheck::Any`]); the wait goes on until the deadline.
    pub async fn accept(
        &self,
        control_peer: IpAddr,
        deadline: Duration,
    ) -> Result<TcpStream, DataError> {
        let until = tokio::time::Instant::now() + deadline;
        loop {
            let (stream, peer) = tokio::time::timeout_at(until, self.listener.accept())
                .await
                .map_err(|_| DataError::TimedOut("active data accept"))?
                .map_err(DataError::Accept)?;
            if self.peer_check == PeerCheck::ControlPeer && !same_host(peer.ip(), control_peer) {
                tracing::warn!(%peer, %control_peer, "refused active data connection from a foreign address");
                drop(stream);
                continue;
            }
            stream.set_nodelay(true)?;
            return Ok(stream);
        }
    }
}

/// Compares addresses, treating IPv4-mapped IPv6 as IPv4.
fn same_host(a: IpAddr, b: IpAddr) -> bool {
    a.to_canonical() == b.to_canonical()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[tokio::test]
    async fn binds_in_range_and_advertises() {
        let local = SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 21);
        let cfg = ActiveConfig {
            port_range: Some(41000..=41010),
            advertise: Some(Ipv4Addr::new(127, 0, 0, 2).into()),
            ..ActiveConfig::default()
        };
        let l = ActiveListener::bind(&cfg, local).await.unwrap();
        let port = l.advertised().port();
        assert!((41000..=41010).contains(&port));
        assert_eq!(
            l.advertised().ip(),
            IpAddr::from(Ipv4Addr::new(127, 0, 0, 2))
        );
    }

    #[tokio::test]
    async fn foreign_peer_is_refused_until_deadline() {
        let local = SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 21);
        let l = ActiveListener::bind(&ActiveConfig::default(), local)
            .await
            .unwrap();
        let addr = l.local_addr().unwrap();
        // Pretend the control peer is 127.0.0.2: a connection from
        // 127.0.0.1 is foreign.
        let connector = tokio::spawn(async move { TcpStream::connect(addr).await });
        let r = l
            .accept(
                Ipv4Addr::new(127, 0, 0, 2).into(),
                Duration::from_millis(300),
            )
            .await;
        assert!(matches!(r, Err(DataError::TimedOut(_))), "{r:?}");
        connector.await.unwrap().unwrap();
        // From the right peer it is accepted.
        let connector = tokio::spawn(async move { TcpStream::connect(addr).await });
        l.accept(Ipv4Addr::LOCALHOST.into(), Duration::from_secs(5))
            .await
            .unwrap();
        connector.await.unwrap().unwrap();
    }
}
