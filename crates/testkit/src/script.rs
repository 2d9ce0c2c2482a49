//! The script DSL: [`Script`] and the small enums its steps take
//! ([`TlsExpect`], [`DataProtection`]), plus reply formatting helpers
//! ([`pasv_reply`], [`epsv_reply`]) and [`StepContext`] for computed replies.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::transcript::{CloseKind, CommandLine};

/// The default time-out of every waiting step (expect, accept, handshake...).
pub const DEFAULT_STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// The default time the server keeps reading after the script's end, waiting
/// for the client to close (see [`Script::linger`]).
pub const DEFAULT_LINGER: Duration = Duration::from_secs(1);

/// What a TLS handshake step requires of the outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TlsExpect {
    /// The handshake must complete; a failure is a script error.
    #[default]
    Success,
    /// The handshake must fail (e.g. the client rejects the certificate);
    /// success is a script error. A failure is recorded as an event.
    Failure,
    /// Either outcome is fine; it is recorded as an event.
    Either,
}

/// Whether data connections get TLS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DataProtection {
    /// TLS when the last `PROT` command of this session was `PROT P`.
    #[default]
    Auto,
    /// Never TLS.
    Clear,
    /// Always TLS.
    Private,
}

/// What a computed reply ([`Script::send_with`]) may use.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct StepContext {
    /// Local address of the open passive listener, or of the current data connection.
    pub data_addr: Option<SocketAddr>,
    /// The most recent command line received in this session.
    pub last_command: Option<CommandLine>,
    /// The server's end of the control connection.
    pub control_local: SocketAddr,
}

/// `227 Entering Passive Mode (h1,h2,h3,h4,p1,p2).\r\n`
pub fn pasv_reply(host: [u8; 4], port: u16) -> String {
    let [h1, h2, h3, h4] = host;
    format!(
        "227 Entering Passive Mode ({h1},{h2},{h3},{h4},{},{}).\r\n",
        port >> 8,
        port & 0xff
    )
}

/// `229 Entering Extended Passive Mode (|||port|)\r\n`
pub fn epsv_reply(port: u16) -> String {
    format!("229 Entering Extended Passive Mode (|||{port}|)\r\n")
}

type Compute = Arc<dyn Fn(&StepContext) -> Vec<u8> + Send + Sync>;
type Predicate = Arc<dyn Fn(&CommandLine) -> bool + Send + Sync>;

#[derive(Clone)]
pub(crate) enum Expect {
    Verb(String),
    Line(Vec<u8>),
    Any,
    Matching(String, Predicate),
}

impl Expect {
    pub(crate) fn matches(&self, c: &CommandLine) -> bool {
        match self {
            Expect::Verb(v) => c.verb().eq_ignore_ascii_case(v),
            Expect::Line(l) => c.line() == &l[..],
            Expect::Any => true,
            Expect::Matching(_, p) => p(c),
        }
    }
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expect::Verb(v) => write!(f, "verb {v:?}"),
            Expect::Line(l) => write!(f, "line {:?}", String::from_utf8_lossy(l)),
            Expect::Any => write!(f, "any command"),
            Expect::Matching(d, _) => write!(f, "command matching {d}"),
        }
    }
}

#[derive(Clone)]
pub(crate) enum Step {
    Send(Vec<u8>),
    SendWith(Compute),
    Expect(Expect),
    ExpectEof,
    ExpectSilence(Duration),
    Delay(Duration),
    Stall,
    Tls {
        before: Vec<u8>,
        expect: TlsExpect,
    },
    CloseControl(CloseKind),
    PassiveListen {
        v6: bool,
    },
    ReplyPasv {
        host: Option<[u8; 4]>,
    },
    ReplyEpsv,
    SetProtection(DataProtection),
    DataAccept {
        tls: TlsExpect,
        require_resumed: bool,
    },
    DataExpectNone(Duration),
    ActiveConnect {
        tls: TlsExpect,
        require_resumed: bool,
    },
    DataSend {
        bytes: Vec<u8>,
        chunk: Option<(usize, Duration)>,
        /// Times `bytes` is written (a large listing without holding it).
        repeat: usize,
    },
    DataRecvToEnd,
    DataClose(CloseKind),
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Send(b) => write!(f, "send {:?}", short(b)),
            Step::SendWith(_) => write!(f, "send_with"),
            Step::Expect(e) => write!(f, "expect {e}"),
            Step::ExpectEof => write!(f, "expect_eof"),
            Step::ExpectSilence(d) => write!(f, "expect_silence {d:?}"),
            Step::Delay(d) => write!(f, "delay {d:?}"),
            Step::Stall => write!(f, "stall"),
            Step::Tls { before, expect } => {
                write!(f, "tls handshake ({expect:?}) after {:?}", short(before))
            }
            Step::CloseControl(k) => write!(f, "close control ({k:?})"),
            Step::PassiveListen { v6 } => write!(f, "passive_listen (v6: {v6})"),
            Step::ReplyPasv { host } => write!(f, "reply_pasv (host {host:?})"),
            Step::ReplyEpsv => write!(f, "reply_epsv"),
            Step::SetProtection(p) => write!(f, "data_protection {p:?}"),
            Step::DataAccept {
                tls,
                require_resumed,
            } => write!(
                f,
                "data_accept (tls {tls:?}, require_resumed {require_resumed})"
            ),
            Step::DataExpectNone(d) => write!(f, "data_expect_none {d:?}"),
            Step::ActiveConnect {
                tls,
                require_resumed,
            } => write!(
                f,
                "active_connect (tls {tls:?}, require_resumed {require_resumed})"
            ),
            Step::DataSend { bytes, repeat, .. } => {
                write!(f, "data_send {} bytes", bytes.len() * repeat)
            }
            Step::DataRecvToEnd => write!(f, "data_recv_to_end"),
            Step::DataClose(k) => write!(f, "data_close ({k:?})"),
        }
    }
}

fn short(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(&b[..b.len().min(60)]).into_owned();
    if b.len() > 60 {
        format!("{s}...({} bytes)", b.len())
    } else {
        s
    }
}

/// The behaviour of the server on one control connection, step by step.
///
/// Steps run strictly in order. Each waiting step gives up after the
/// script's [`timeout`](Self::timeout) (default [`DEFAULT_STEP_TIMEOUT`]) and
/// records a [`ScriptError`](crate::ScriptError); the first error stops the
/// session and drops its connections. When the last step has run, the server
/// closes the control connection gracefully, then keeps reading until the
/// client closes, for at most [`linger`](Self::linger) (default 1 s): any
/// command arriving then is a
/// [`ScriptError::CommandAfterScript`](crate::ScriptError::CommandAfterScript).
#[derive(Clone)]
pub struct Script {
    pub(crate) steps: Vec<Step>,
    pub(crate) timeout: Duration,
    pub(crate) linger: Duration,
}

impl Default for Script {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Script {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let steps: Vec<String> = self.steps.iter().map(ToString::to_string).collect();
        f.debug_struct("Script")
            .field("timeout", &self.timeout)
            .field("linger", &self.linger)
            .field("steps", &steps)
            .finish()
    }
}

impl Script {
    /// An empty script (the server accepts, then closes at once).
    pub fn new() -> Self {
        Self {
            steps: Vec::new(),
            timeout: DEFAULT_STEP_TIMEOUT,
            linger: DEFAULT_LINGER,
        }
    }

    /// A script for implicit FTPS: starts with a TLS handshake on the first byte.
    pub fn implicit_tls() -> Self {
        Self::new().start_tls()
    }

    /// The usual opening of a client test: the greeting `220 scripted`,
    /// `USER user` (331), `PASS password` (230), `FEAT` answered with
    /// `feat_reply` (a whole reply, CRLF included), and `TYPE I` (200).
    pub fn logged_in(user: &str, password: &str, feat_reply: impl AsRef<[u8]>) -> Self {
        Self::new()
            .send("220 scripted\r\n")
            .login(user, password)
            .features_then_binary(feat_reply)
    }

    /// As [`Script::logged_in`] over explicit TLS: `AUTH TLS` (234) and the
    /// handshake first, `PBSZ 0` and `PROT P` (200 each) after the login.
    pub fn logged_in_tls(user: &str, password: &str, feat_reply: impl AsRef<[u8]>) -> Self {
        Self::new()
            .send("220 scripted\r\n")
            .expect_line("AUTH TLS")
            .reply("234 go\r\n")
            .start_tls()
            .login(user, password)
            .expect_line("PBSZ 0")
            .reply("200 ok\r\n")
            .expect_line("PROT P")
            .reply("200 ok\r\n")
            .features_then_binary(feat_reply)
    }

    /// `USER user` answered 331, then `PASS password` answered 230.
    pub fn login(self, user: &str, password: &str) -> Self {
        self.expect_line(format!("USER {user}"))
            .reply("331 pw\r\n")
            .expect_line(format!("PASS {password}"))
            .reply("230 in\r\n")
    }

    /// `FEAT` answered with `feat_reply`, then `TYPE I` answered 200: what
    /// a client does right after its login.
    fn features_then_binary(self, feat_reply: impl AsRef<[u8]>) -> Self {
        self.expect("FEAT")
            .reply(feat_reply)
            .expect_line("TYPE I")
            .reply("200 binary\r\n")
    }

    /// A multi-line FEAT reply listing `lines` (each ` NAME\r\n`).
    pub fn feat_reply(lines: &str) -> String {
        format!("211-Features:\r\n{lines}211 End\r\n")
    }

    /// Sets how long each waiting step may wait (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets how long the server keeps reading after the last step, until the
    /// client closes (default 1 s). Commands arriving then are errors; a client
    /// still connected afterwards is not. For a strict check use
    /// [`expect_eof`](Self::expect_eof) as the last step.
    pub fn linger(mut self, linger: Duration) -> Self {
        self.linger = linger;
        self
    }

    /// Number of steps so far.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Whether the script has no steps.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    fn step(mut self, s: Step) -> Self {
        self.steps.push(s);
        self
    }

    // ----- control connection: writing -----

    /// Writes these raw bytes on the control connection in one write
    /// (anything goes: NUL, bare LF, huge lines, several replies at once).
    pub fn send(self, bytes: impl AsRef<[u8]>) -> Self {
        self.step(Step::Send(bytes.as_ref().to_vec()))
    }

    /// Same as [`send`](Self::send); reads better for replies.
    pub fn reply(self, bytes: impl AsRef<[u8]>) -> Self {
        self.send(bytes)
    }

    /// Writes bytes computed when the step runs (e.g. from the data port).
    pub fn send_with(self, f: impl Fn(&StepContext) -> Vec<u8> + Send + Sync + 'static) -> Self {
        self.step(Step::SendWith(Arc::new(f)))
    }

    /// Writes these bytes (e.g. half a reply), then [`stall`](Self::stall)s.
    pub fn send_partial(self, bytes: impl AsRef<[u8]>) -> Self {
        self.send(bytes).stall()
    }

    /// Writes each part separately, waiting `gap` between writes
    /// (a reply split across TCP segments).
    pub fn send_split(mut self, parts: &[&[u8]], gap: Duration) -> Self {
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                self = self.delay(gap);
            }
            self = self.send(p);
        }
        self
    }

    // ----- control connection: reading -----

    /// Waits for one command line whose verb is `verb` (case-insensitive).
    pub fn expect(self, verb: &str) -> Self {
        self.step(Step::Expect(Expect::Verb(verb.to_owned())))
    }

    /// Waits for one command line equal to `line` (without its terminator; exact bytes).
    pub fn expect_line(self, line: impl AsRef<[u8]>) -> Self {
        self.step(Step::Expect(Expect::Line(line.as_ref().to_vec())))
    }

    /// Waits for one command line, whatever it is.
    pub fn expect_any(self) -> Self {
        self.step(Step::Expect(Expect::Any))
    }

    /// Waits for one command line accepted by `pred`; `description` names it in errors.
    pub fn expect_matching(
        self,
        description: &str,
        pred: impl Fn(&CommandLine) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.step(Step::Expect(Expect::Matching(
            description.to_owned(),
            Arc::new(pred),
        )))
    }

    /// Waits for the client to close the control connection; any command
    /// arriving first is a script error.
    pub fn expect_eof(self) -> Self {
        self.step(Step::ExpectEof)
    }

    /// Requires that no command arrives for `window` (the client closing is fine).
    pub fn expect_silence(self, window: Duration) -> Self {
        self.step(Step::ExpectSilence(window))
    }

    // ----- timing -----

    /// Sleeps.
    pub fn delay(self, d: Duration) -> Self {
        self.step(Step::Delay(d))
    }

    /// Never responds again: reads and records commands until the client
    /// closes, which ends the session. Not closing within the time-out is an error.
    pub fn stall(self) -> Self {
        self.step(Step::Stall)
    }

    // ----- TLS on the control connection -----

    /// TLS handshake as server on the control connection now (after sending
    /// `234`; as the first step, implicit FTPS). Must succeed.
    pub fn start_tls(self) -> Self {
        self.start_tls_with(TlsExpect::Success)
    }

    /// TLS handshake that must fail (e.g. the client rejects the certificate);
    /// the session ends after the failure.
    pub fn start_tls_expect_failure(self) -> Self {
        self.start_tls_with(TlsExpect::Failure)
    }

    /// TLS handshake with the given expectation. If it fails (and that is
    /// allowed), the session ends there.
    pub fn start_tls_with(self, expect: TlsExpect) -> Self {
        self.step(Step::Tls {
            before: Vec::new(),
            expect,
        })
    }

    /// Hostile: writes `reply` and `extra` in one write (bytes after `234`
    /// that the client must not treat as TLS), then attempts the handshake;
    /// either outcome is recorded and allowed.
    pub fn send_then_tls(self, reply: impl AsRef<[u8]>, extra: impl AsRef<[u8]>) -> Self {
        let mut before = reply.as_ref().to_vec();
        before.extend_from_slice(extra.as_ref());
        self.step(Step::Tls {
            before,
            expect: TlsExpect::Either,
        })
    }

    // ----- closing the control connection -----

    /// TLS `close_notify` (if TLS), FIN, then read (and record) until the
    /// client closes, for at most [`linger`](Self::linger).
    pub fn close(self) -> Self {
        self.step(Step::CloseControl(CloseKind::Graceful))
    }

    /// Drops the control connection abruptly (FIN, no TLS `close_notify`).
    pub fn disconnect(self) -> Self {
        self.step(Step::CloseControl(CloseKind::Abrupt))
    }

    /// Resets the control connection (RST via `SO_LINGER` 0).
    pub fn reset(self) -> Self {
        self.step(Step::CloseControl(CloseKind::Reset))
    }

    // ----- passive data connections -----

    /// Opens a data listener on `127.0.0.1:0` (replacing any open one).
    pub fn passive_listen(self) -> Self {
        self.step(Step::PassiveListen { v6: false })
    }

    /// Opens a data listener on `[::1]:0` (replacing any open one).
    pub fn passive_listen_v6(self) -> Self {
        self.step(Step::PassiveListen { v6: true })
    }

    /// Sends `227 Entering Passive Mode (127,0,0,1,p1,p2).` with the listener's
    /// real port, opening a `127.0.0.1:0` listener first if none is open.
    pub fn reply_pasv(self) -> Self {
        self.step(Step::ReplyPasv { host: None })
    }

    /// Like [`reply_pasv`](Self::reply_pasv) but advertises `host` while still
    /// listening on `127.0.0.1`. A client that trusts the advertised host
    /// connects there: prefer `[127, 0, 0, 2]` (loopback, nothing listens, the
    /// connection is refused) over any address off this machine.
    pub fn reply_pasv_with_host(self, host: [u8; 4]) -> Self {
        self.step(Step::ReplyPasv { host: Some(host) })
    }

    /// Sends `229 Entering Extended Passive Mode (|||port|)` with the listener's
    /// real port, opening a `127.0.0.1:0` listener first if none is open.
    pub fn reply_epsv(self) -> Self {
        self.step(Step::ReplyEpsv)
    }

    /// Sets whether data connections get TLS (default [`DataProtection::Auto`]).
    pub fn data_protection(self, p: DataProtection) -> Self {
        self.step(Step::SetProtection(p))
    }

    /// Accepts one data connection on the listener (then closes the listener),
    /// with a TLS handshake when data protection is on; records whether it resumed.
    pub fn data_accept(self) -> Self {
        self.step(Step::DataAccept {
            tls: TlsExpect::Success,
            require_resumed: false,
        })
    }

    /// [`data_accept`](Self::data_accept), and a TLS handshake that does not
    /// resume a session is a script error (like vsftpd's `require_ssl_reuse`).
    pub fn data_accept_require_resumption(self) -> Self {
        self.step(Step::DataAccept {
            tls: TlsExpect::Success,
            require_resumed: true,
        })
    }

    /// [`data_accept`](Self::data_accept) with the given TLS expectation; an
    /// allowed failure is recorded and leaves no data connection.
    pub fn data_accept_with(self, tls: TlsExpect) -> Self {
        self.step(Step::DataAccept {
            tls,
            require_resumed: false,
        })
    }

    /// Requires that no data connection arrives on the listener within `window`.
    pub fn data_expect_none(self, window: Duration) -> Self {
        self.step(Step::DataExpectNone(window))
    }

    // ----- active data connections -----

    /// Connects to the address of the session's last `PORT`/`EPRT` command
    /// (loopback only: anything else is refused, recorded as
    /// [`Event::ActiveConnectRefused`](crate::Event::ActiveConnectRefused) and a
    /// script error), then TLS as server when data protection is on.
    pub fn active_connect(self) -> Self {
        self.active_connect_with(TlsExpect::Success)
    }

    /// [`active_connect`](Self::active_connect) with the given TLS expectation.
    pub fn active_connect_with(self, tls: TlsExpect) -> Self {
        self.step(Step::ActiveConnect {
            tls,
            require_resumed: false,
        })
    }

    /// [`active_connect`](Self::active_connect); a non-resumed TLS handshake is an error.
    pub fn active_connect_require_resumption(self) -> Self {
        self.step(Step::ActiveConnect {
            tls: TlsExpect::Success,
            require_resumed: true,
        })
    }

    // ----- data transfer -----

    /// Writes these bytes on the data connection.
    pub fn data_send(self, bytes: impl AsRef<[u8]>) -> Self {
        self.step(Step::DataSend {
            bytes: bytes.as_ref().to_vec(),
            chunk: None,
            repeat: 1,
        })
    }

    /// Writes `bytes` on the data connection `times` times in a row: a
    /// listing of millions of rows without holding it in memory.
    pub fn data_send_repeated(self, bytes: impl AsRef<[u8]>, times: usize) -> Self {
        self.step(Step::DataSend {
            bytes: bytes.as_ref().to_vec(),
            chunk: None,
            repeat: times,
        })
    }

    /// Writes these bytes on the data connection `chunk` bytes at a time,
    /// sleeping `gap` between chunks (slow server).
    pub fn data_send_chunked(self, bytes: impl AsRef<[u8]>, chunk: usize, gap: Duration) -> Self {
        self.step(Step::DataSend {
            bytes: bytes.as_ref().to_vec(),
            chunk: Some((chunk.max(1), gap)),
            repeat: 1,
        })
    }

    /// Reads the data connection until the client closes it; records the bytes.
    pub fn data_recv_to_end(self) -> Self {
        self.step(Step::DataRecvToEnd)
    }

    /// Closes the data connection gracefully (TLS `close_notify`, FIN).
    pub fn data_close(self) -> Self {
        self.step(Step::DataClose(CloseKind::Graceful))
    }

    /// Closes the data connection without TLS `close_notify` (truncation).
    pub fn data_abort(self) -> Self {
        self.step(Step::DataClose(CloseKind::Abrupt))
    }

    /// Resets the data connection (RST).
    pub fn data_reset(self) -> Self {
        self.step(Step::DataClose(CloseKind::Reset))
    }
}
