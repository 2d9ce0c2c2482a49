//! Passive mode: the client connects to the server's data port.

use std::net::{IpAddr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use tokio::net::TcpStream;

use crate::DataError;

/// Which address a passive data connection goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum PassiveAddress {
    /// The control connection's peer address, with the port from the
    /// 227/229 reply. The default: a hostile or misconfigured server cannot
    /// point the client at another host (FTP bounce), and servers behind NAT
    /// that advertise a private address still work.
    #[default]
    ControlPeer,
    /// The address written in the 227 reply. Only for the rare setup where
    /// the data port lives on another host; an explicit opt-in.
    TrustReply,
}

impl PassiveAddress {
    /// Picks the target of a passive connection.
    ///
    /// `advertised` is the address from a 227 reply (`None` for 229, which
    /// carries only a port).
    pub fn target(
        self,
        control_peer: IpAddr,
        advertised: Option<SocketAddrV4>,
        port: u16,
    ) -> SocketAddr {
        match (self, advertised) {
            (PassiveAddress::TrustReply, Some(a)) => SocketAddr::V4(a),
            _ => SocketAddr::new(control_peer, port),
        }
    }
}

/// Connects to a passive data port within `deadline`.
pub async fn connect_passive(addr: SocketAddr, deadline: Duration) -> Result<TcpStream, DataError> {
    let stream = tokio::time::timeout(deadline, TcpStream::connect(addr))
        .await
        .map_err(|_| DataError::TimedOut("passive data connect"))?
        .map_err(|source| DataError::Connect { addr, source })?;
    // Small writes at the end of an upload must not wait for an ACK.
    stream.set_nodelay(true)?;
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn control_peer_is_the_default_target() {
        let peer: IpAddr = Ipv4Addr::LOCALHOST.into();
        let foreign = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 2000);
        assert_eq!(
            PassiveAddress::default().target(peer, Some(foreign), 2000),
            SocketAddr::new(peer, 2000)
        );
        assert_eq!(
            PassiveAddress::TrustReply.target(peer, Some(foreign), 2000),
            SocketAddr::V4(foreign)
        );
        // 229 gives no address: always the peer.
        assert_eq!(
            PassiveAddress::TrustReply.target(peer, None, 2000),
            SocketAddr::new(peer, 2000)
        );
    }
}
