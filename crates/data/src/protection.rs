//! What protection a new data channel must use, and the TLS side of a
//! control session that its data channels inherit.

use std::fmt;
use std::sync::Arc;

use ftpkit_control::command::ProtectionLevel;
use rustls::pki_types::ServerName;

use crate::store::{Role, SessionStore, View};
use crate::DataError;

/// The TLS state of one control connection: the configurations of the
/// control connection and of its data connections, which share one
/// [`SessionStore`], and the server name both are checked against.
///
/// Each control connection gets its own: data connections resume the
/// control connection's session, and concurrent sessions to the same host
/// never use each other's tickets.
#[derive(Clone)]
pub struct SessionTls {
    control: Arc<rustls::ClientConfig>,
    data: Arc<rustls::ClientConfig>,
    server_name: ServerName<'static>,
    store: Arc<SessionStore>,
}

impl SessionTls {
    /// The TLS state of a new control connection to `server_name`, with
    /// `base`'s trust settings and client certificate and a fresh store.
    pub fn new(base: &rustls::ClientConfig, server_name: ServerName<'static>) -> Self {
        let store = Arc::new(SessionStore::default());
        let mut control = base.clone();
        control.resumption = View::resumption(&store, Role::Control);
        let mut data = base.clone();
        data.resumption = View::resumption(&store, Role::Data);
        SessionTls {
            control: Arc::new(control),
            data: Arc::new(data),
            server_name,
            store,
        }
    }

    /// The configuration of the control connection's handshake.
    pub fn control_config(&self) -> Arc<rustls::ClientConfig> {
        self.control.clone()
    }

    /// The name every certificate of the session is checked against: the
    /// control connection's host, never an address from a PASV reply.
    pub fn server_name(&self) -> &ServerName<'static> {
        &self.server_name
    }

    /// The session's ticket supply and counters.
    pub fn store(&self) -> &SessionStore {
        &self.store
    }
}

impl fmt::Debug for SessionTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionTls")
            .field("server_name", &self.server_name)
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

/// The protection a data channel takes from its control session. The only
/// way to get one is [`Protection::of_session`], from the session's `PROT`
/// level and its TLS state, and a [`DataStream`](crate::DataStream) cannot
/// be made without one: a data channel inherits its session's security by
/// construction.
#[derive(Clone)]
pub struct Protection {
    tls: Option<TlsParams>,
}

/// TLS settings of a data channel, derived from the control connection.
#[derive(Clone)]
pub(crate) struct TlsParams {
    /// Shares the control connection's trust settings, client certificate
    /// and session store, so the handshake resumes the control session.
    pub(crate) config: Arc<rustls::ClientConfig>,
    pub(crate) server_name: ServerName<'static>,
}

impl Protection {
    /// What the session's `PROT` level asks of a new data channel: TLS
    /// resuming the session's own (`P`), or the clear (`C`). `P` without a
    /// TLS session, and the levels no TLS stack offers (`S`, `E`), are
    /// errors, never a silent downgrade.
    pub fn of_session(level: ProtectionLevel, tls: Option<&SessionTls>) -> Result<Self, DataError> {
        match level {
            ProtectionLevel::Private => {
                let tls = tls.ok_or(DataError::Protection("PROT P without a TLS session"))?;
                Ok(Protection {
                    tls: Some(TlsParams {
                        config: tls.data.clone(),
                        server_name: tls.server_name.clone(),
                    }),
                })
            }
            ProtectionLevel::Clear => Ok(Protection { tls: None }),
            _ => Err(DataError::Protection(
                "PROT S and PROT E are not offered by TLS",
            )),
        }
    }

    /// Whether data is encrypted.
    pub fn is_private(&self) -> bool {
        self.tls.is_some()
    }

    pub(crate) fn tls(&self) -> Option<&TlsParams> {
        self.tls.as_ref()
    }
}

impl fmt::Debug for Protection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.tls {
            None => f.write_str("Clear"),
            Some(p) => f
                .debug_struct("Tls")
                .field("server_name", &p.server_name)
                .finish_non_exhaustive(),
        }
    }
}
