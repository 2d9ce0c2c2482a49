//! Where a download writes: a file or any `std::io::Write` (stdout),
//! written on a thread of its own.
//!
//! tokio's `Stdout` and `File` hand every write to the blocking pool and
//! wait for it: one thread hop and wake-up per chunk, measured at tens of
//! thousands of futex calls per GiB. Here one writer thread takes filled
//! buffers from a channel of two and hands the emptied ones back, so the
//! network side keeps reading while the previous buffer is written, and no
//! buffer is allocated after the first few.

use std::io::{self, Write};
use std::thread::JoinHandle;

use tokio::sync::mpsc;

/// Buffers in flight between the reader and the writer thread.
const DEPTH: usize = 2;

/// A writer thread and the channels to it.
pub(crate) struct ThreadSink {
    full: Option<mpsc::Sender<Vec<u8>>>,
    empty: mpsc::Receiver<Vec<u8>>,
    thread: Option<JoinHandle<io::Result<()>>>,
    capacity: usize,
}

impl ThreadSink {
    /// Starts the writer thread over `w`; buffers hold `capacity` bytes.
    pub(crate) fn start(mut w: Box<dyn Write + Send>, capacity: usize) -> io::Result<Self> {
        let (full_tx, mut full_rx) = mpsc::channel::<Vec<u8>>(DEPTH);
        let (empty_tx, empty_rx) = mpsc::channel::<Vec<u8>>(DEPTH + 1);
        let thread = std::thread::Builder::new()
            .name("ftpkit-writer".into())
            .spawn(move || {
                while let Some(mut buf) = full_rx.blocking_recv() {
                    w.write_all(&buf)?;
                    buf.clear();
                    let _ = empty_tx.try_send(buf);
                }
                w.flush()
            })?;
        Ok(Self {
            full: Some(full_tx),
            empty: empty_rx,
            thread: Some(thread),
            capacity,
        })
    }

    /// An empty buffer to fill (a returned one when available).
    pub(crate) fn buffer(&mut self) -> Vec<u8> {
        self.empty
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(self.capacity))
    }

    /// Queues a filled buffer; fails with the writer's error if it stopped.
    pub(crate) async fn send(&mut self, buf: Vec<u8>) -> io::Result<()> {
        let sent = match &self.full {
            Some(tx) => tx.send(buf).await.is_ok(),
            None => false,
        };
        if sent {
            Ok(())
        } else {
            Err(self
                .join()
                .await
                .err()
                .unwrap_or_else(|| io::Error::new(io::ErrorKind::BrokenPipe, "the writer stopped")))
        }
    }

    /// Waits until everything is written and flushed.
    pub(crate) async fn finish(mut self) -> io::Result<()> {
        self.join().await
    }

    async fn join(&mut self) -> io::Result<()> {
        self.full = None;
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        tokio::task::spawn_blocking(move || thread.join())
            .await
            .map_err(io::Error::other)?
            .map_err(|_| io::Error::other("the writer thread panicked"))?
    }
}
