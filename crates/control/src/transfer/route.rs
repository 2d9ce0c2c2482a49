//! Where a data connection goes: the address policy, applied once.

use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV4};

/// Which address a passive data connection goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum PassiveAddress {
    /// The control connection's peer, with the port from the 227/229 reply.
    /// The default: a hostile or misconfigured server cannot point the
    /// client at another host (FTP bounce), and servers behind NAT that
    /// advertise a private address still work.
    #[default]
    ControlPeer,
    /// The address written in the 227 reply. Only for the rare setup where
    /// the data port lives on another host; an explicit opt-in.
    TrustReply,
}

/// How the control connection reaches the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataRoute {
    /// A direct TCP connection to this peer address.
    Direct(IpAddr),
    /// Through a proxy (SOCKS5, HTTP CONNECT) that was asked for this host
    /// name or address literal: data connections go through it too, named
    /// the same way.
    Proxy(String),
}

impl DataRoute {
    /// Whether the server is reached over IPv6, where `PASV` and `PORT`
    /// cannot work.
    pub fn is_ipv6(&self) -> bool {
        match self {
            DataRoute::Direct(ip) => ip.is_ipv6(),
            DataRoute::Proxy(host) => host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<Ipv6Addr>()
                .is_ok(),
        }
    }

    /// Whether the route goes through a proxy (active mode cannot: the
    /// server would have to connect back around it).
    pub fn is_proxy(&self) -> bool {
        matches!(self, DataRoute::Proxy(_))
    }
}

/// Where the driver connects a passive data channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataTarget {
    /// A direct TCP connection to this address.
    Address(SocketAddr),
    /// Through the proxy, to this host name (or address literal) and port.
    Host(String, u16),
}

impl PassiveAddress {
    /// The target of a passive connection on `route`. `advertised` is the
    /// address of a 227 reply (`None` for 229, which carries only a port).
    pub fn target(
        self,
        route: &DataRoute,
        advertised: Option<SocketAddrV4>,
        port: u16,
    ) -> DataTarget {
        let trusted = match (self, advertised) {
            (PassiveAddress::TrustReply, Some(a)) => Some(a),
            _ => None,
        };
        match (route, trusted) {
            (DataRoute::Direct(_), Some(a)) => DataTarget::Address(SocketAddr::V4(a)),
            (DataRoute::Direct(peer), None) => DataTarget::Address(SocketAddr::new(*peer, port)),
            (DataRoute::Proxy(_), Some(a)) => DataTarget::Host(a.ip().to_string(), a.port()),
            (DataRoute::Proxy(host), None) => DataTarget::Host(host.clone(), port),
        }
    }
}
