//! [`Client`]'s session: login, securing the live session, `CCC`, `QUIT`,
//! and what the client knows about the session.

use std::net::SocketAddr;

use ftpkit_control::capabilities::Support;
use ftpkit_control::parse::FeatureSet;
use ftpkit_control::session::TlsState;
use ftpkit_control::{Arg, Credentials, Event, Security};

use std::sync::Arc;

use super::{run_operation, Client, Cwd};
use crate::config::Config;
use crate::error::{Error, ErrorKind, Result};
use crate::tls::TlsContext;
use crate::tls::{CertificateInfo, ConnectionTls, SessionStats};

impl Client {
    /// Logs in (for a client connected without credentials, or to change
    /// user).
    pub async fn login(&mut self, user: impl Into<Arg>, password: impl Into<Arg>) -> Result<()> {
        self.login_with(Credentials::new(user, password)).await
    }

    /// Logs in with full credentials (account included).
    pub async fn login_with(&mut self, credentials: Credentials) -> Result<()> {
        self.ready().await?;
        self.control.session.login(credentials)?;
        self.cwd = Cwd::Home;
        run_operation(&mut self.control).await
    }

    /// Secures a plain session now: `AUTH TLS`, the handshake, and `PBSZ 0`
    /// / `PROT` (at once if logged in, otherwise at login). From then on TLS
    /// is required, and [`config`](Self::config)`().security` says
    /// [`Security::Explicit`] (a renewed session secures itself again).
    pub async fn secure(&mut self) -> Result<()> {
        self.ready().await?;
        if self.control.tls.is_none() {
            let ctx = match &self.tls_ctx {
                Some(c) => c.clone(),
                None => TlsContext::new(&self.config.tls)?,
            };
            self.start_tls_with(ctx)?;
        }
        self.finish_secure().await
    }

    /// [`secure`](Self::secure) with TLS settings chosen now: what the
    /// session trusts, and the client certificate it shows (one picked from
    /// a store by name, say:
    /// [`ClientIdentity::from_store`](crate::tls::ClientIdentity::from_store)).
    /// The settings replace [`Config::tls`] for this client, its data
    /// connections and its renewed sessions. Fails with
    /// [`ErrorKind::Misuse`] when the session is already secured.
    pub async fn secure_with(&mut self, tls: crate::tls::TlsOptions) -> Result<()> {
        self.ready().await?;
        if self.control.tls.is_some() {
            return Err(Error::new(
                ErrorKind::Misuse,
                "the session is already secured: its TLS settings cannot change",
            ));
        }
        let ctx = TlsContext::new(&tls)?;
        Arc::make_mut(&mut self.config).tls = tls;
        self.start_tls_with(ctx)?;
        let r = self.finish_secure().await;
        r.map_err(|e| super::client_auth_explained(&self.config, e))
    }

    /// Prepares the control connection's TLS session from `ctx`.
    fn start_tls_with(&mut self, ctx: TlsContext) -> Result<()> {
        self.control.tls = Some(ctx.session(self.config.tls_server_name())?);
        self.tls_ctx = Some(ctx);
        Ok(())
    }

    /// `AUTH TLS` and what follows; the configuration then says TLS.
    async fn finish_secure(&mut self) -> Result<()> {
        self.control.session.secure()?;
        run_operation(&mut self.control).await?;
        if self.config.security == Security::None {
            Arc::make_mut(&mut self.config).security = Security::Explicit;
        }
        Ok(())
    }

    /// Drops TLS on the control connection with `CCC` (RFC 4217 §11), for
    /// firewalls that must read it. Data protection is unchanged. An explicit
    /// opt-in: commands, including file names, then travel in the clear.
    pub async fn clear_command_channel(&mut self) -> Result<()> {
        self.ready().await?;
        self.control.session.ccc()?;
        loop {
            match self.control.next_event().await? {
                Event::Reply(r) => return Err(Error::from_reply("CCC refused", r)),
                Event::Preliminary(_) => {}
                _ => {}
            }
            if self.control.session.is_idle()
                && self.control.session.tls_state() == TlsState::Cleared
            {
                return Ok(());
            }
        }
    }

    /// Sends `QUIT` and closes the connection.
    pub async fn quit(mut self) -> Result<()> {
        self.settle().await?;
        let deadline = self.config.timeouts.quit;
        let r = tokio::time::timeout(deadline, async {
            self.control.session.quit()?;
            loop {
                if let Event::Closed(_) = self.control.next_event().await? {
                    break;
                }
            }
            self.control.shutdown().await;
            Ok::<(), Error>(())
        })
        .await;
        r.map_err(|_| Error::timeout("QUIT"))?
    }

    // ----- state -----------------------------------------------------------

    /// The features the server announced (FEAT after login).
    pub fn features(&self) -> &FeatureSet {
        self.control.session.features()
    }

    /// Whether the server implements `verb` (`SIZE`, `MDTM`, `MLSD`,
    /// `MLST`, `MFMT`, `REST`): from FEAT when the server answered it,
    /// otherwise from the command's own replies so far (`Unknown` until it
    /// is tried; `500`/`502` make it `No` for the session). Mirror and the
    /// listing routine use it, so that a server without FEAT still gets
    /// `MDTM`, `SIZE` and `MLSD`.
    pub fn support(&self, verb: &str) -> Support {
        self.control.session.support(verb)
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The server's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// The round-trip time this session has measured: the shortest time
    /// from writing a command to the first byte of the server's answer
    /// (login alone takes several). `None` before any command. Renewing
    /// the session measures afresh.
    pub fn round_trip_time(&self) -> Option<std::time::Duration> {
        self.control.round_trip
    }

    /// Round trips on the control connection so far, renewals included: each
    /// write of commands whose answer was awaited before the next write.
    /// On a link with latency, each costs one round-trip time; data
    /// connections (TCP and TLS handshakes) come on top.
    pub fn round_trips(&self) -> u64 {
        self.round_trips_before + self.control.round_trips
    }

    /// Whether this session pipelines commands (the login's, and the next
    /// transfer's passive command behind each transfer command;
    /// [`Config::pipelining`](crate::Config::pipelining)
    /// applied to the server's greeting; off after the server answered one
    /// before the transfer's end).
    pub fn pipelines(&self) -> bool {
        self.control.session.pipelines()
    }

    /// Whether the session is idle: no operation is under way or owed.
    pub(crate) fn is_idle(&self) -> bool {
        self.control.session.is_idle()
    }

    /// Whether the client is unusable (an earlier failure left its
    /// connection broken); reconnect.
    pub fn is_broken(&self) -> bool {
        self.control.broken.is_some() || self.control.session.is_closed()
    }

    /// TLS details of the control connection: version, cipher suite, the
    /// server's certificate chain parsed.
    pub fn tls_info(&self) -> Option<ConnectionTls> {
        let conn = self.control.tls_connection()?;
        let peer_certificates = conn
            .peer_certificates()
            .unwrap_or_default()
            .iter()
            .filter_map(|c| CertificateInfo::parse(c).ok())
            .collect();
        Some(ConnectionTls {
            version: conn.protocol_version(),
            cipher_suite: conn.negotiated_cipher_suite().map(|s| s.suite()),
            peer_certificates,
        })
    }

    /// Counters of this session's TLS session store: tickets received on
    /// the control and data connections, and data connections that could not
    /// resume. `None` without TLS.
    pub fn tls_session_stats(&self) -> Option<SessionStats> {
        let current = self.control.tls.as_ref().map(|t| t.store().stats());
        if current.is_none() && self.tls_history == SessionStats::default() {
            return None;
        }
        let mut stats = current.unwrap_or_default();
        stats.absorb(&self.tls_history);
        Some(stats)
    }
}
