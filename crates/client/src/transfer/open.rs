//! Opening a data channel while reading the control connection, so that a
//! refusal (425/450/550...) ends the operation at once instead of leaving
//! the client waiting on a socket.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ftpkit_control::command::ProtectionLevel;
use ftpkit_control::parse::{parse_epsv, parse_pasv, rest_confirms};
use ftpkit_control::resumption::{on_refusal, BeforeData, DataHandshake, OnRefusal, TicketSupply};
use ftpkit_control::{Command, Event, Reply, ReplyCode};
use ftpkit_data::{
    connect_passive, ActiveConfig, ActiveListener, DataStream, Protection, TlsParams,
};
use tokio_rustls::TlsConnector;

use super::TransferInfo;
use crate::client::{ActiveKind, Client, PassiveKind};
use crate::config::{DataMode, ExtendedCommands};
use crate::connector::{connect_via, Purpose};
use crate::error::{Error, ErrorKind, Result};

/// How long a TLS data connection waits for the 1yz mark before starting
/// its handshake anyway. Servers that issue a fresh session ticket on the
/// control connection for each transfer (ProFTPD) send it with the mark;
/// servers that send the mark only after the handshake still work, a moment
/// later.
const MARK_GRACE: Duration = Duration::from_millis(500);

/// How long a data connection that made a full TLS handshake, on a server
/// that uses tickets, waits for the server's verdict (a refusal such as
/// `522 … session reuse required` comes at once) before the transfer goes
/// on. Only that rare case waits: resumed connections never do.
const REUSE_VERDICT_WAIT: Duration = Duration::from_secs(1);

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

enum Target {
    Connect(SocketAddr),
    /// Through the configured connector: a host name (or address literal)
    /// and port.
    Via(String, u16),
    Listen(ActiveListener),
}

/// Tracks the control replies seen while the data channel opens.
#[derive(Default)]
struct Progress {
    mark: Option<Reply>,
    completed: Option<Reply>,
}

impl Progress {
    fn waiting(&self) -> bool {
        self.mark.is_none() && self.completed.is_none()
    }

    fn on_event(&mut self, verb: &str, ev: Event) -> Result<()> {
        match ev {
            Event::TransferStarted(r) => self.mark = Some(r),
            Event::TransferCompleted(r) => self.completed = Some(r),
            Event::TransferFailed(r) => return Err(Error::from_reply(verb.to_owned(), r)),
            Event::Preliminary(_) => {}
            other => {
                return Err(Error::new(
                    ErrorKind::Protocol,
                    format!("unexpected event during {verb}: {other:?}"),
                ))
            }
        }
        Ok(())
    }
}

impl Client {
    /// The protection the session says a new data channel must use.
    pub(crate) fn data_protection(&self) -> Result<Protection> {
        match self.control.session.data_protection() {
            ProtectionLevel::Private => {
                let tls =
                    self.control.tls.as_ref().ok_or_else(|| {
                        Error::new(ErrorKind::Tls, "PROT P without a TLS context")
                    })?;
                Ok(Protection::Tls(TlsParams {
                    connector: TlsConnector::from(tls.data.clone()),
                    server_name: tls.server_name.clone(),
                }))
            }
            _ => Ok(Protection::Clear),
        }
    }

    /// EPSV (falling back to PASV, remembered), returning where to connect.
    ///
    /// Through a connector the control peer is the proxy, so the target is
    /// the control connection's host name with the reply's port (or, with
    /// `PassiveAddress::TrustReply`, the address in the 227 reply).
    async fn passive_target(&mut self) -> Result<Target> {
        let via = self.config.connector.is_some();
        let peer = self.peer.ip();
        // Whether the server is reached over IPv6, where PASV cannot work.
        let v6 = if via {
            self.config.host.parse::<std::net::Ipv6Addr>().is_ok()
        } else {
            peer.is_ipv6()
        };
        if self.passive_kind == PassiveKind::Epsv
            && self.config.extended == ExtendedCommands::TryFirst
        {
            let r = self.command(Command::Epsv(None)).await?;
            if r.code() == ReplyCode::EXTENDED_PASSIVE_MODE {
                let port = parse_epsv(&r)
                    .map_err(|e| Error::new(ErrorKind::Protocol, format!("229 reply: {e}")))?;
                if via {
                    return Ok(Target::Via(self.config.host.clone(), port));
                }
                return Ok(Target::Connect(SocketAddr::new(peer, port)));
            }
            if !is_not_implemented(&r) || v6 {
                return Err(Error::from_reply("EPSV", r));
            }
            tracing::debug!(reply = %r, "EPSV refused; using PASV from now on");
            self.passive_kind = PassiveKind::Pasv;
        }
        let r = self.command_ok("PASV", Command::Pasv).await?;
        let advertised = parse_pasv(&r)
            .map_err(|e| Error::new(ErrorKind::Protocol, format!("227 reply: {e}")))?;
        if via {
            return Ok(match self.config.passive_address {
                ftpkit_data::PassiveAddress::TrustReply => {
                    Target::Via(advertised.ip().to_string(), advertised.port())
                }
                _ => Target::Via(self.config.host.clone(), advertised.port()),
            });
        }
        if IpAddr::V4(*advertised.ip()) != peer
            && self.config.passive_address == ftpkit_data::PassiveAddress::ControlPeer
        {
            tracing::debug!(%advertised, %peer, "PASV advertised another address; connecting to the control peer");
        }
        Ok(Target::Connect(self.config.passive_address.target(
            peer,
            Some(advertised),
            advertised.port(),
        )))
    }

    /// Binds an active-mode listener and announces it (EPRT, falling back to
    /// PORT, remembered).
    async fn active_listener(&mut self, cfg: &ActiveConfig) -> Result<ActiveListener> {
        let listener = ActiveListener::bind(cfg, self.local).await?;
        let addr = listener.advertised();
        if self.active_kind == ActiveKind::Eprt
            && self.config.extended == ExtendedCommands::TryFirst
        {
            let r = self.command(Command::Eprt(addr)).await?;
            if r.code().is_completion() {
                return Ok(listener);
            }
            if !is_not_implemented(&r) || addr.is_ipv6() {
                return Err(Error::from_reply("EPRT", r));
            }
            tracing::debug!(reply = %r, "EPRT refused; using PORT from now on");
            self.active_kind = ActiveKind::Port;
        }
        let SocketAddr::V4(v4) = addr else {
            return Err(Error::new(
                ErrorKind::Unsupported,
                "PORT cannot carry an IPv6 address and EPRT is unavailable",
            ));
        };
        self.command_ok("PORT", Command::Port(v4)).await?;
        Ok(listener)
    }

    /// What the ticket supply of the current control connection looks like.
    fn ticket_supply(&self) -> Option<TicketSupply> {
        let tls = self.control.tls.as_ref()?;
        let tls13 = self.control.stream.tls().and_then(|c| c.protocol_version())
            == Some(rustls::ProtocolVersion::TLSv1_3);
        Some(TicketSupply {
            tls13,
            control_tickets_received: tls.store.control_tickets_received(),
            usable: tls.store.usable(),
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
            if self.control.session.data_protection() == ProtectionLevel::Private {
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

    /// One attempt of [`open_data`](Self::open_data), recording how the
    /// data connection's TLS handshake went in `self.data_handshake`.
    async fn open_data_once(&mut self, cmd: Command, rest: Option<u64>) -> Result<Opened> {
        if let (Some(connector), DataMode::Active(_)) =
            (&self.config.connector, &self.config.data_mode)
        {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "active mode (PORT/EPRT) cannot work through a connector ({connector:?}): \
                     the server would have to connect back around it; use passive mode"
                ),
            ));
        }
        self.ready().await?;
        if !self.control.session.is_logged_in() {
            return Err(Error::new(ErrorKind::Misuse, "not logged in"));
        }
        cmd.validate()?;
        let verb = cmd.verb();
        self.transfer_span = Some(transfer_span(&self.span, &cmd));
        let protection = self.data_protection()?;
        let timeouts = self.config.timeouts;
        let target = match self.config.data_mode.clone() {
            DataMode::Passive => self.passive_target().await?,
            DataMode::Active(cfg) => Target::Listen(self.active_listener(&cfg).await?),
        };
        let peer = self.peer.ip();
        let connector = self.config.connector.clone();
        let connect = async move {
            match (target, connector) {
                (Target::Via(host, port), Some(c)) => {
                    connect_via(
                        c.as_ref(),
                        &host,
                        port,
                        Purpose::Data,
                        timeouts.data_connect,
                    )
                    .await
                }
                (Target::Via(host, port), None) => Err(Error::new(
                    ErrorKind::Misuse,
                    format!("no connector for {host}:{port}"),
                )),
                (Target::Connect(addr), _) => {
                    Ok(connect_passive(addr, timeouts.data_connect).await?)
                }
                (Target::Listen(l), _) => Ok(l.accept(peer, timeouts.accept).await?),
            }
        };
        tokio::pin!(connect);
        // A passive connection made while `REST` is answered: some servers
        // (Twisted) read no command after PASV/EPSV until the data
        // connection is open, so waiting for the REST reply first would
        // stall (TWISTED-PASV-BLOCKS-COMMANDS). No TLS handshake starts
        // before the transfer command is sent.
        let mut early = None;
        let offset = rest.unwrap_or(0);
        if offset > 0 {
            let r = {
                let rest_reply = self.command(Command::Rest(offset));
                tokio::pin!(rest_reply);
                loop {
                    tokio::select! {
                        biased;
                        r = &mut rest_reply => break r?,
                        c = &mut connect, if early.is_none() => early = Some(c),
                    }
                }
            };
            if r.code() != ReplyCode::PENDING {
                let e = Error::from_reply("REST", r);
                return Err(if e.is_transient() {
                    e
                } else {
                    e.with_kind(ErrorKind::RestartRefused)
                });
            }
            // A server that names another offset would send (or take) the
            // file from there: appending that would splice it.
            if rest_confirms(&r, offset) == Some(false) {
                // Clear the restart marker the server keeps for the next
                // transfer command.
                let _ = self.command(Command::Rest(0)).await;
                return Err(Error::from_reply(
                    format!("REST {offset}: the server answered with another offset"),
                    r,
                )
                .with_kind(ErrorKind::RestartRefused));
            }
        }
        self.control.session.transfer(cmd)?;
        // Everything is written before the select below, so that cancelling
        // the control branch only ever cancels a read.
        self.control.flush().await?;

        let mut progress = Progress::default();
        // A completion without a data connection happens (`226` for an
        // empty listing). In passive mode the connect is still awaited: the
        // server may have written everything and replied before we
        // connected, and its data waits in the socket. In active mode a
        // server that completed without connecting never will.
        let give_up_on_completion = matches!(self.config.data_mode, DataMode::Active(_));
        let tcp = loop {
            if let Some(r) = early.take() {
                match r {
                    Ok(tcp) => break Some(tcp),
                    Err(e) => return Err(self.explain_data_failure(verb, e).await),
                }
            }
            tokio::select! {
                // A connection already made wins over a completion read in
                // the same turn.
                biased;
                r = &mut connect, if early.is_none() => match r {
                    Ok(tcp) => break Some(tcp),
                    // A refused or reset data connection usually comes with
                    // a reply saying why (550 No such file): report that.
                    Err(e) if progress.completed.is_some() => {
                        tracing::debug!(error = %e, "no data connection after an early completion");
                        break None;
                    }
                    Err(e) => return Err(self.explain_data_failure(verb, e).await),
                },
                ev = self.control.next_event(), if progress.waiting() => progress.on_event(verb, ev?)?,
                _ = std::future::ready(()), if give_up_on_completion && progress.completed.is_some() => break None,
            }
        };
        let Some(tcp) = tcp else {
            return Ok(Opened {
                stream: None,
                info: TransferInfo {
                    mark: progress.mark,
                    completion: progress.completed,
                    offset,
                    ..TransferInfo::default()
                },
            });
        };

        let stream = match &protection {
            Protection::Clear => DataStream::Plain(tcp),
            Protection::Tls(_) => {
                if progress.waiting() {
                    let grace = tokio::time::sleep(MARK_GRACE);
                    tokio::pin!(grace);
                    while progress.waiting() {
                        tokio::select! {
                            ev = self.control.next_event() => progress.on_event(verb, ev?)?,
                            _ = &mut grace => break,
                        }
                    }
                }
                let handshake = DataStream::open(tcp, &protection, timeouts.tls_handshake);
                tokio::pin!(handshake);
                let r = loop {
                    tokio::select! {
                        ev = self.control.next_event(), if progress.waiting() => progress.on_event(verb, ev?)?,
                        r = &mut handshake => break r,
                    }
                };
                match r {
                    Ok(s) => s,
                    Err(e) => {
                        let e = Error::from(e);
                        self.data_handshake = Some(if e.kind() == ErrorKind::Certificate {
                            DataHandshake::CertificateRejected
                        } else {
                            DataHandshake::Failed
                        });
                        return Err(self.explain_data_failure(verb, e).await);
                    }
                }
            }
        };
        let tls = stream.tls_info();
        if let (Some(t), Some(session_tls)) = (tls, &self.control.tls) {
            session_tls.store.note_data_handshake(t.resumed);
            tracing::debug!(
                resumed = t.resumed,
                tickets_left = session_tls.store.usable(),
                "data connection secured"
            );
            self.data_handshake = Some(if t.resumed {
                DataHandshake::Resumed
            } else {
                DataHandshake::Full
            });
        }
        if self.data_handshake == Some(DataHandshake::Full) {
            // A server that requires reuse refuses a full handshake right
            // after it, with a reply (vsftpd 522, ProFTPD 425). Wait briefly
            // for that verdict, so that the refusal is this call's result
            // (and can be retried) rather than the transfer's.
            if self.server_uses_tickets() && progress.completed.is_none() {
                let wait = self.config.timeouts.reply.min(REUSE_VERDICT_WAIT);
                let verdict = tokio::time::timeout(wait, async {
                    while progress.completed.is_none() {
                        let ev = self.control.next_event().await?;
                        progress.on_event(verb, ev)?;
                    }
                    Ok::<(), Error>(())
                })
                .await;
                if let Ok(Err(e)) = verdict {
                    return Err(e);
                }
            }
        }
        // Wait for the 1yz mark, so that a refusal (550 No such file) is the
        // result of this call rather than of the first read. A server that
        // completes without a mark is accepted too.
        while progress.waiting() {
            let ev = self.control.next_event().await?;
            progress.on_event(verb, ev)?;
        }
        Ok(Opened {
            stream: Some(stream),
            info: TransferInfo {
                mark: progress.mark,
                tls,
                completion: progress.completed,
                bytes: 0,
                offset,
            },
        })
    }

    /// After a failed data handshake the server usually says why on the
    /// control connection (`522 SSL connection failed: session reuse
    /// required`); wait briefly for that reply and report it.
    async fn explain_data_failure(&mut self, verb: &str, err: Error) -> Error {
        if !self.control.session.in_transfer() {
            return err;
        }
        let wait = self.config.timeouts.reply.min(Duration::from_secs(2));
        let mut progress = Progress::default();
        let r = tokio::time::timeout(wait, async {
            loop {
                let ev = self.control.next_event().await?;
                progress.on_event(verb, ev)?;
                if progress.completed.is_some() {
                    return Ok::<(), Error>(());
                }
            }
        })
        .await;
        match r {
            Ok(Err(reply_err)) => match reply_err.reply() {
                // A plain refusal (550) is the server's answer; a refusal
                // after a failed TLS handshake (522) stays a TLS error with
                // the reply attached.
                Some(reply)
                    if err.kind() == ErrorKind::Tls || err.kind() == ErrorKind::Certificate =>
                {
                    Error::from_reply(
                        format!("{err}; the server refused the data connection"),
                        reply.clone(),
                    )
                    .with_kind(err.kind())
                }
                Some(_) => reply_err,
                None => err,
            },
            _ => err,
        }
    }
}

/// 500/501/502/504: the command is not available (not a transient
/// refusal), so a fallback is worth trying.
fn is_not_implemented(r: &Reply) -> bool {
    matches!(r.code().as_u16(), 500 | 501 | 502 | 504 | 522)
}
