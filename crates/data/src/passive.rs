//! Passive mode: the client connects to the server's data port. Which
//! address it connects to is decided by the sans-IO core
//! ([`ftpkit_control::transfer::PassiveAddress`]), re-exported here.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpStream;

pub use ftpkit_control::transfer::PassiveAddress;

use crate::DataError;

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
