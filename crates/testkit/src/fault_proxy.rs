//! A TCP fault proxy between a client and a real FTP server.
//!
//! [`FaultProxy`] listens on a loopback address of its own (127.77.x.y, a
//! fresh one per proxy) on an ephemeral control port and on **every port of
//! the server's passive range**, and forwards each connection to the same
//! port on the server's address. A client that connects to the proxy's
//! control port (verifying the server's certificate under its real name,
//! e.g. `tls_server_name("localhost")`) therefore runs its control *and*
//! passive data connections through the proxy, plain or TLS, without any
//! reply being rewritten: the client connects to the control peer's address
//! with the port from the 227/229 reply, and that address is the proxy's.
//!
//! The proxy counts control and data connections separately (0, 1, ...).
//! Each [`Rule`] names a channel, a connection number, a direction and a
//! [`Fault`]: the fault strikes once that connection has forwarded `at`
//! bytes in that direction, so the same plan is deterministic run after
//! run. Connections no rule names pass through untouched, which is what lets
//! a retry succeed.
//!
//! ```text
//!  client ──► 127.77.x.y:ctl  ──► server 127.0.0.1:control   (Channel::Control)
//!  client ──► 127.77.x.y:p    ──► server 127.0.0.1:p         (Channel::Data, p in the passive range)
//! ```
//!
//! Active mode is out of its reach (the server connects to the client
//! directly), so fault tests use passive mode.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::forward::{forward_ports, Forwarding};

/// Which connections a rule applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    /// Connections to the control port.
    Control,
    /// Connections to a passive data port.
    Data,
}

/// Which way the bytes flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Client to server (commands, uploads).
    ToServer,
    /// Server to client (replies, downloads).
    ToClient,
}

/// What happens to a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// After `at` bytes, close both sides gracefully (FIN).
    Cut {
        /// Bytes forwarded first.
        at: u64,
    },
    /// After `at` bytes, forward nothing more in this direction and keep
    /// both connections open (until the client gives up or the proxy is
    /// dropped).
    Stall {
        /// Bytes forwarded first.
        at: u64,
    },
    /// After `at` bytes, reset both sides (RST, `SO_LINGER` 0).
    Reset {
        /// Bytes forwarded first.
        at: u64,
    },
    /// Hold every chunk of this direction for `by` before forwarding it.
    Delay {
        /// The added latency per chunk.
        by: Duration,
    },
}

/// One fault on one connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    /// Control or data.
    pub channel: Channel,
    /// The connection's number on its channel (0 = the first).
    pub nth: usize,
    /// The direction the fault watches.
    pub direction: Direction,
    /// The fault.
    pub fault: Fault,
}

impl Rule {
    /// A rule on the `nth` connection of `channel`.
    pub fn new(channel: Channel, nth: usize, direction: Direction, fault: Fault) -> Self {
        Self {
            channel,
            nth,
            direction,
            fault,
        }
    }
}

/// What the proxy did, for assertions and test output.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProxyLog {
    /// Control connections accepted.
    pub control_connections: usize,
    /// Data connections accepted.
    pub data_connections: usize,
    /// Faults that struck, in order ("data#0 ToClient Cut at 1048576", ...).
    pub struck: Vec<String>,
}

#[derive(Debug, Default)]
struct Shared {
    control: AtomicUsize,
    data: AtomicUsize,
    struck: Mutex<Vec<String>>,
}

/// The proxy; dropping it closes every listener and connection.
#[derive(Debug)]
pub struct FaultProxy {
    forwarding: Forwarding,
    shared: Arc<Shared>,
}

/// A fresh loopback address per proxy: 127.77.0.10, 127.77.0.11, ...
fn next_ip() -> Ipv4Addr {
    static N: AtomicU32 = AtomicU32::new(10);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let [_, _, b, c] = n.to_be_bytes();
    Ipv4Addr::new(127, 77, b, c)
}

impl FaultProxy {
    /// Starts a proxy in front of the server at `upstream` (its control
    /// address) whose passive ports are `passive`, applying `rules`.
    pub async fn start(
        upstream: SocketAddr,
        passive: RangeInclusive<u16>,
        rules: Vec<Rule>,
    ) -> io::Result<Self> {
        let ip = next_ip();
        let shared = Arc::new(Shared::default());
        let rules = Arc::new(rules);
        let on_accept = {
            let shared = shared.clone();
            move |channel: Channel| {
                let counter = match channel {
                    Channel::Control => &shared.control,
                    Channel::Data => &shared.data,
                };
                let nth = counter.fetch_add(1, Ordering::SeqCst);
                let mine: Vec<Rule> = rules
                    .iter()
                    .filter(|r| r.channel == channel && r.nth == nth)
                    .copied()
                    .collect();
                let shared = shared.clone();
                move |client, server| async move {
                    let label = format!(
                        "{}#{nth}",
                        if channel == Channel::Control {
                            "control"
                        } else {
                            "data"
                        }
                    );
                    relay(client, server, &mine, &label, &shared).await;
                }
            }
        };
        let forwarding = forward_ports(ip, 0, upstream, passive, on_accept).await?;
        Ok(Self { forwarding, shared })
    }

    /// The address clients connect to (control and data).
    pub fn ip(&self) -> IpAddr {
        self.forwarding.ip()
    }

    /// The control port.
    pub fn control_port(&self) -> u16 {
        self.forwarding.control_port()
    }

    /// What happened so far.
    pub fn log(&self) -> ProxyLog {
        ProxyLog {
            control_connections: self.shared.control.load(Ordering::SeqCst),
            data_connections: self.shared.data.load(Ordering::SeqCst),
            struck: self
                .shared
                .struck
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
        }
    }

    /// Stops everything (also done on drop).
    pub fn shutdown(&mut self) {
        self.forwarding.stop();
    }
}

struct Way {
    forwarded: u64,
    fault: Option<Fault>,
    eof: bool,
    stalled: bool,
}

impl Way {
    fn new(rules: &[Rule], direction: Direction) -> Self {
        Self {
            forwarded: 0,
            fault: rules
                .iter()
                .find(|r| r.direction == direction)
                .map(|r| r.fault),
            eof: false,
            stalled: false,
        }
    }

    /// How many of `n` new bytes to forward before the fault strikes, and
    /// whether it strikes after them.
    fn allow(&self, n: usize) -> (usize, Option<Fault>) {
        match self.fault {
            Some(f @ (Fault::Cut { at } | Fault::Stall { at } | Fault::Reset { at })) => {
                let left = at.saturating_sub(self.forwarded);
                let take = usize::try_from(left).map_or(n, |l| l.min(n));
                if self.forwarded + take as u64 >= at {
                    (take, Some(f))
                } else {
                    (take, None)
                }
            }
            _ => (n, None),
        }
    }

    fn delay(&self) -> Option<Duration> {
        match self.fault {
            Some(Fault::Delay { by }) => Some(by),
            _ => None,
        }
    }
}

enum End {
    /// Both directions finished (or the relay gave up on an error).
    Done,
    /// Close both sides now.
    Cut,
    /// Reset both sides now.
    Reset,
}

async fn relay(
    mut client: TcpStream,
    mut server: TcpStream,
    rules: &[Rule],
    label: &str,
    shared: &Shared,
) {
    let mut up = Way::new(rules, Direction::ToServer);
    let mut down = Way::new(rules, Direction::ToClient);
    let mut ubuf = vec![0u8; 64 * 1024];
    let mut dbuf = vec![0u8; 64 * 1024];
    let strike = |dir: Direction, f: Fault, at: u64| {
        shared
            .struck
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(format!("{label} {dir:?} {f:?} after {at} bytes"));
    };
    // A rule with `at: 0` strikes before any byte.
    for (way, dir) in [
        (&mut up, Direction::ToServer),
        (&mut down, Direction::ToClient),
    ] {
        if let (0, Some(f)) = way.allow(0) {
            strike(dir, f, 0);
            match f {
                Fault::Cut { .. } => return,
                Fault::Reset { .. } => return reset(client, server),
                _ => way.stalled = true,
            }
        }
    }
    let end = loop {
        if (up.eof || up.stalled) && (down.eof || down.stalled) {
            if up.eof && down.eof {
                break End::Done;
            }
            // A stall holds the connection open until the peers give up.
            std::future::pending::<()>().await;
        }
        let (way, dir, buf, n) = tokio::select! {
            r = client.read(&mut ubuf), if !up.eof && !up.stalled => {
                (&mut up, Direction::ToServer, &ubuf, r)
            }
            r = server.read(&mut dbuf), if !down.eof && !down.stalled => {
                (&mut down, Direction::ToClient, &dbuf, r)
            }
        };
        let dest = match dir {
            Direction::ToServer => &mut server,
            Direction::ToClient => &mut client,
        };
        let n = match n {
            Ok(0) => {
                way.eof = true;
                let _ = dest.shutdown().await;
                continue;
            }
            Ok(n) => n,
            Err(_) => break End::Done,
        };
        if let Some(by) = way.delay() {
            tokio::time::sleep(by).await;
        }
        let (take, fault) = way.allow(n);
        if dest.write_all(&buf[..take]).await.is_err() {
            break End::Done;
        }
        way.forwarded += take as u64;
        if let Some(f) = fault {
            strike(dir, f, way.forwarded);
            match f {
                Fault::Cut { .. } => break End::Cut,
                Fault::Reset { .. } => break End::Reset,
                Fault::Stall { .. } => way.stalled = true,
                Fault::Delay { .. } => {}
            }
        }
    };
    match end {
        End::Done | End::Cut => {
            let _ = client.shutdown().await;
            let _ = server.shutdown().await;
        }
        End::Reset => reset(client, server),
    }
}

/// Drops both sockets with `SO_LINGER` 0, which sends RST.
fn reset(client: TcpStream, server: TcpStream) {
    for s in [client, server] {
        let _ = s.set_zero_linger();
        drop(s);
    }
}
