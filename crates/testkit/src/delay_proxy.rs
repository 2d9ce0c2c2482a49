//! A TCP proxy that adds latency: every byte, both ways, on the control
//! port and on **every port of the server's passive range**, like
//! [`crate::fault_proxy::FaultProxy`], so that a client's control and data
//! connections all see the round-trip time of a real link.
//!
//! Each direction of each connection is a delay line: a reader stamps each
//! chunk with the time it arrived and a writer sends it one one-way delay
//! later, so bytes in flight overlap (a bulk transfer is not slowed to one
//! chunk per delay) and the in-flight bytes per direction are bounded
//! ([`MAX_IN_FLIGHT`], a link's buffer): the reader stops reading when the
//! line is full, and TCP flow control slows the sender.
//!
//! It also counts what decides the speed of many small files: control
//! **round trips** (each time the client speaks on a control connection
//! after the server has, a turn that costs one RTT) and data connections
//! (each costs at least one RTT to open).
//!
//! ```text
//!  client ──► IP:ctl ──(½ RTT)──► server 127.0.0.1:control ──(½ RTT)──► back
//!  client ──► IP:p   ──(½ RTT)──► server 127.0.0.1:p, p in the passive range
//! ```

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Semaphore};
use tokio::time::Instant;

use crate::fault_proxy::Channel;
use crate::forward::{forward_ports, Forwarding};

/// Bytes one direction of one connection holds in flight at most.
pub const MAX_IN_FLIGHT: usize = 4 << 20;

/// What the proxy counted so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DelayStats {
    /// Control connections accepted.
    pub control_connections: u64,
    /// Data connections accepted.
    pub data_connections: u64,
    /// Control round trips: times a client spoke on a control connection
    /// after the server had (the first command after the greeting is one).
    pub control_round_trips: u64,
    /// Bytes forwarded on data connections, both ways.
    pub data_bytes: u64,
}

#[derive(Debug, Default)]
struct Counters {
    control: AtomicU64,
    data: AtomicU64,
    round_trips: AtomicU64,
    data_bytes: AtomicU64,
}

/// A running delay proxy; dropped, it stops.
#[derive(Debug)]
pub struct DelayProxy {
    forwarding: Forwarding,
    counters: Arc<Counters>,
}

impl DelayProxy {
    /// Listens on `ip` (a loopback address of its own, not the server's),
    /// on `control_port` (0: any) and on every port of `passive`, and
    /// forwards to the same ports on `upstream`'s address with `one_way`
    /// added each way (the round-trip time is twice that).
    pub async fn start(
        ip: Ipv4Addr,
        control_port: u16,
        upstream: SocketAddr,
        passive: RangeInclusive<u16>,
        one_way: Duration,
    ) -> io::Result<Self> {
        let counters = Arc::new(Counters::default());
        let on_accept = {
            let counters = counters.clone();
            move |channel: Channel| {
                let control = channel == Channel::Control;
                let counter = if control {
                    &counters.control
                } else {
                    &counters.data
                };
                counter.fetch_add(1, Ordering::SeqCst);
                let counters = counters.clone();
                move |client, server| relay(client, server, control, one_way, counters)
            }
        };
        let forwarding = forward_ports(ip, control_port, upstream, passive, on_accept).await?;
        Ok(Self {
            forwarding,
            counters,
        })
    }

    /// The address clients connect to.
    pub fn ip(&self) -> IpAddr {
        self.forwarding.ip()
    }

    /// The control port clients connect to.
    pub fn control_port(&self) -> u16 {
        self.forwarding.control_port()
    }

    /// What was counted so far.
    pub fn stats(&self) -> DelayStats {
        DelayStats {
            control_connections: self.counters.control.load(Ordering::SeqCst),
            data_connections: self.counters.data.load(Ordering::SeqCst),
            control_round_trips: self.counters.round_trips.load(Ordering::SeqCst),
            data_bytes: self.counters.data_bytes.load(Ordering::SeqCst),
        }
    }
}

async fn relay(
    client: TcpStream,
    server: TcpStream,
    control: bool,
    one_way: Duration,
    counters: Arc<Counters>,
) {
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    // Whether the server spoke last on a control connection.
    let server_spoke = Arc::new(AtomicBool::new(false));
    let up = delay_line(
        cr,
        sw,
        one_way,
        control,
        true,
        server_spoke.clone(),
        counters.clone(),
    );
    let down = delay_line(sr, cw, one_way, control, false, server_spoke, counters);
    tokio::join!(up, down);
}

/// One direction: reads, stamps, and writes each chunk `one_way` after it
/// arrived; at the end of the input, shuts the output down (after the
/// last chunk's delay).
async fn delay_line(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    one_way: Duration,
    control: bool,
    to_server: bool,
    server_spoke: Arc<AtomicBool>,
    counters: Arc<Counters>,
) {
    let budget = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Vec<u8>, u32)>();
    let reader = {
        let budget = budget.clone();
        async move {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = match from.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                if control {
                    // A client that speaks after the server did starts a
                    // new round trip.
                    if to_server {
                        if server_spoke.swap(false, Ordering::SeqCst) {
                            counters.round_trips.fetch_add(1, Ordering::SeqCst);
                        }
                    } else {
                        server_spoke.store(true, Ordering::SeqCst);
                    }
                } else {
                    counters.data_bytes.fetch_add(n as u64, Ordering::Relaxed);
                }
                let permits = u32::try_from(n).unwrap_or(u32::MAX);
                let Ok(p) = budget.acquire_many(permits).await else {
                    break;
                };
                p.forget();
                let due = Instant::now() + one_way;
                if tx.send((due, buf[..n].to_vec(), permits)).is_err() {
                    break;
                }
            }
            drop(tx);
        }
    };
    let writer = async move {
        while let Some((due, chunk, permits)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            if to.write_all(&chunk).await.is_err() {
                // The reader must not wait for room that never comes.
                budget.close();
                return;
            }
            budget.add_permits(permits as usize);
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(reader, writer);
}
