//! What the test proxies share: listening on an address of their own on a
//! control port and on every port of a server's passive range, and pairing
//! each accepted connection with one to the same port on the server.

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::RangeInclusive;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use crate::fault_proxy::Channel;

/// A proxy's listeners and connections: dropped, they all stop.
#[derive(Debug)]
pub(crate) struct Forwarding {
    ip: Ipv4Addr,
    control_port: u16,
    tasks: JoinSet<()>,
}

impl Forwarding {
    /// The address clients connect to (control and data).
    pub(crate) fn ip(&self) -> IpAddr {
        IpAddr::V4(self.ip)
    }

    /// The control port clients connect to.
    pub(crate) fn control_port(&self) -> u16 {
        self.control_port
    }

    /// Stops the listeners and every connection.
    pub(crate) fn stop(&mut self) {
        self.tasks.abort_all();
    }
}

/// Listens on `ip`: on `control_port` (0: any), forwarding to `upstream`,
/// and on every port of `passive`, forwarding to that port on `upstream`'s
/// address. For each connection, `on_accept` is called at once, in accept
/// order (so that connections can be numbered), and the relay it returns
/// runs with the client and the server connection (`TCP_NODELAY` on both)
/// once the latter is made.
pub(crate) async fn forward_ports<A, R, F>(
    ip: Ipv4Addr,
    control_port: u16,
    upstream: SocketAddr,
    passive: RangeInclusive<u16>,
    on_accept: A,
) -> io::Result<Forwarding>
where
    A: Fn(Channel) -> R + Clone + Send + Sync + 'static,
    R: FnOnce(TcpStream, TcpStream) -> F + Send + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    let mut tasks = JoinSet::new();
    let control = TcpListener::bind((ip, control_port)).await?;
    let control_port = control.local_addr()?.port();
    tasks.spawn(accept_loop(
        control,
        upstream,
        Channel::Control,
        on_accept.clone(),
    ));
    for port in passive {
        let listener = TcpListener::bind((ip, port)).await?;
        let target = SocketAddr::new(upstream.ip(), port);
        tasks.spawn(accept_loop(
            listener,
            target,
            Channel::Data,
            on_accept.clone(),
        ));
    }
    Ok(Forwarding {
        ip,
        control_port,
        tasks,
    })
}

async fn accept_loop<A, R, F>(
    listener: TcpListener,
    target: SocketAddr,
    channel: Channel,
    on_accept: A,
) where
    A: Fn(Channel) -> R,
    R: FnOnce(TcpStream, TcpStream) -> F + Send + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    // Connections live in this task's set: aborting the accept loop (proxy
    // dropped) drops the set, which aborts them too.
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((client, _)) = accepted else { continue };
                let relay = on_accept(channel);
                conns.spawn(async move {
                    let Ok(server) = TcpStream::connect(target).await else { return };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    relay(client, server).await;
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}
