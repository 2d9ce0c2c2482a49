//! What the server saw and did: [`Transcript`], its [`Entry`]s and [`Event`]s,
//! recorded command lines ([`CommandLine`]), TLS facts ([`TlsInfo`]) and
//! script failures ([`ScriptError`]).

use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::pki_types::CertificateDer;

/// One command line received on the control connection, byte for byte.
#[derive(Clone, PartialEq, Eq)]
pub struct CommandLine {
    raw: Vec<u8>,
}

impl CommandLine {
    /// Wraps raw bytes (normally including the line terminator).
    pub fn new(raw: impl Into<Vec<u8>>) -> Self {
        Self { raw: raw.into() }
    }

    /// The bytes exactly as received, terminator included.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// The line without its trailing `\r\n` or `\n`.
    pub fn line(&self) -> &[u8] {
        let mut l = &self.raw[..];
        if let Some(rest) = l.strip_suffix(b"\n") {
            l = rest;
            if let Some(rest) = l.strip_suffix(b"\r") {
                l = rest;
            }
        }
        l
    }

    /// [`line`](Self::line) as (lossy) UTF-8 text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(self.line()).into_owned()
    }

    /// The first space-separated word, upper-cased (`"user"` → `"USER"`).
    pub fn verb(&self) -> String {
        let line = self.line();
        let end = line.iter().position(|&b| b == b' ').unwrap_or(line.len());
        String::from_utf8_lossy(&line[..end]).to_ascii_uppercase()
    }

    /// Everything after the first space, if there is a space.
    pub fn argument(&self) -> Option<String> {
        let line = self.line();
        let pos = line.iter().position(|&b| b == b' ')?;
        Some(String::from_utf8_lossy(&line[pos + 1..]).into_owned())
    }

    /// Whether the line ended in `\r\n` (as RFC 959 requires) rather than a bare `\n`.
    pub fn is_crlf_terminated(&self) -> bool {
        self.raw.ends_with(b"\r\n")
    }
}

impl fmt::Debug for CommandLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(&self.raw))
    }
}

/// How a connection was closed (by the server, or requested of it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseKind {
    /// TLS `close_notify` (when TLS is up), then TCP FIN.
    Graceful,
    /// TCP FIN without any TLS `close_notify`.
    Abrupt,
    /// TCP RST (`SO_LINGER` 0).
    Reset,
}

/// How the client ended a connection, as seen by the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerClose {
    /// Plain TCP FIN on a connection without TLS.
    Fin,
    /// TLS `close_notify` received.
    CloseNotify,
    /// TCP closed under TLS without a `close_notify` (possible truncation).
    NoCloseNotify,
    /// The connection was reset or failed with another I/O error.
    Reset,
}

/// Facts about one completed server-side TLS handshake.
#[derive(Clone, Debug, PartialEq)]
pub struct TlsInfo {
    /// Negotiated protocol version.
    pub protocol_version: Option<rustls::ProtocolVersion>,
    /// Negotiated cipher suite.
    pub cipher_suite: Option<rustls::CipherSuite>,
    /// Full, full with HelloRetryRequest, or resumed.
    pub handshake_kind: Option<rustls::HandshakeKind>,
    /// The SNI host name the client sent, if any.
    pub sni: Option<String>,
    /// The negotiated ALPN protocol, if any.
    pub alpn: Option<Vec<u8>>,
    /// The client's certificate chain (end entity first), if it sent one.
    pub client_certificates: Vec<CertificateDer<'static>>,
}

impl TlsInfo {
    pub(crate) fn from_connection(conn: &rustls::ServerConnection) -> Self {
        Self {
            protocol_version: conn.protocol_version(),
            cipher_suite: conn.negotiated_cipher_suite().map(|s| s.suite()),
            handshake_kind: conn.handshake_kind(),
            sni: conn.server_name().map(str::to_owned),
            alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
            client_certificates: conn
                .peer_certificates()
                .map(|c| c.iter().map(|c| c.clone().into_owned()).collect())
                .unwrap_or_default(),
        }
    }

    /// Whether the handshake resumed an earlier TLS session.
    pub fn resumed(&self) -> bool {
        self.handshake_kind == Some(rustls::HandshakeKind::Resumed)
    }

    /// Whether TLS 1.3 was negotiated.
    pub fn is_tls13(&self) -> bool {
        self.protocol_version == Some(rustls::ProtocolVersion::TLSv1_3)
    }

    /// Whether TLS 1.2 was negotiated.
    pub fn is_tls12(&self) -> bool {
        self.protocol_version == Some(rustls::ProtocolVersion::TLSv1_2)
    }
}

/// One accepted (passive) or established (active) data connection.
#[derive(Clone, Debug, PartialEq)]
pub struct DataConnection {
    /// The client's end.
    pub peer: SocketAddr,
    /// The server's end.
    pub local: SocketAddr,
    /// `true` when the server connected out (PORT/EPRT), `false` for PASV/EPSV.
    pub active: bool,
    /// The TLS handshake facts, when the data connection is protected.
    pub tls: Option<TlsInfo>,
}

/// Something the scripted server saw or did.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// A control connection was accepted.
    Connected {
        /// The client's address.
        peer: SocketAddr,
    },
    /// A command line arrived on the control connection.
    Command(CommandLine),
    /// Bytes were written on the control connection.
    Sent(Vec<u8>),
    /// Bytes without a line terminator were pending when the client closed.
    PartialLine(Vec<u8>),
    /// Plaintext bytes already received when the control TLS handshake began
    /// (fed into the handshake; a well-behaved client sends none).
    PipelinedBeforeTls(Vec<u8>),
    /// The control connection's TLS handshake completed.
    TlsEstablished(TlsInfo),
    /// The control connection's TLS handshake failed (and that was allowed).
    TlsFailed {
        /// The handshake error.
        error: String,
    },
    /// A passive data listener was opened.
    DataListening {
        /// The listener's (loopback) address.
        addr: SocketAddr,
    },
    /// A data connection was accepted or made (after its TLS handshake, if any).
    DataConnected(DataConnection),
    /// A data connection's TLS handshake failed (and that was allowed).
    DataTlsFailed {
        /// The handshake error.
        error: String,
    },
    /// No data connection arrived in the window where none was expected.
    NoDataConnection,
    /// Bytes were written on the data connection.
    DataSent(usize),
    /// The data connection was read to its end.
    DataReceived {
        /// Everything read.
        bytes: Vec<u8>,
        /// How the client ended it.
        close: PeerClose,
    },
    /// The server closed the data connection.
    DataClosed(CloseKind),
    /// An active-mode address outside loopback was not connected to.
    ActiveConnectRefused {
        /// The address the client asked for.
        addr: SocketAddr,
    },
    /// The client closed the control connection.
    ClientClosed(PeerClose),
    /// The server closed the control connection.
    ServerClosed(CloseKind),
    /// The session's script ran to its end (or stopped early as allowed).
    Finished,
    /// A script failure; the session stopped here.
    Error(ScriptError),
}

/// A script failure, returned in the transcript instead of panicking.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ScriptError {
    /// A step waited longer than its time-out.
    #[error("{step}: timed out after {after:?}")]
    Timeout {
        /// The step (index and description).
        step: String,
        /// How long it waited.
        after: Duration,
    },
    /// A command arrived that the step did not expect.
    #[error("{step}: expected {expected}, got {got:?}")]
    UnexpectedCommand {
        /// The step (index and description).
        step: String,
        /// What the step wanted.
        expected: String,
        /// What arrived.
        got: CommandLine,
    },
    /// The client closed the control connection too early.
    #[error("{step}: client closed the control connection ({close:?})")]
    UnexpectedEof {
        /// The step (index and description).
        step: String,
        /// How it closed.
        close: PeerClose,
    },
    /// A data connection arrived where none was expected.
    #[error("{step}: unexpected data connection from {peer}")]
    UnexpectedDataConnection {
        /// The step (index and description).
        step: String,
        /// Who connected.
        peer: SocketAddr,
    },
    /// An I/O error.
    #[error("{step}: I/O error: {message}")]
    Io {
        /// The step (index and description).
        step: String,
        /// The error text.
        message: String,
    },
    /// A TLS handshake failed where it had to succeed.
    #[error("{step}: TLS handshake failed: {message}")]
    Tls {
        /// The step (index and description).
        step: String,
        /// The error text.
        message: String,
    },
    /// A TLS handshake succeeded where it had to fail.
    #[error("{step}: TLS handshake succeeded but was expected to fail")]
    TlsSucceeded {
        /// The step (index and description).
        step: String,
    },
    /// A data TLS handshake did not resume a session although the step required it.
    #[error("{step}: data TLS handshake was not resumed ({kind:?})")]
    NotResumed {
        /// The step (index and description).
        step: String,
        /// The handshake kind seen.
        kind: Option<rustls::HandshakeKind>,
    },
    /// An active-mode address outside loopback; nothing was connected to.
    #[error("{step}: refused to connect to non-loopback address {addr}")]
    ActiveConnectRefused {
        /// The step (index and description).
        step: String,
        /// The address the client asked for.
        addr: SocketAddr,
    },
    /// The script cannot run this step (no listener, no TLS configured, bad PORT...).
    #[error("{step}: {message}")]
    Setup {
        /// The step (index and description).
        step: String,
        /// What is missing.
        message: String,
    },
    /// The client sent a command after the script had ended.
    #[error("command after the end of the script: {got:?}")]
    CommandAfterScript {
        /// What arrived.
        got: CommandLine,
    },
    /// No client connected for this session in time.
    #[error("no client connected within {after:?}")]
    NoClient {
        /// How long the server waited.
        after: Duration,
    },
    /// The server task itself failed (a bug in the test kit).
    #[error("internal error: {0}")]
    Internal(String),
}

/// One recorded [`Event`], with the session it belongs to and when it happened.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// Index of the control connection (0 for the first accepted one).
    pub session: usize,
    /// Time since the server started.
    pub elapsed: Duration,
    /// What happened.
    pub event: Event,
}

/// The chronological record of everything the server saw and did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Transcript {
    entries: Vec<Entry>,
}

impl Transcript {
    /// All entries, oldest first.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// All events, oldest first.
    pub fn events(&self) -> impl Iterator<Item = &Event> + '_ {
        self.entries.iter().map(|e| &e.event)
    }

    /// Only the entries of control connection `index` (0-based).
    pub fn session(&self, index: usize) -> Transcript {
        Transcript {
            entries: self
                .entries
                .iter()
                .filter(|e| e.session == index)
                .cloned()
                .collect(),
        }
    }

    /// Every received command line, as recorded.
    pub fn command_lines(&self) -> Vec<&CommandLine> {
        self.events()
            .filter_map(|e| match e {
                Event::Command(c) => Some(c),
                _ => None,
            })
            .collect()
    }

    /// Every received command line as text without its terminator
    /// (e.g. `["USER anonymous", "PASS x"]`).
    pub fn commands(&self) -> Vec<String> {
        self.command_lines().iter().map(|c| c.text()).collect()
    }

    /// The upper-cased verbs of every received command (e.g. `["USER", "PASS"]`).
    pub fn verbs(&self) -> Vec<String> {
        self.command_lines().iter().map(|c| c.verb()).collect()
    }

    /// All script errors (empty when the script ran as written).
    pub fn errors(&self) -> Vec<&ScriptError> {
        self.events()
            .filter_map(|e| match e {
                Event::Error(err) => Some(err),
                _ => None,
            })
            .collect()
    }

    /// Whether no script error was recorded.
    pub fn is_ok(&self) -> bool {
        self.errors().is_empty()
    }

    /// Panics with the whole transcript if any script error was recorded.
    #[track_caller]
    pub fn assert_ok(&self) {
        if !self.is_ok() {
            panic!("scripted server reported errors:\n{self}");
        }
    }

    /// Every data connection, in order.
    pub fn data_connections(&self) -> Vec<&DataConnection> {
        self.events()
            .filter_map(|e| match e {
                Event::DataConnected(d) => Some(d),
                _ => None,
            })
            .collect()
    }

    /// The bytes of each `data_recv_to_end` step, in order.
    pub fn data_received(&self) -> Vec<&[u8]> {
        self.events()
            .filter_map(|e| match e {
                Event::DataReceived { bytes, .. } => Some(&bytes[..]),
                _ => None,
            })
            .collect()
    }

    /// Every completed control-connection TLS handshake.
    pub fn control_tls(&self) -> Vec<&TlsInfo> {
        self.events()
            .filter_map(|e| match e {
                Event::TlsEstablished(t) => Some(t),
                _ => None,
            })
            .collect()
    }

    /// Whether any event matches `pred`.
    pub fn has(&self, pred: impl Fn(&Event) -> bool) -> bool {
        self.events().any(pred)
    }
}

impl fmt::Display for Transcript {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.entries {
            let ms = e.elapsed.as_secs_f64() * 1000.0;
            write!(f, "[s{} {ms:>9.1}ms] ", e.session)?;
            match &e.event {
                Event::Command(c) => writeln!(f, "C> {:?}", String::from_utf8_lossy(c.raw()))?,
                Event::Sent(b) => writeln!(f, "S> {:?}", preview(b))?,
                Event::Error(err) => writeln!(f, "ERROR {err}")?,
                Event::DataReceived { bytes, close } => writeln!(
                    f,
                    "DataReceived {} bytes ({close:?}): {:?}",
                    bytes.len(),
                    preview(bytes)
                )?,
                other => writeln!(f, "{other:?}")?,
            }
        }
        Ok(())
    }
}

fn preview(b: &[u8]) -> String {
    const MAX: usize = 200;
    let s = String::from_utf8_lossy(&b[..b.len().min(MAX)]).into_owned();
    if b.len() > MAX {
        format!("{s}... ({} bytes)", b.len())
    } else {
        s
    }
}

/// Shared, append-only log handle used by the server tasks.
#[derive(Clone)]
pub(crate) struct Recorder {
    pub(crate) session: usize,
    start: Instant,
    log: Arc<Mutex<Vec<Entry>>>,
}

impl Recorder {
    pub(crate) fn new(start: Instant, log: Arc<Mutex<Vec<Entry>>>) -> Self {
        Self {
            session: 0,
            start,
            log,
        }
    }

    pub(crate) fn for_session(&self, session: usize) -> Self {
        Self {
            session,
            ..self.clone()
        }
    }

    pub(crate) fn push(&self, event: Event) {
        let entry = Entry {
            session: self.session,
            elapsed: self.start.elapsed(),
            event,
        };
        self.log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(entry);
    }

    pub(crate) fn snapshot(log: &Mutex<Vec<Entry>>) -> Transcript {
        Transcript {
            entries: log
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
        }
    }
}
