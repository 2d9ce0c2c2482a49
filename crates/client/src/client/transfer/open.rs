//! The driver of [`ftpkit_control::transfer::Opening`]: it performs the
//! actions the sans-IO machine asks for (commands, the data connection, its
//! TLS handshake, timers) and reports back, reading the control connection
//! meanwhile, so that a refusal (425/450/550...) ends the operation at once
//! instead of leaving the client waiting on a socket. Every protocol
//! decision is the machine's.

use std::future::Future;
use std::pin::Pin;

use ftpkit_control::resumption::{on_refusal, BeforeData, OnRefusal, TicketSupply};
use ftpkit_control::transfer::{
    ChannelMode, DataAction, DataFailure, DataRoute, DataTarget, OpenFailure, Opening,
    OpeningParams, Wait, Waits,
};
use ftpkit_control::Command;
use ftpkit_data::{connect_passive, ActiveConfig, ActiveListener, DataStream, Protection};
use tokio::net::TcpStream;

use super::TransferInfo;
use crate::client::Client;
use crate::config::DataMode;
use crate::connector::{connect_via, Purpose};
use crate::error::{Error, ErrorKind, Result};

/// A data channel ready for a transfer.
pub(crate) struct Opened {
    /// The stream; `None` when the server completed the command without
    /// using a data connection (some send `226` for an empty listing).
    pub(crate) stream: Option<DataStream>,
    pub(crate) info: TransferInfo,
}

/// The `debug` span of one transfer: verb and path (lossy UTF-8), a
/// child of the session's span.
fn transfer_span(session: &tracing::Span, cmd: &Command) -> tracing::Span {
    let path = match cmd {
        Command::Retr(a) | Command::Stor(a) | Command::Appe(a) => Some(a),
        Command::List(a) | Command::Nlst(a) | Command::Mlsd(a) => a.as_ref(),
        _ => None,
    };
    let path = path.map(|a| String::from_utf8_lossy(a.as_bytes()).into_owned());
    tracing::debug_span!(
        parent: session,
        "ftp_transfer",
        verb = cmd.verb(),
        path = path.as_deref().unwrap_or(""),
    )
}

impl Client {
    /// The protection the session says a new data channel must use.
    pub(crate) fn data_protection(&self) -> Result<Protection> {
        let level = self.control.session.data_protection();
        Ok(Protection::of_session(level, self.control.tls.as_ref())?)
    }

    /// What the ticket supply of the current control connection looks like.
    fn ticket_supply(&self) -> Option<TicketSupply> {
        let tls = self.control.tls.as_ref()?;
        let tls13 = self
            .control
            .tls_connection()
            .and_then(|c| c.protocol_version())
            == Some(rustls::ProtocolVersion::TLSv1_3);
        Some(TicketSupply {
            tls13,
            control_tickets_received: tls.store().control_tickets_received(),
            usable: tls.store().usable(),
        })
    }

    /// Whether the server has shown it uses TLS 1.3 tickets.
    pub(crate) fn server_uses_tickets(&self) -> bool {
        self.ticket_supply()
            .is_some_and(|s| s.server_uses_tickets())
    }

    /// Sets up the data connection for `cmd` (with `REST offset` first when
    /// given), sends it, and returns the open channel.
    ///
    /// With TLS 1.3 on a server that requires session reuse, this is where
    /// the ticket supply is looked after ([`ftpkit_control::resumption`]):
    /// the session is renewed first when no ticket is left, and a data
    /// connection refused for want of reuse is retried once on a renewed
    /// session when the command allows it.
    pub(crate) async fn open_data(&mut self, cmd: Command, rest: Option<u64>) -> Result<Opened> {
        let mut retried = false;
        loop {
            if self.control.session.data_protection()
                == ftpkit_control::command::ProtectionLevel::Private
            {
                let renew = std::mem::take(&mut self.renew_before_next_data);
                let out_of_tickets = self
                    .ticket_supply()
                    .is_some_and(|s| s.before_data_connection() == BeforeData::Renew);
                if renew || out_of_tickets {
                    let why = if renew {
                        "an earlier data connection was refused for want of TLS session reuse"
                    } else {
                        "no TLS 1.3 ticket left for the next data connection"
                    };
                    self.renew_session(why).await?;
                }
            }
            self.data_handshake = None;
            let err = match self.open_data_once(cmd.clone(), rest).await {
                Ok(opened) => return Ok(opened),
                Err(e) => e,
            };
            let Some(handshake) = self.data_handshake else {
                return Err(err);
            };
            match on_refusal(
                &cmd,
                0,
                handshake,
                err.reply(),
                self.server_uses_tickets(),
                retried,
            ) {
                OnRefusal::Report => return Err(err),
                OnRefusal::Fail(cause) => return Err(Error::reuse_refused(cause, err)),
                OnRefusal::RenewAndRetry(cause) => {
                    tracing::debug!(parent: &self.span, %cause, error = %err, "data connection refused; renewing the session and retrying once");
                    if let Err(renew_err) =
                        self.renew_session("recovering from a refused reuse").await
                    {
                        tracing::debug!(error = %renew_err, "renewal failed");
                        return Err(Error::reuse_refused(cause, err));
                    }
                    self.tls_history.retries += 1;
                    retried = true;
                }
            }
        }
    }

    /// One attempt of [`open_data`](Self::open_data): drives the sans-IO
    /// [`Opening`], which decides every step, and records how the data
    /// connection's TLS handshake went in `self.data_handshake`.
    async fn open_data_once(&mut self, cmd: Command, rest: Option<u64>) -> Result<Opened> {
        self.ready().await?;
        if !self.control.session.is_logged_in() {
            return Err(Error::new(ErrorKind::Misuse, "not logged in"));
        }
        cmd.validate()?;
        self.transfer_span = Some(transfer_span(&self.span, &cmd));
        let protection = self.data_protection()?;
        let (mode, active) = match &self.config.data_mode {
            DataMode::Passive => (ChannelMode::Passive, None),
            DataMode::Active(cfg) => (ChannelMode::Active, Some(cfg.clone())),
        };
        let route = match self.config.connector {
            Some(_) => DataRoute::Proxy(self.config.host.clone()),
            None => DataRoute::Direct(self.peer.ip()),
        };
        let verb = cmd.verb();
        let mut op = Opening::new(
            OpeningParams {
                command: cmd,
                mode,
                route,
                passive_address: self.config.passive_address,
                protection: self.control.session.data_protection(),
                rest: rest.unwrap_or(0),
                waits: Waits::for_reply_timeout(self.config.timeouts.reply),
                session_on_hand: self.ticket_supply().is_none_or(|s| s.session_on_hand()),
                ahead: self.control.session.take_ahead(),
                pipeline: self.control.session.pipelines(),
            },
            self.data_commands,
        );
        let result = self.drive_opening(&mut op, verb, &protection, active).await;
        self.data_commands = op.commands();
        self.data_handshake = op.handshake();
        result
    }

    /// Performs what `op` asks for until it is ready or failed: commands
    /// are written in full before anything else is awaited, so that
    /// cancelling this future only ever cancels a read.
    async fn drive_opening(
        &mut self,
        op: &mut Opening,
        verb: &'static str,
        protection: &Protection,
        active: Option<ActiveConfig>,
    ) -> Result<Opened> {
        let timeouts = self.config.timeouts;
        let mut listener: Option<ActiveListener> = None;
        let mut connecting: Option<Pending<TcpStream>> = None;
        let mut securing: Option<Pending<DataStream>> = None;
        let mut timer: Option<(Wait, Pin<Box<tokio::time::Sleep>>)> = None;
        let mut tcp: Option<TcpStream> = None;
        let mut stream: Option<DataStream> = None;
        let mut data_err: Option<Error> = None;
        loop {
            while let Some(action) = op.poll_action() {
                match action {
                    // Commands are queued here and written together below,
                    // so that a passive command pipelined behind the
                    // transfer command goes in the same write.
                    DataAction::Send(c) => self.control.session.command(c)?,
                    DataAction::Start(c) => self.control.session.transfer(c)?,
                    DataAction::StartAfterPassive(p, c) => {
                        self.control.session.transfer_after_passive(p, c)?;
                    }
                    DataAction::Ahead(c) => self.control.session.send_ahead(c)?,
                    DataAction::Connect(target) => connecting = Some(self.connect_data(target)),
                    DataAction::Listen => {
                        self.control.flush().await?;
                        let cfg = active.as_ref().ok_or_else(|| {
                            Error::new(ErrorKind::Misuse, "active mode without its settings")
                        })?;
                        let l = ActiveListener::bind(cfg, self.local).await?;
                        op.handle_listening(l.advertised());
                        listener = Some(l);
                    }
                    DataAction::Accept => {
                        let l = listener.take().ok_or_else(|| {
                            Error::new(ErrorKind::Misuse, "accept without a listener")
                        })?;
                        let (peer, wait) = (self.peer.ip(), timeouts.accept);
                        connecting = Some(Box::pin(async move { Ok(l.accept(peer, wait).await?) }));
                    }
                    DataAction::StartTls => {
                        let t = tcp.take().ok_or_else(|| {
                            Error::new(ErrorKind::Misuse, "TLS without a data connection")
                        })?;
                        let (p, wait) = (protection.clone(), timeouts.tls_handshake);
                        securing =
                            Some(Box::pin(
                                async move { Ok(DataStream::open(t, &p, wait).await?) },
                            ));
                    }
                    DataAction::ArmTimer(w, d) => {
                        timer = Some((w, Box::pin(tokio::time::sleep(d))));
                    }
                    DataAction::Ready(o) => {
                        self.control.flush().await?;
                        let stream = match (o.channel, stream.take(), tcp.take()) {
                            (false, ..) => None,
                            (true, Some(s), _) => Some(s),
                            // In the clear: nothing to negotiate.
                            (true, None, Some(t)) => {
                                Some(DataStream::open(t, protection, timeouts.tls_handshake).await?)
                            }
                            (true, None, None) => {
                                return Err(Error::new(
                                    ErrorKind::Misuse,
                                    "ready without a channel",
                                ))
                            }
                        };
                        let tls = stream.as_ref().and_then(DataStream::tls_info);
                        return Ok(Opened {
                            stream,
                            info: TransferInfo {
                                mark: o.mark,
                                tls,
                                completion: o.completion,
                                bytes: 0,
                                offset: o.offset,
                            },
                        });
                    }
                    DataAction::Failed(f) => {
                        self.control.flush().await?;
                        return Err(self.open_failure(verb, f, data_err.take()));
                    }
                }
            }
            self.control.flush().await?;
            if connecting.is_none() && securing.is_none() && timer.is_none() && !op.wants_control()
            {
                return Err(Error::new(
                    ErrorKind::Protocol,
                    "the data channel opening stalled",
                ));
            }
            tokio::select! {
                // A connection already made wins over a completion read in
                // the same turn.
                biased;
                r = maybe(&mut connecting) => {
                    connecting = None;
                    match r {
                        Ok(t) => {
                            tcp = Some(t);
                            op.handle_connected();
                        }
                        Err(e) => {
                            tracing::debug!(error = %e, "data connection failed");
                            data_err = Some(e);
                            op.handle_connect_failed();
                        }
                    }
                }
                r = maybe(&mut securing) => {
                    securing = None;
                    match r {
                        Ok(s) => {
                            let resumed = s.tls_info().is_some_and(|t| t.resumed);
                            if let Some(session_tls) = &self.control.tls {
                                session_tls.store().note_data_handshake(resumed);
                                tracing::debug!(
                                    resumed,
                                    tickets_left = session_tls.store().usable(),
                                    "data connection secured"
                                );
                            }
                            stream = Some(s);
                            op.handle_tls_established(resumed, self.server_uses_tickets());
                        }
                        Err(e) => {
                            let rejected = e.kind() == ErrorKind::Certificate;
                            data_err = Some(e);
                            op.handle_tls_failed(rejected);
                        }
                    }
                }
                ev = self.control.next_event(), if op.wants_control() => op.handle_event(ev?),
                w = maybe_timer(&mut timer) => {
                    timer = None;
                    op.handle_timeout(w);
                }
            }
        }
    }

    /// Starts a passive data connection to `target`: directly, or through
    /// the configured connector.
    fn connect_data(&self, target: DataTarget) -> Pending<TcpStream> {
        let wait = self.config.timeouts.data_connect;
        match target {
            DataTarget::Address(addr) => {
                Box::pin(async move { Ok(connect_passive(addr, wait).await?) })
            }
            DataTarget::Host(host, port) => {
                let connector = self.config.connector.clone();
                Box::pin(async move {
                    match connector {
                        Some(c) => connect_via(c.as_ref(), &host, port, Purpose::Data, wait).await,
                        None => Err(Error::new(
                            ErrorKind::Misuse,
                            format!("no connector for {host}:{port}"),
                        )),
                    }
                })
            }
        }
    }

    /// The error for a failed opening. A data connection that failed is
    /// reported by the server's reply when it gave one: a plain refusal
    /// (550) is the server's answer; a refusal after a failed TLS handshake
    /// (522) stays a TLS error with the reply attached.
    fn open_failure(&mut self, verb: &str, f: OpenFailure, data_err: Option<Error>) -> Error {
        match f {
            OpenFailure::Refused { what, reply } => Error::from_reply(what, reply),
            OpenFailure::RestartRefused {
                offset,
                reply,
                other_offset,
            } => {
                let what = if other_offset {
                    format!("REST {offset}: the server answered with another offset")
                } else {
                    "REST".to_owned()
                };
                Error::from_reply(what, reply).with_kind(ErrorKind::RestartRefused)
            }
            OpenFailure::Malformed { what, detail } => {
                Error::new(ErrorKind::Protocol, format!("{what}: {detail}"))
            }
            OpenFailure::Unsupported(why) => Error::new(ErrorKind::Unsupported, why),
            OpenFailure::Unexpected(ev) => self.control.poison(Error::new(
                ErrorKind::Protocol,
                format!("unexpected event during {verb}: {ev:?}"),
            )),
            OpenFailure::Misuse(why) => Error::new(ErrorKind::Protocol, why),
            OpenFailure::Data {
                failure,
                explanation,
            } => {
                let err = data_err
                    .unwrap_or_else(|| Error::new(ErrorKind::Io, "the data connection failed"));
                match (explanation, failure) {
                    (Some(reply), DataFailure::Tls { .. }) => {
                        let kind = err.kind();
                        Error::from_reply("the server refused the data connection", reply)
                            .with_kind(kind)
                            .with_source(err)
                    }
                    (Some(reply), DataFailure::Connect) => {
                        Error::from_reply(verb.to_owned(), reply)
                    }
                    (None, _) => err,
                }
            }
        }
    }
}

/// A data connection or handshake under way.
type Pending<T> = Pin<Box<dyn Future<Output = Result<T>> + Send>>;

/// Awaits `f`, or never when there is none.
async fn maybe<T>(f: &mut Option<Pending<T>>) -> Result<T> {
    match f {
        Some(f) => f.await,
        None => std::future::pending().await,
    }
}

/// Awaits the armed timer, or never when there is none.
async fn maybe_timer(t: &mut Option<(Wait, Pin<Box<tokio::time::Sleep>>)>) -> Wait {
    match t {
        Some((w, sleep)) => {
            sleep.as_mut().await;
            *w
        }
        None => std::future::pending().await,
    }
}
