//! The control connection and the loop that drives the sans-IO session over
//! it: write what the session wants sent, read with a deadline, perform the
//! TLS switch when the session asks for it.

use std::io;
use std::time::Duration;

use ftpkit_control::{Event, Session};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::connector::{connect_via, Connector, Purpose};
use crate::error::{Error, ErrorKind, Result};
use crate::sniff::{is_not_tls, Sniffed};
use ftpkit_data::{MaybeTls, SessionTls};

/// The control connection: plain TCP, or TLS over it (the one stream type
/// of [`ftpkit_data::MaybeTls`]).
pub(crate) type ControlStream = MaybeTls<TcpStream, Box<TlsStream<Sniffed>>>;

/// The error of a control connection given away in a failed TLS switch.
fn gone() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "control connection gone")
}

/// Replaces the password in a logged command line.
pub(crate) fn redact(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    let text = text.trim_end_matches(['\r', '\n']);
    let upper = text.get(..5).map(str::to_ascii_uppercase);
    match upper.as_deref() {
        Some("PASS ") | Some("ACCT ") => format!("{}****", text.get(..5).unwrap_or_default()),
        _ => text.to_owned(),
    }
}

/// The I/O half of a client: the stream, its buffer and the session.
#[derive(Debug)]
pub(crate) struct Control {
    /// `None` between the states of a TLS switch, or after a failure
    /// during one.
    stream: Option<ControlStream>,
    pub(crate) session: Session,
    pub(crate) tls: Option<SessionTls>,
    pub(crate) reply_timeout: Duration,
    pub(crate) handshake_timeout: Duration,
    rbuf: Box<[u8]>,
    /// Set while a write is in flight: a write cancelled half-way leaves the
    /// server with half a command, and the connection is unusable.
    writing: bool,
    /// Why the connection is unusable, once it is.
    pub(crate) broken: Option<String>,
    /// This connection's number in the process (1, 2, ...), which tags its
    /// protocol log lines: parallel sessions' traces can be told apart.
    pub(crate) id: u64,
    /// When the last command was written, until the first byte after it.
    sent_at: Option<std::time::Instant>,
    /// The shortest time from a command's write to the first byte after
    /// it: the round-trip time, plus the server's quickest answer.
    pub(crate) round_trip: Option<Duration>,
    /// Round trips so far: writes of commands answered before the next
    /// write (what latency multiplies).
    pub(crate) round_trips: u64,
}

/// Control connections opened so far in the process.
static CONNECTIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl Control {
    pub(crate) fn new(
        stream: ControlStream,
        session: Session,
        tls: Option<SessionTls>,
        reply_timeout: Duration,
        handshake_timeout: Duration,
    ) -> Self {
        Self {
            stream: Some(stream),
            session,
            tls,
            reply_timeout,
            handshake_timeout,
            rbuf: vec![0u8; 16 * 1024].into_boxed_slice(),
            writing: false,
            broken: None,
            id: CONNECTIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1,
            sent_at: None,
            round_trip: None,
            round_trips: 0,
        }
    }

    /// The TLS connection, when the control connection is under TLS.
    pub(crate) fn tls_connection(&self) -> Option<&rustls::ClientConnection> {
        Some(self.stream.as_ref()?.as_tls()?.get_ref().1)
    }

    /// Shuts our side of the connection down (best effort).
    pub(crate) async fn shutdown(&mut self) {
        if let Some(s) = self.stream.as_mut() {
            let _ = s.shutdown().await;
        }
    }

    /// Fails with `Broken` if the connection is unusable.
    pub(crate) fn check(&mut self) -> Result<()> {
        if self.writing {
            self.broken = Some("a command write was interrupted".into());
        }
        match &self.broken {
            Some(why) => Err(Error::broken(why)),
            None => Ok(()),
        }
    }

    /// Marks the connection unusable and passes the error through.
    pub(crate) fn poison(&mut self, e: Error) -> Error {
        if matches!(
            e.kind(),
            ErrorKind::Io
                | ErrorKind::Timeout
                | ErrorKind::Tls
                | ErrorKind::Protocol
                | ErrorKind::Closed
                | ErrorKind::Downgrade
                | ErrorKind::Certificate
        ) && self.broken.is_none()
        {
            self.broken = Some(e.to_string());
        }
        e
    }

    /// Writes everything the session has queued.
    pub(crate) async fn flush(&mut self) -> Result<()> {
        while let Some(bytes) = self.session.poll_transmit() {
            for line in bytes.split_inclusive(|&b| b == b'\n') {
                tracing::debug!(target: "ftpkit::protocol", "[{}] > {}", self.id, redact(line));
            }
            self.writing = true;
            let r = tokio::time::timeout(self.reply_timeout, async {
                let stream = self.stream.as_mut().ok_or_else(gone)?;
                stream.write_all(&bytes).await?;
                stream.flush().await
            })
            .await;
            match r {
                Err(_) => return Err(self.poison(Error::timeout("sending a command"))),
                Ok(Err(e)) => return Err(self.poison(Error::from_io("sending a command", e))),
                Ok(Ok(())) => {
                    self.writing = false;
                    self.sent_at = Some(std::time::Instant::now());
                }
            }
        }
        Ok(())
    }

    /// Reads once, before `deadline`, and feeds the session.
    async fn read_once(&mut self, deadline: tokio::time::Instant) -> Result<()> {
        let read = async {
            match self.stream.as_mut() {
                Some(s) => s.read(&mut self.rbuf).await,
                None => Err(gone()),
            }
        };
        let n = match tokio::time::timeout_at(deadline, read).await {
            Err(_) => return Err(self.poison(Error::timeout("a reply"))),
            Ok(Err(e)) => {
                let seen = self
                    .stream
                    .as_ref()
                    .and_then(MaybeTls::as_tls)
                    .and_then(|t| t.get_ref().0.plaintext_reply());
                return Err(self.poison(tls_read_error("reading a reply", e, seen)));
            }
            Ok(Ok(n)) => n,
        };
        if let (Some(at), true) = (self.sent_at.take(), n > 0) {
            self.round_trips += 1;
            let sample = at.elapsed();
            self.round_trip = Some(self.round_trip.map_or(sample, |r| r.min(sample)));
        }
        if n == 0 {
            let r = self.session.handle_eof();
            return r.map_err(|e| self.poison(e.into()));
        }
        let data = self.rbuf.get(..n).unwrap_or_default();
        for line in data.split_inclusive(|&b| b == b'\n') {
            tracing::debug!(target: "ftpkit::protocol", "[{}] < {}", self.id, String::from_utf8_lossy(line).trim_end());
        }
        let r = self.session.handle_input(data);
        r.map_err(|e| self.poison(e.into()))
    }

    /// Runs the connection until the session has an event for the caller.
    /// TLS switches (`StartTls`, `StopTls`) are handled here, and
    /// informational 1yz replies (`120`, `110`...) are logged and absorbed.
    ///
    /// One reply deadline covers the whole wait: a server that drips a
    /// reply byte by byte, or sends preliminary replies forever, is cut off
    /// when it passes.
    ///
    /// Cancel-safe when nothing is queued for sending: it then only reads,
    /// and reads are cancel-safe.
    pub(crate) async fn next_event(&mut self) -> Result<Event> {
        let mut deadline = tokio::time::Instant::now() + self.reply_timeout;
        loop {
            self.flush().await?;
            if let Some(ev) = self.session.poll_event() {
                match ev {
                    Event::StartTls => {
                        self.start_tls().await?;
                        let r = self.session.tls_established();
                        r.map_err(|e| self.poison(e.into()))?;
                        // The handshake had its own deadline; the next reply
                        // gets a full one.
                        deadline = tokio::time::Instant::now() + self.reply_timeout;
                        continue;
                    }
                    Event::StopTls => {
                        self.stop_tls().await?;
                        deadline = tokio::time::Instant::now() + self.reply_timeout;
                        continue;
                    }
                    Event::Preliminary(r) => {
                        tracing::debug!(reply = %r, "preliminary reply");
                        continue;
                    }
                    other => return Ok(other),
                }
            }
            if !self.session.wants_input() {
                return Err(Error::new(ErrorKind::Misuse, "no reply is outstanding"));
            }
            self.read_once(deadline).await?;
        }
    }

    /// Runs the TLS handshake on the control connection.
    pub(crate) async fn start_tls(&mut self) -> Result<()> {
        let Some(tls) = self.tls.clone() else {
            return Err(self.poison(Error::new(
                ErrorKind::Tls,
                "TLS requested but no TLS context",
            )));
        };
        let Some(MaybeTls::Plain(tcp)) = self.stream.take() else {
            return Err(self.poison(Error::new(ErrorKind::Misuse, "TLS is already active")));
        };
        let connector = TlsConnector::from(tls.control_config());
        let r = tokio::time::timeout(
            self.handshake_timeout,
            connector
                .connect(tls.server_name().clone(), Sniffed::new(tcp))
                .into_fallible(),
        )
        .await;
        match r {
            Err(_) => Err(self.poison(Error::timeout("the TLS handshake"))),
            Ok(Err((e, tcp))) => {
                let seen = tcp.plaintext_reply();
                Err(self.poison(tls_read_error("TLS handshake", e, seen)))
            }
            Ok(Ok(s)) => {
                let (_, conn) = s.get_ref();
                tracing::debug!(version = ?conn.protocol_version(), suite = ?conn.negotiated_cipher_suite().map(|s| s.suite()), "control connection secured");
                self.stream = Some(MaybeTls::Tls(Box::new(s)));
                Ok(())
            }
        }
    }

    /// Drops TLS after CCC: close_notify both ways, then plain TCP.
    async fn stop_tls(&mut self) -> Result<()> {
        let Some(MaybeTls::Tls(mut tls)) = self.stream.take() else {
            return Err(self.poison(Error::new(ErrorKind::Misuse, "TLS is not active")));
        };
        let r = tokio::time::timeout(self.reply_timeout, async {
            tls.get_mut().1.send_close_notify();
            tls.flush().await?;
            let mut scratch = [0u8; 512];
            // Wait for the server's close_notify (read returns 0).
            while tls.read(&mut scratch).await? != 0 {}
            io::Result::Ok(())
        })
        .await;
        match r {
            Err(_) => Err(self.poison(Error::timeout("the server's close_notify after CCC"))),
            Ok(Err(e)) => Err(self.poison(Error::from_io("CCC", e))),
            Ok(Ok(())) => {
                let (tcp, _) = tls.into_inner();
                self.stream = Some(MaybeTls::Plain(tcp.into_inner()));
                Ok(())
            }
        }
    }
}

/// A read error on the TLS control connection; when TLS failed because
/// the server wrote a plaintext reply (`seen`), the error quotes it.
fn tls_read_error(what: &str, e: io::Error, seen: Option<String>) -> Error {
    match seen.filter(|_| is_not_tls(&e)) {
        Some(line) => Error::new(
            ErrorKind::Tls,
            format!("{what}: the server sent plaintext instead of TLS: {line}"),
        ),
        None => Error::from_io(what, e),
    }
}

/// Opens the control connection to `host:port` with a deadline: through
/// `connector` when one is set (the host goes to it by name, so a proxy
/// resolves it), else direct TCP.
pub(crate) async fn connect_tcp(
    connector: Option<&dyn Connector>,
    host: &str,
    port: u16,
    deadline: Duration,
) -> Result<TcpStream> {
    if let Some(connector) = connector {
        return connect_via(connector, host, port, Purpose::Control, deadline).await;
    }
    let s = tokio::time::timeout(deadline, TcpStream::connect((host, port)))
        .await
        .map_err(|_| Error::timeout("the TCP connection"))?
        .map_err(|e| Error::from_io(&format!("connecting to {host}:{port}"), e))?;
    s.set_nodelay(true)
        .map_err(|e| Error::from_io("TCP_NODELAY", e))?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact(b"PASS hunter2\r\n"), "PASS ****");
        assert_eq!(redact(b"pass hunter2\r\n"), "pass ****");
        assert_eq!(redact(b"ACCT secret\r\n"), "ACCT ****");
        assert_eq!(redact(b"USER bob\r\n"), "USER bob");
    }
}
