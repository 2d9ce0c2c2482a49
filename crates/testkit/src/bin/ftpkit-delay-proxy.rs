//! `ftpkit-delay-proxy`: the [`DelayProxy`] as a process, for the latency
//! cases of `just bench` (scripts/bench.py), where the clients are other
//! programs.
//!
//! ```text
//! ftpkit-delay-proxy --listen 127.0.0.2 --upstream 127.0.0.1:21210 \
//!     --passive 22000-22199 --rtt-ms 10 --stats /tmp/stats [--control-port 0]
//! ```
//!
//! Prints `control IP:PORT` once it listens, then writes its counters to the
//! stats file (`control_connections=N` lines) every 100 ms until killed.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use ftpkit_testkit::delay_proxy::DelayProxy;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn usage(what: &str) -> ! {
    eprintln!("ftpkit-delay-proxy: {what}");
    eprintln!(
        "usage: ftpkit-delay-proxy --listen IP --upstream IP:PORT --passive LO-HI --rtt-ms N \\\n  --stats FILE [--control-port P]"
    );
    std::process::exit(2)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let get = |name: &str| arg(&args, name).unwrap_or_else(|| usage(&format!("{name} is missing")));
    let listen: Ipv4Addr = get("--listen")
        .parse()
        .unwrap_or_else(|_| usage("bad --listen"));
    let upstream: SocketAddr = get("--upstream")
        .parse()
        .unwrap_or_else(|_| usage("bad --upstream"));
    let passive = get("--passive");
    let (lo, hi) = passive
        .split_once('-')
        .and_then(|(a, b)| Some((a.parse::<u16>().ok()?, b.parse::<u16>().ok()?)))
        .unwrap_or_else(|| usage("bad --passive"));
    let rtt_ms: f64 = get("--rtt-ms")
        .parse()
        .unwrap_or_else(|_| usage("bad --rtt-ms"));
    let stats = get("--stats");
    let control_port: u16 = arg(&args, "--control-port")
        .map(|p| p.parse().unwrap_or_else(|_| usage("bad --control-port")))
        .unwrap_or(0);
    let one_way = Duration::from_secs_f64(rtt_ms / 2000.0);
    let proxy = DelayProxy::start(listen, control_port, upstream, lo..=hi, one_way)
        .await
        .unwrap_or_else(|e| usage(&format!("cannot listen: {e}")));
    println!("control {}:{}", proxy.ip(), proxy.control_port());
    loop {
        let s = proxy.stats();
        let text = format!(
            "control_connections={}\ndata_connections={}\ncontrol_round_trips={}\ndata_bytes={}\n",
            s.control_connections, s.data_connections, s.control_round_trips, s.data_bytes
        );
        let tmp = format!("{stats}.tmp");
        if std::fs::write(&tmp, text).is_ok() {
            let _ = std::fs::rename(&tmp, &stats);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
