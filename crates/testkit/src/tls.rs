//! Server-side TLS settings: [`ServerTls`] builds the rustls `ServerConfig`
//! shared by the control and data connections of one [`ScriptedServer`]
//! (so sessions can be resumed), with [`TlsVersions`], [`ClientAuth`] and
//! [`Resumption`] choices.
//!
//! [`ScriptedServer`]: crate::ScriptedServer

use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::server::{NoServerSessionStorage, ServerSessionMemoryCache, WebPkiClientVerifier};
use rustls::{RootCertStore, ServerConfig};

use crate::pki::{provider, CertKey, TestPki};

/// Which TLS versions the server accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TlsVersions {
    /// TLS 1.2 and 1.3.
    #[default]
    Both,
    /// TLS 1.2 only.
    Tls12Only,
    /// TLS 1.3 only.
    Tls13Only,
}

/// Whether the server asks for a client certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ClientAuth {
    /// No client certificate requested.
    #[default]
    None,
    /// Requested; verified against the client CA if sent, but not required.
    Optional,
    /// Required and verified against the client CA.
    Required,
}

/// How the server lets clients resume TLS sessions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Resumption {
    /// A server-side session cache (TLS 1.2 session IDs, TLS 1.3 stateful tickets).
    #[default]
    Cache,
    /// The cache plus stateless tickets (TLS 1.2 `SessionTicket`, TLS 1.3 tickets).
    Tickets,
    /// No resumption at all: every handshake is full.
    Disabled,
}

/// TLS settings for a [`ScriptedServer`](crate::ScriptedServer).
#[derive(Clone)]
pub struct ServerTls {
    cert: Option<CertKey>,
    client_ca: Option<CertificateDer<'static>>,
    versions: TlsVersions,
    client_auth: ClientAuth,
    resumption: Resumption,
    alpn: Vec<Vec<u8>>,
    custom: Option<Arc<ServerConfig>>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls")
            .field("versions", &self.versions)
            .field("client_auth", &self.client_auth)
            .field("resumption", &self.resumption)
            .field("custom", &self.custom.is_some())
            .finish_non_exhaustive()
    }
}

impl ServerTls {
    /// The PKI's server certificate, TLS 1.2 and 1.3, no client certificate,
    /// session cache on; client certificates (if later required) are verified
    /// against the PKI's CA.
    pub fn new(pki: &TestPki) -> Self {
        Self {
            cert: Some(pki.server_cert().clone()),
            client_ca: Some(pki.ca_cert_der()),
            ..Self::from_parts(None)
        }
    }

    /// Uses a ready-made rustls configuration as is (all other settings are ignored).
    pub fn from_config(config: Arc<ServerConfig>) -> Self {
        Self::from_parts(Some(config))
    }

    /// No certificates yet, the `custom` configuration if any, and the
    /// default versions, client-certificate policy and resumption; no ALPN.
    fn from_parts(custom: Option<Arc<ServerConfig>>) -> Self {
        Self {
            cert: None,
            client_ca: None,
            versions: TlsVersions::default(),
            client_auth: ClientAuth::default(),
            resumption: Resumption::default(),
            alpn: Vec::new(),
            custom,
        }
    }

    /// Presents another certificate (wrong name, expired, self-signed...).
    pub fn server_cert(mut self, cert: CertKey) -> Self {
        self.cert = Some(cert);
        self
    }

    /// Verifies client certificates against this CA instead.
    pub fn client_ca(mut self, ca: CertificateDer<'static>) -> Self {
        self.client_ca = Some(ca);
        self
    }

    /// Sets the accepted TLS versions.
    pub fn versions(mut self, v: TlsVersions) -> Self {
        self.versions = v;
        self
    }

    /// TLS 1.2 only.
    pub fn tls12_only(self) -> Self {
        self.versions(TlsVersions::Tls12Only)
    }

    /// TLS 1.3 only.
    pub fn tls13_only(self) -> Self {
        self.versions(TlsVersions::Tls13Only)
    }

    /// Sets the client-certificate policy.
    pub fn client_auth(mut self, a: ClientAuth) -> Self {
        self.client_auth = a;
        self
    }

    /// Requires a client certificate signed by the client CA.
    pub fn require_client_cert(self) -> Self {
        self.client_auth(ClientAuth::Required)
    }

    /// Sets the resumption mechanism.
    pub fn resumption(mut self, r: Resumption) -> Self {
        self.resumption = r;
        self
    }

    /// Sets the ALPN protocols the server accepts (default none).
    pub fn alpn(mut self, protocols: &[&[u8]]) -> Self {
        self.alpn = protocols.iter().map(|p| p.to_vec()).collect();
        self
    }

    /// Builds the rustls configuration (one per server, shared by all its connections).
    pub fn build(&self) -> Result<Arc<ServerConfig>, rustls::Error> {
        if let Some(c) = &self.custom {
            return Ok(Arc::clone(c));
        }
        let versions: &[&'static rustls::SupportedProtocolVersion] = match self.versions {
            TlsVersions::Both => &[&rustls::version::TLS13, &rustls::version::TLS12],
            TlsVersions::Tls12Only => &[&rustls::version::TLS12],
            TlsVersions::Tls13Only => &[&rustls::version::TLS13],
        };
        let builder =
            ServerConfig::builder_with_provider(provider()).with_protocol_versions(versions)?;
        let builder = match self.client_auth {
            ClientAuth::None => builder.with_no_client_auth(),
            ClientAuth::Optional | ClientAuth::Required => {
                let mut roots = RootCertStore::empty();
                if let Some(ca) = &self.client_ca {
                    roots.add(ca.clone())?;
                }
                let v = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider());
                let v = if self.client_auth == ClientAuth::Optional {
                    v.allow_unauthenticated()
                } else {
                    v
                };
                let v = v
                    .build()
                    .map_err(|e| rustls::Error::General(format!("client verifier: {e}")))?;
                builder.with_client_cert_verifier(v)
            }
        };
        let cert = self
            .cert
            .as_ref()
            .ok_or_else(|| rustls::Error::General("no server certificate".into()))?;
        let mut config = builder.with_single_cert(cert.chain(), cert.key_der())?;
        match self.resumption {
            Resumption::Cache => {
                config.session_storage = ServerSessionMemoryCache::new(256);
            }
            Resumption::Tickets => {
                config.session_storage = ServerSessionMemoryCache::new(256);
                config.ticketer = rustls::crypto::ring::Ticketer::new()?;
            }
            Resumption::Disabled => {
                config.session_storage = Arc::new(NoServerSessionStorage {});
                config.send_tls13_tickets = 0;
            }
        }
        config.alpn_protocols = self.alpn.clone();
        Ok(Arc::new(config))
    }
}
