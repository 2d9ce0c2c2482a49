//! The interpreter: runs one [`Script`] on one accepted control connection,
//! recording everything, and turning every failure into a [`ScriptError`].

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{timeout, timeout_at, Instant};

use crate::data::{active_target, bind_loopback, is_loopback};
use crate::script::{
    epsv_reply, pasv_reply, DataProtection, Expect, Script, Step, StepContext, TlsExpect,
};
use crate::stream::{accept_tls, acceptor, Conn, ConnExt};
use crate::transcript::{
    CloseKind, CommandLine, DataConnection, Event, PeerClose, Recorder, ScriptError, TlsInfo,
};
use ftpkit_data::MaybeTls;

/// Longest command line accepted before giving up (1 MiB).
const MAX_LINE: usize = 1 << 20;

enum Flow {
    Continue,
    Stop,
}

enum Read {
    Line(CommandLine),
    Eof(PeerClose),
    TimedOut,
}

type StepResult = Result<Flow, ScriptError>;

/// The server's TLS settings for one session.
#[derive(Clone, Default)]
pub(crate) struct SessionTls {
    /// For `AUTH TLS` on the control connection.
    pub(crate) control: Option<Arc<rustls::ServerConfig>>,
    /// For protected data connections (the same as `control` unless the
    /// test asked for another identity).
    pub(crate) data: Option<Arc<rustls::ServerConfig>>,
}

pub(crate) struct Session {
    rec: Recorder,
    tls: Option<Arc<rustls::ServerConfig>>,
    data_tls: Option<Arc<rustls::ServerConfig>>,
    timeout: Duration,
    linger: Duration,
    ctrl: Option<Conn>,
    control_local: SocketAddr,
    buf: Vec<u8>,
    commands: Vec<CommandLine>,
    listener: Option<TcpListener>,
    data: Option<Conn>,
    data_local: Option<SocketAddr>,
    protection: DataProtection,
}

impl Session {
    pub(crate) async fn run(rec: Recorder, tls: SessionTls, tcp: TcpStream, script: Script) {
        let control_local = tcp
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)));
        let mut s = Session {
            rec,
            tls: tls.control,
            data_tls: tls.data,
            timeout: script.timeout,
            linger: script.linger,
            ctrl: Some(MaybeTls::Plain(tcp)),
            control_local,
            buf: Vec::new(),
            commands: Vec::new(),
            listener: None,
            data: None,
            data_local: None,
            protection: DataProtection::Auto,
        };
        for (i, step) in script.steps.iter().enumerate() {
            let name = format!("step #{i} ({step})");
            match s.exec(&name, step).await {
                Ok(Flow::Continue) => {}
                Ok(Flow::Stop) => {
                    s.close_data().await;
                    s.rec.push(Event::Finished);
                    return;
                }
                Err(e) => {
                    s.rec.push(Event::Error(e));
                    // Drop everything without ceremony.
                    return;
                }
            }
        }
        s.close_data().await;
        if s.ctrl.is_some() {
            s.close_control_gracefully(true).await;
        }
        s.rec.push(Event::Finished);
    }

    async fn exec(&mut self, name: &str, step: &Step) -> StepResult {
        match step {
            Step::Send(bytes) => self.write_ctrl(name, bytes).await,
            Step::SendWith(f) => {
                let ctx = StepContext {
                    data_addr: self
                        .listener
                        .as_ref()
                        .and_then(|l| l.local_addr().ok())
                        .or(self.data_local),
                    last_command: self.commands.last().cloned(),
                    control_local: self.control_local,
                };
                let bytes = f(&ctx);
                self.write_ctrl(name, &bytes).await
            }
            Step::Expect(e) => self.expect(name, e).await,
            Step::ExpectEof => {
                let deadline = Instant::now() + self.timeout;
                match self.read_line(name, deadline).await? {
                    Read::Line(c) => Err(ScriptError::UnexpectedCommand {
                        step: name.to_owned(),
                        expected: "end of connection".into(),
                        got: c,
                    }),
                    Read::Eof(_) => Ok(Flow::Continue),
                    Read::TimedOut => Err(self.timed_out(name)),
                }
            }
            Step::ExpectSilence(window) => {
                let deadline = Instant::now() + *window;
                match self.read_line(name, deadline).await? {
                    Read::Line(c) => Err(ScriptError::UnexpectedCommand {
                        step: name.to_owned(),
                        expected: format!("no command for {window:?}"),
                        got: c,
                    }),
                    Read::Eof(_) | Read::TimedOut => Ok(Flow::Continue),
                }
            }
            Step::Delay(d) => {
                tokio::time::sleep(*d).await;
                Ok(Flow::Continue)
            }
            Step::Stall => {
                let deadline = Instant::now() + self.timeout;
                loop {
                    match self.read_line(name, deadline).await? {
                        Read::Line(_) => {}
                        Read::Eof(_) => return Ok(Flow::Stop),
                        Read::TimedOut => return Err(self.timed_out(name)),
                    }
                }
            }
            Step::Tls { before, expect } => self.start_tls(name, before, *expect).await,
            Step::CloseControl(kind) => {
                match kind {
                    CloseKind::Graceful => {
                        if self.ctrl.is_some() {
                            self.close_control_gracefully(false).await;
                        }
                    }
                    CloseKind::Abrupt | CloseKind::Reset => {
                        if let Some(c) = self.ctrl.take() {
                            self.rec.push(Event::ServerClosed(*kind));
                            c.close(*kind, self.timeout).await;
                        }
                    }
                }
                self.buf.clear();
                Ok(Flow::Continue)
            }
            Step::PassiveListen { v6 } => {
                self.listen(name, *v6).await?;
                Ok(Flow::Continue)
            }
            Step::ReplyPasv { host } => {
                let addr = self.ensure_listener(name).await?;
                let SocketAddr::V4(v4) = addr else {
                    return Err(setup(name, "PASV cannot advertise an IPv6 listener"));
                };
                let host = host.unwrap_or(v4.ip().octets());
                let reply = pasv_reply(host, v4.port());
                self.write_ctrl(name, reply.as_bytes()).await
            }
            Step::ReplyEpsv => {
                let addr = self.ensure_listener(name).await?;
                self.write_ctrl(name, epsv_reply(addr.port()).as_bytes())
                    .await
            }
            Step::SetProtection(p) => {
                self.protection = *p;
                Ok(Flow::Continue)
            }
            Step::DataAccept {
                tls,
                require_resumed,
            } => {
                let listener = self
                    .listener
                    .take()
                    .ok_or_else(|| setup(name, "no passive listener is open"))?;
                let (tcp, peer) = match timeout(self.timeout, listener.accept()).await {
                    Err(_) => return Err(self.timed_out(name)),
                    Ok(Err(e)) => return Err(io_err(name, &e)),
                    Ok(Ok(x)) => x,
                };
                self.setup_data(name, tcp, peer, false, *tls, *require_resumed)
                    .await
            }
            Step::DataExpectNone(window) => {
                let listener = self
                    .listener
                    .as_ref()
                    .ok_or_else(|| setup(name, "no passive listener is open"))?;
                match timeout(*window, listener.accept()).await {
                    Err(_) => {
                        self.rec.push(Event::NoDataConnection);
                        Ok(Flow::Continue)
                    }
                    Ok(Err(e)) => Err(io_err(name, &e)),
                    Ok(Ok((tcp, peer))) => {
                        self.rec.push(Event::DataConnected(DataConnection {
                            peer,
                            local: tcp.local_addr().unwrap_or(peer),
                            active: false,
                            tls: None,
                        }));
                        Err(ScriptError::UnexpectedDataConnection {
                            step: name.to_owned(),
                            peer,
                        })
                    }
                }
            }
            Step::ActiveConnect {
                tls,
                require_resumed,
            } => {
                let addr = active_target(&self.commands).map_err(|m| setup(name, &m))?;
                if !is_loopback(addr.ip()) {
                    self.rec.push(Event::ActiveConnectRefused { addr });
                    return Err(ScriptError::ActiveConnectRefused {
                        step: name.to_owned(),
                        addr,
                    });
                }
                let tcp = match timeout(self.timeout, TcpStream::connect(addr)).await {
                    Err(_) => return Err(self.timed_out(name)),
                    Ok(Err(e)) => return Err(io_err(name, &e)),
                    Ok(Ok(s)) => s,
                };
                self.setup_data(name, tcp, addr, true, *tls, *require_resumed)
                    .await
            }
            Step::DataSend {
                bytes,
                chunk,
                repeat,
            } => {
                let limit = self.timeout
                    + chunk.map_or(Duration::ZERO, |(size, gap)| {
                        gap * u32::try_from(bytes.len() / size).unwrap_or(u32::MAX)
                    });
                let data = self
                    .data
                    .as_mut()
                    .ok_or_else(|| setup(name, "no data connection"))?;
                let send = async {
                    match chunk {
                        // No bytes: nothing to write (the loop below
                        // would never advance).
                        None if bytes.is_empty() => {}
                        None => {
                            // Larger writes than one row at a time.
                            let block = bytes.repeat((65_536 / bytes.len()).max(1));
                            let per_block = block.len() / bytes.len();
                            let mut left = *repeat;
                            while left > 0 {
                                let n = left.min(per_block);
                                data.write_all(block.get(..n * bytes.len()).unwrap_or_default())
                                    .await?;
                                left -= n;
                            }
                        }
                        Some((size, gap)) => {
                            for (i, part) in bytes.chunks(*size).enumerate() {
                                if i > 0 {
                                    tokio::time::sleep(*gap).await;
                                }
                                data.write_all(part).await?;
                                data.flush().await?;
                            }
                        }
                    }
                    data.flush().await
                };
                match timeout(limit, send).await {
                    Err(_) => Err(self.timed_out(name)),
                    Ok(Err(e)) => Err(io_err(name, &e)),
                    Ok(Ok(())) => {
                        self.rec.push(Event::DataSent(bytes.len() * repeat));
                        Ok(Flow::Continue)
                    }
                }
            }
            Step::DataRecvToEnd => {
                let data = self
                    .data
                    .as_mut()
                    .ok_or_else(|| setup(name, "no data connection"))?;
                let is_tls = data.is_tls();
                let mut bytes = Vec::new();
                let deadline = Instant::now() + self.timeout;
                let mut chunk = vec![0u8; 64 * 1024];
                let close = loop {
                    match timeout_at(deadline, data.read(&mut chunk)).await {
                        Err(_) => {
                            self.rec.push(Event::DataReceived {
                                bytes,
                                close: PeerClose::Reset,
                            });
                            return Err(self.timed_out(name));
                        }
                        Ok(Ok(0)) => {
                            break if is_tls {
                                PeerClose::CloseNotify
                            } else {
                                PeerClose::Fin
                            };
                        }
                        Ok(Ok(n)) => bytes.extend_from_slice(&chunk[..n]),
                        Ok(Err(e)) => break peer_close_from_error(&e),
                    }
                };
                self.rec.push(Event::DataReceived { bytes, close });
                Ok(Flow::Continue)
            }
            Step::DataClose(kind) => {
                let data = self
                    .data
                    .take()
                    .ok_or_else(|| setup(name, "no data connection to close"))?;
                self.rec.push(Event::DataClosed(*kind));
                data.close(*kind, self.timeout).await;
                Ok(Flow::Continue)
            }
        }
    }

    fn timed_out(&self, name: &str) -> ScriptError {
        ScriptError::Timeout {
            step: name.to_owned(),
            after: self.timeout,
        }
    }

    async fn write_ctrl(&mut self, name: &str, bytes: &[u8]) -> StepResult {
        let ctrl = self
            .ctrl
            .as_mut()
            .ok_or_else(|| setup(name, "the control connection is closed"))?;
        let write = async {
            ctrl.write_all(bytes).await?;
            ctrl.flush().await
        };
        match timeout(self.timeout, write).await {
            Err(_) => Err(self.timed_out(name)),
            Ok(Err(e)) => Err(io_err(name, &e)),
            Ok(Ok(())) => {
                self.rec.push(Event::Sent(bytes.to_vec()));
                Ok(Flow::Continue)
            }
        }
    }

    async fn expect(&mut self, name: &str, e: &Expect) -> StepResult {
        let deadline = Instant::now() + self.timeout;
        match self.read_line(name, deadline).await? {
            Read::Line(c) if e.matches(&c) => Ok(Flow::Continue),
            Read::Line(c) => Err(ScriptError::UnexpectedCommand {
                step: name.to_owned(),
                expected: e.to_string(),
                got: c,
            }),
            Read::Eof(close) => Err(ScriptError::UnexpectedEof {
                step: name.to_owned(),
                close,
            }),
            Read::TimedOut => Err(self.timed_out(name)),
        }
    }

    /// Reads one line, recording it (or the client's close) as an event.
    async fn read_line(&mut self, name: &str, deadline: Instant) -> Result<Read, ScriptError> {
        loop {
            if let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
                let raw: Vec<u8> = self.buf.drain(..=pos).collect();
                let c = CommandLine::new(raw);
                self.commands.push(c.clone());
                self.rec.push(Event::Command(c.clone()));
                return Ok(Read::Line(c));
            }
            if self.buf.len() > MAX_LINE {
                return Err(setup(name, "command line longer than 1 MiB"));
            }
            let ctrl = self
                .ctrl
                .as_mut()
                .ok_or_else(|| setup(name, "the control connection is closed"))?;
            let is_tls = ctrl.is_tls();
            let mut tmp = [0u8; 8192];
            let close = match timeout_at(deadline, ctrl.read(&mut tmp)).await {
                Err(_) => return Ok(Read::TimedOut),
                Ok(Ok(0)) if is_tls => PeerClose::CloseNotify,
                Ok(Ok(0)) => PeerClose::Fin,
                Ok(Ok(n)) => {
                    self.buf.extend_from_slice(&tmp[..n]);
                    continue;
                }
                Ok(Err(e)) if e.kind() == io::ErrorKind::InvalidData => {
                    return Err(ScriptError::Tls {
                        step: name.to_owned(),
                        message: e.to_string(),
                    })
                }
                Ok(Err(e)) => peer_close_from_error(&e),
            };
            if !self.buf.is_empty() {
                self.rec
                    .push(Event::PartialLine(std::mem::take(&mut self.buf)));
            }
            self.ctrl = None;
            self.rec.push(Event::ClientClosed(close));
            return Ok(Read::Eof(close));
        }
    }

    async fn start_tls(&mut self, name: &str, before: &[u8], expect: TlsExpect) -> StepResult {
        let config = self.tls.clone().ok_or_else(|| {
            setup(
                name,
                "no TLS configured: use ScriptedServer::builder().tls(..)",
            )
        })?;
        let mut tcp = match self.ctrl.take() {
            Some(MaybeTls::Plain(tcp)) => tcp,
            Some(other) => {
                self.ctrl = Some(other);
                return Err(setup(name, "the control connection already uses TLS"));
            }
            None => return Err(setup(name, "the control connection is closed")),
        };
        if !before.is_empty() {
            let write = async {
                tcp.write_all(before).await?;
                tcp.flush().await
            };
            match timeout(self.timeout, write).await {
                Err(_) => return Err(self.timed_out(name)),
                Ok(Err(e)) => return Err(io_err(name, &e)),
                Ok(Ok(())) => self.rec.push(Event::Sent(before.to_vec())),
            }
        }
        let prefix = std::mem::take(&mut self.buf);
        if !prefix.is_empty() {
            self.rec.push(Event::PipelinedBeforeTls(prefix.clone()));
        }
        match self.handshake(name, &config, tcp, prefix).await? {
            Ok((conn, info)) => {
                self.rec.push(Event::TlsEstablished(info));
                self.ctrl = Some(conn);
                handshake_succeeded(expect, name)?;
                Ok(Flow::Continue)
            }
            Err(e) => {
                let error = handshake_failed(expect, name, &e)?;
                self.rec.push(Event::TlsFailed { error });
                Ok(Flow::Stop)
            }
        }
    }

    /// The server's side of a TLS handshake over `tcp`, replaying `prefix`
    /// (bytes read before it began), within the step's timeout.
    async fn handshake(
        &self,
        name: &str,
        config: &Arc<rustls::ServerConfig>,
        tcp: TcpStream,
        prefix: Vec<u8>,
    ) -> Result<io::Result<(Conn, TlsInfo)>, ScriptError> {
        timeout(self.timeout, accept_tls(&acceptor(config), tcp, prefix))
            .await
            .map_err(|_| self.timed_out(name))
    }

    /// `close_notify` + FIN, then read until the client closes (bounded).
    /// At the end of a script, commands read then are errors.
    async fn close_control_gracefully(&mut self, end_of_script: bool) {
        let Some(ctrl) = self.ctrl.as_mut() else {
            return;
        };
        self.rec.push(Event::ServerClosed(CloseKind::Graceful));
        let _ = timeout(self.timeout, ctrl.shutdown()).await;
        let deadline = Instant::now() + self.linger;
        while let Ok(Read::Line(got)) = self.read_line("close", deadline).await {
            if end_of_script {
                self.rec
                    .push(Event::Error(ScriptError::CommandAfterScript { got }));
            }
        }
        self.ctrl = None;
        self.buf.clear();
    }

    async fn close_data(&mut self) {
        if let Some(d) = self.data.take() {
            self.rec.push(Event::DataClosed(CloseKind::Graceful));
            d.close(CloseKind::Graceful, self.timeout).await;
        }
    }

    async fn listen(&mut self, name: &str, v6: bool) -> Result<SocketAddr, ScriptError> {
        let l = bind_loopback(v6).await.map_err(|e| io_err(name, &e))?;
        let addr = l.local_addr().map_err(|e| io_err(name, &e))?;
        self.rec.push(Event::DataListening { addr });
        self.listener = Some(l);
        Ok(addr)
    }

    async fn ensure_listener(&mut self, name: &str) -> Result<SocketAddr, ScriptError> {
        match &self.listener {
            Some(l) => l.local_addr().map_err(|e| io_err(name, &e)),
            None => self.listen(name, false).await,
        }
    }

    fn data_is_private(&self) -> bool {
        match self.protection {
            DataProtection::Clear => false,
            DataProtection::Private => true,
            DataProtection::Auto => self
                .commands
                .iter()
                .rev()
                .find(|c| c.verb() == "PROT")
                .and_then(CommandLine::argument)
                .is_some_and(|a| a.trim().eq_ignore_ascii_case("P")),
        }
    }

    async fn setup_data(
        &mut self,
        name: &str,
        tcp: TcpStream,
        // From `accept` or `connect`: a client that connected, wrote and
        // reset the connection before it was accepted has no peer address
        // any more (`ENOTCONN`), and its reset is for the next step to see.
        peer: SocketAddr,
        active: bool,
        expect: TlsExpect,
        require_resumed: bool,
    ) -> StepResult {
        self.close_data().await;
        let local = tcp.local_addr().map_err(|e| io_err(name, &e))?;
        self.data_local = Some(local);
        if !self.data_is_private() {
            self.rec.push(Event::DataConnected(DataConnection {
                peer,
                local,
                active,
                tls: None,
            }));
            self.data = Some(MaybeTls::Plain(tcp));
            return Ok(Flow::Continue);
        }
        let config = self
            .data_tls
            .clone()
            .ok_or_else(|| setup(name, "data protection is private but no TLS is configured"))?;
        match self.handshake(name, &config, tcp, Vec::new()).await? {
            Ok((conn, info)) => {
                let kind = info.handshake_kind;
                let resumed = info.resumed();
                self.rec.push(Event::DataConnected(DataConnection {
                    peer,
                    local,
                    active,
                    tls: Some(info),
                }));
                self.data = Some(conn);
                handshake_succeeded(expect, name)?;
                if require_resumed && !resumed {
                    return Err(ScriptError::NotResumed {
                        step: name.to_owned(),
                        kind,
                    });
                }
                Ok(Flow::Continue)
            }
            Err(e) => {
                let error = handshake_failed(expect, name, &e)?;
                self.rec.push(Event::DataTlsFailed { error });
                Ok(Flow::Continue)
            }
        }
    }
}

/// Step `name`'s error when a handshake succeeded that `expect` says must
/// fail.
fn handshake_succeeded(expect: TlsExpect, name: &str) -> Result<(), ScriptError> {
    if expect == TlsExpect::Failure {
        return Err(ScriptError::TlsSucceeded {
            step: name.to_owned(),
        });
    }
    Ok(())
}

/// Step `name`'s error when a handshake failed with `e` that `expect` says
/// must succeed; otherwise the failure's message, to record.
fn handshake_failed(expect: TlsExpect, name: &str, e: &io::Error) -> Result<String, ScriptError> {
    let message = e.to_string();
    if expect == TlsExpect::Success {
        return Err(ScriptError::Tls {
            step: name.to_owned(),
            message,
        });
    }
    Ok(message)
}

fn setup(name: &str, message: &str) -> ScriptError {
    ScriptError::Setup {
        step: name.to_owned(),
        message: message.to_owned(),
    }
}

fn io_err(name: &str, e: &io::Error) -> ScriptError {
    ScriptError::Io {
        step: name.to_owned(),
        message: e.to_string(),
    }
}

fn peer_close_from_error(e: &io::Error) -> PeerClose {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        PeerClose::NoCloseNotify
    } else {
        PeerClose::Reset
    }
}
