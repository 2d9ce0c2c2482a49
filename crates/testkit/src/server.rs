//! [`ScriptedServer`] and its [`ServerBuilder`]: the loopback listener, the
//! accept loop handing each control connection its [`Script`], and access to
//! the [`Transcript`].

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

use crate::script::Script;
use crate::session::{Session, SessionTls};
use crate::tls::ServerTls;
use crate::transcript::{Entry, Event, Recorder, ScriptError, Transcript};

/// A scripted FTP server on an ephemeral loopback port.
///
/// It accepts one control connection per [`Script`] given (in order; they
/// then run concurrently), and stops listening after the last one. Dropping
/// it aborts everything; [`finish`](Self::finish) waits for the scripts to
/// end (every waiting step is bounded by its time-out, so this never hangs).
#[derive(Debug)]
pub struct ScriptedServer {
    addr: SocketAddr,
    log: Arc<Mutex<Vec<Entry>>>,
    task: Option<JoinHandle<()>>,
}

/// Configures a [`ScriptedServer`] before it starts.
#[derive(Debug, Default)]
pub struct ServerBuilder {
    scripts: Vec<Script>,
    tls: Option<ServerTls>,
    data_tls: Option<ServerTls>,
    ipv6: bool,
}

impl ServerBuilder {
    /// Adds the script for the next control connection.
    pub fn session(mut self, script: Script) -> Self {
        self.scripts.push(script);
        self
    }

    /// Adds scripts for the next control connections, in order.
    pub fn sessions(mut self, scripts: impl IntoIterator<Item = Script>) -> Self {
        self.scripts.extend(scripts);
        self
    }

    /// Enables TLS (needed by `start_tls` and protected data connections).
    pub fn tls(mut self, tls: ServerTls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// A different TLS identity for protected data connections only (the
    /// control connection keeps [`tls`](Self::tls)): for tests where just
    /// the data connection presents a bad certificate.
    pub fn data_tls(mut self, tls: ServerTls) -> Self {
        self.data_tls = Some(tls);
        self
    }

    /// Listens on `[::1]:0` instead of `127.0.0.1:0`.
    pub fn ipv6(mut self) -> Self {
        self.ipv6 = true;
        self
    }

    /// Starts the server; panics if it cannot bind or the TLS settings are invalid.
    pub async fn start(self) -> ScriptedServer {
        match self.try_start().await {
            Ok(s) => s,
            Err(e) => panic!("cannot start scripted server: {e}"),
        }
    }

    /// Starts the server.
    pub async fn try_start(self) -> io::Result<ScriptedServer> {
        let tls = match &self.tls {
            Some(t) => Some(t.build().map_err(io::Error::other)?),
            None => None,
        };
        let data = match &self.data_tls {
            Some(t) => Some(t.build().map_err(io::Error::other)?),
            None => tls.clone(),
        };
        let tls = SessionTls { control: tls, data };
        let ip: IpAddr = if self.ipv6 {
            Ipv6Addr::LOCALHOST.into()
        } else {
            Ipv4Addr::LOCALHOST.into()
        };
        let listener = TcpListener::bind(SocketAddr::new(ip, 0)).await?;
        let addr = listener.local_addr()?;
        let log = Arc::new(Mutex::new(Vec::new()));
        let rec = Recorder::new(Instant::now(), Arc::clone(&log));
        let task = tokio::spawn(accept_loop(listener, self.scripts, tls, rec));
        Ok(ScriptedServer {
            addr,
            log,
            task: Some(task),
        })
    }
}

async fn accept_loop(listener: TcpListener, scripts: Vec<Script>, tls: SessionTls, rec: Recorder) {
    let mut sessions = JoinSet::new();
    let mut ids = Vec::new();
    for (i, script) in scripts.into_iter().enumerate() {
        let srec = rec.for_session(i);
        let limit = script.timeout;
        match tokio::time::timeout(limit, listener.accept()).await {
            Ok(Ok((tcp, peer))) => {
                // Replies go out as written: with Nagle, a reply written
                // right after another waits for the client's delayed ACK
                // (40 ms), which real servers do not make clients wait.
                let _ = tcp.set_nodelay(true);
                srec.push(Event::Connected { peer });
                let h = sessions.spawn(Session::run(srec, tls.clone(), tcp, script));
                ids.push((h.id(), i));
            }
            Ok(Err(e)) => {
                srec.push(Event::Error(ScriptError::Io {
                    step: "accept".into(),
                    message: e.to_string(),
                }));
                break;
            }
            Err(_) => {
                srec.push(Event::Error(ScriptError::NoClient { after: limit }));
                break;
            }
        }
    }
    drop(listener);
    while let Some(res) = sessions.join_next_with_id().await {
        if let Err(e) = res {
            let session = ids
                .iter()
                .find(|(id, _)| *id == e.id())
                .map_or(0, |(_, i)| *i);
            rec.for_session(session)
                .push(Event::Error(ScriptError::Internal(e.to_string())));
        }
    }
}

impl ScriptedServer {
    /// Starts a plain-TCP server running `script` on one control connection.
    pub async fn start(script: Script) -> ScriptedServer {
        Self::builder().session(script).start().await
    }

    /// Starts a server with TLS available, running `script` on one control connection.
    pub async fn start_tls(script: Script, tls: ServerTls) -> ScriptedServer {
        Self::builder().tls(tls).session(script).start().await
    }

    /// A builder for several sessions, TLS or IPv6.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    /// The control listener's address (`127.0.0.1:port` or `[::1]:port`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The control listener's port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// What has been recorded so far.
    pub fn transcript(&self) -> Transcript {
        Recorder::snapshot(&self.log)
    }

    /// Whether every session has finished.
    pub fn is_finished(&self) -> bool {
        match &self.task {
            Some(t) => t.is_finished(),
            None => true,
        }
    }

    /// Waits for every script to end, then returns the transcript (script
    /// errors are in it, see [`Transcript::errors`]).
    pub async fn finish(mut self) -> Transcript {
        if let Some(task) = self.task.take() {
            if let Err(e) = task.await {
                Recorder::new(Instant::now(), Arc::clone(&self.log))
                    .push(Event::Error(ScriptError::Internal(e.to_string())));
            }
        }
        self.transcript()
    }
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
