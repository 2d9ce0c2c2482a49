//! Issue #12: a transfer future dropped at any await point leaves the
//! `Client` usable, on every server, plain and TLS. Each case cancels the
//! operation after k polls (k from a seeded generator), then `noop()` and a
//! small transfer must succeed. Run with `just interop`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use ftpkit::Client;
use ftpkit_interop::data::Pattern;
use ftpkit_interop::{report, Mode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Runs `fut` for at most `polls` polls; `None` when it was dropped
/// unfinished.
struct CancelAfter<F: Future> {
    fut: Pin<Box<F>>,
    polls: u32,
}

impl<F: Future> Unpin for CancelAfter<F> {}

impl<F: Future> Future for CancelAfter<F> {
    type Output = Option<F::Output>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.polls == 0 {
            return Poll::Ready(None);
        }
        self.polls -= 1;
        self.fut.as_mut().poll(cx).map(Some)
    }
}

/// xorshift64*: reproducible draws without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self, below: u32) -> u32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as u32 % below
    }
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Retr,
    Stor,
    List,
}

const BIG: usize = 1 << 20;

async fn op(c: &mut Client, op: Op, data: &[u8]) -> ftpkit::Result<()> {
    match op {
        Op::Retr => {
            let mut dl = c.retr("big.bin").await?;
            let mut v = Vec::new();
            dl.read_to_end(&mut v)
                .await
                .map_err(ftpkit::Error::from_io_error)?;
        }
        Op::Stor => {
            let mut up = c.stor("up.bin").await?;
            up.write_all(data)
                .await
                .map_err(ftpkit::Error::from_io_error)?;
            up.finish().await?;
        }
        Op::List => {
            c.list(None).await?;
        }
    }
    Ok(())
}

async fn cancellations(name: &str, rounds: u32) {
    let server = ftpkit_interop::server(name);
    let mut c = server.connect(Mode::Passive).await;
    let dir = ftpkit_interop::unique_dir("cancel");
    c.mkdir(dir.as_str()).await.unwrap();
    c.cwd(dir.as_str()).await.unwrap();
    let data = Pattern::bytes(7, BIG);
    let mut up = c.stor("big.bin").await.unwrap();
    up.write_all(&data).await.unwrap();
    up.finish().await.unwrap();
    let small = Pattern::bytes(8, 3000);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ name.len() as u64);
    let mut cancelled = 0;
    for op_kind in [Op::Retr, Op::Stor, Op::List] {
        // How many polls the whole operation takes here, so that k falls
        // inside it: every await point can be the one cancelled.
        let mut counted = CancelAfter {
            fut: Box::pin(op(&mut c, op_kind, &data)),
            polls: u32::MAX,
        };
        (&mut counted).await.expect("not cancelled").unwrap();
        let total = u32::MAX - counted.polls;
        drop(counted);
        for round in 0..rounds {
            let k = 1 + rng.next(total.max(2) - 1);
            let r = CancelAfter {
                fut: Box::pin(op(&mut c, op_kind, &data)),
                polls: k,
            }
            .await;
            match r {
                None => cancelled += 1,
                Some(r) => r.unwrap_or_else(|e| panic!("{name} {op_kind:?} {round}: {e:?}")),
            }
            c.noop().await.unwrap_or_else(|e| {
                panic!("{name} {op_kind:?} round {round} cancelled after {k} polls: noop: {e:?}")
            });
            let mut up = c.stor("small.bin").await.unwrap_or_else(|e| {
                panic!("{name} {op_kind:?} round {round} after {k} polls: stor: {e:?}")
            });
            up.write_all(&small).await.unwrap();
            up.finish().await.unwrap_or_else(|e| {
                panic!("{name} {op_kind:?} round {round} after {k} polls: finish: {e:?}")
            });
        }
    }
    let refreshes = c.tls_session_stats().map_or(0, |s| s.refreshes);
    report(&format!(
        "{name}: {} operations (RETR, STOR, LIST of 1 MiB / 1 MiB / a listing), {cancelled} cancelled at a random poll, the session usable after each; {refreshes} session renewals (ticket supply and recovery together)",
        3 * rounds
    ));
}

macro_rules! cancel_tests {
    ($($test:ident => $name:literal),* $(,)?) => {$(
        #[tokio::test]
        async fn $test() {
            cancellations($name, 100).await;
        }
    )*};
}

cancel_tests! {
    vsftpd_plain => "VSFTPD",
    vsftpd_tls => "VSFTPD_TLS",
    proftpd_plain => "PROFTPD",
    proftpd_tls => "PROFTPD_TLS",
    pureftpd_plain => "PUREFTPD",
    pureftpd_tls => "PUREFTPD_TLS",
    pyftpdlib_plain => "PYFTPDLIB",
    pyftpdlib_tls => "PYFTPDLIB_TLS",
}
