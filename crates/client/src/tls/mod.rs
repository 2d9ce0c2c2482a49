//! TLS settings and the per-session TLS context.
//!
//! Trust is verified on the control connection **and every data
//! connection**, always against the control connection's host name. Each
//! control connection gets its own session store ([`ftpkit_data::SessionStore`]):
//! data connections resume the control connection's TLS session, and
//! concurrent sessions to the same host never use each other's tickets.

//! ## Layout
//!
//! | file | holds |
//! |---|---|
//! | `mod.rs` | [`TlsOptions`], versions, trust settings, [`TlsContext`], which makes each control connection's [`ftpkit_data::SessionTls`] |
//! | `verify.rs` | the certificate verifier: chain + host name, pin, or the loud opt-out |
//! | `identity.rs` | [`ClientIdentity`]: client certificates from PEM, PKCS#12, or a store by name |
//! | `token.rs` | client keys on PKCS#11 tokens ([`ClientIdentity::from_token`], feature `pkcs11`): the token's session and a rustls `SigningKey` that signs there |
//! | `info.rs` | [`CertificateInfo`], [`ConnectionTls`]: what the server presented |

mod identity;
mod info;
#[cfg(feature = "pkcs11")]
mod token;
mod verify;

pub use ftpkit_data::SessionStats;
pub(crate) use ftpkit_data::SessionTls;
pub use identity::ClientIdentity;
use identity::IdentityKey;
pub use info::{CertificateInfo, ConnectionTls};
#[cfg(feature = "pkcs11")]
pub use token::{TokenCertificate, TokenInfo, TokenOptions, TokenPin, TokenSelector};
pub use verify::Pin;

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::ServerName;
use rustls::RootCertStore;

use crate::error::{Error, ErrorKind, Result};
use verify::Verifier;

pub use rustls::pki_types::CertificateDer;
pub use rustls::{CipherSuite, ProtocolVersion};

/// A TLS protocol version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TlsVersion {
    /// TLS 1.2.
    Tls12,
    /// TLS 1.3.
    Tls13,
}

/// Whether the system's trust store is used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum SystemRoots {
    /// Trust the system's roots (plus any CA files). The default.
    #[default]
    Include,
    /// Trust only the CA files given.
    Exclude,
}

/// How the server's certificate is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Verification {
    /// Chain to a trusted root and match the host name. The default.
    #[default]
    Full,
    /// Accept any certificate. For labs only: anyone on the path can read
    /// and change the traffic. A pin, if set, is still enforced.
    DangerAcceptInvalidCertificates,
}

/// TLS settings of a client.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct TlsOptions {
    /// Whether system roots are trusted.
    pub system_roots: SystemRoots,
    /// Extra CA bundles (PEM files) to trust.
    pub ca_files: Vec<PathBuf>,
    /// Extra CA certificates (DER) to trust.
    pub ca_certificates: Vec<CertificateDer<'static>>,
    /// Certificate verification mode.
    pub verification: Verification,
    /// An optional pin of the server's certificate or key.
    pub pin: Option<Pin>,
    /// Lowest version offered (default TLS 1.2).
    pub min_version: Option<TlsVersion>,
    /// Highest version offered (default TLS 1.3).
    pub max_version: Option<TlsVersion>,
    /// Client certificate.
    pub client_identity: Option<ClientIdentity>,
    /// The name the server's certificate must match, when it differs from
    /// the host connected to (connecting by IP to a named server, say).
    /// Default: the host. Data connections use it too.
    pub server_name: Option<String>,
}

/// A rustls configuration built from [`TlsOptions`], shared by every
/// session of a client. Build it once; each control connection then makes
/// its own `SessionTls`.
#[derive(Clone, Debug)]
pub struct TlsContext {
    base: Arc<rustls::ClientConfig>,
}

impl TlsContext {
    /// Builds the rustls configuration: roots, verifier, versions, client
    /// certificate.
    pub fn new(opts: &TlsOptions) -> Result<Self> {
        // rustls 0.23.48 deprecates the ring provider because it has no
        // post-quantum key exchange; it is still maintained and is what
        // ftpkit builds on (no C toolchain needed, unlike aws-lc-rs).
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let min = opts.min_version.unwrap_or(TlsVersion::Tls12);
        let max = opts.max_version.unwrap_or(TlsVersion::Tls13);
        let mut versions: Vec<&'static rustls::SupportedProtocolVersion> = Vec::new();
        if min <= TlsVersion::Tls12 && max >= TlsVersion::Tls12 {
            versions.push(&rustls::version::TLS12);
        }
        if max >= TlsVersion::Tls13 {
            versions.push(&rustls::version::TLS13);
        }
        if versions.is_empty() {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                "minimum TLS version above maximum",
            ));
        }
        let chain = match opts.verification {
            Verification::Full => Some(
                WebPkiServerVerifier::builder_with_provider(
                    Arc::new(load_roots(opts)?),
                    provider.clone(),
                )
                .build()
                .map_err(|e| {
                    Error::new(
                        ErrorKind::Certificate,
                        format!("building the certificate verifier: {e}"),
                    )
                })?,
            ),
            Verification::DangerAcceptInvalidCertificates => None,
        };
        let verifier = Arc::new(Verifier {
            chain,
            pin: opts.pin,
            provider: provider.clone(),
        });
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&versions)
            .map_err(|e| Error::new(ErrorKind::Tls, format!("TLS versions: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let config = match &opts.client_identity {
            None => builder.with_no_client_auth(),
            Some(id) => match &id.key {
                IdentityKey::Der(key) => builder
                    .with_client_auth_cert(id.chain.clone(), key.clone_key())
                    .map_err(|e| {
                        Error::new(
                            ErrorKind::InvalidArgument,
                            format!("client certificate: {e}"),
                        )
                    })?,
                #[cfg(feature = "pkcs11")]
                // The key was matched to the certificate when the
                // identity was made (a signature checked against it).
                IdentityKey::Token(key) => builder.with_client_cert_resolver(Arc::new(
                    rustls::sign::SingleCertAndKey::from(rustls::sign::CertifiedKey::new(
                        id.chain.clone(),
                        key.signing_key(),
                    )),
                )),
            },
        };
        Ok(Self {
            base: Arc::new(config),
        })
    }

    /// A new TLS context for one control connection and its data
    /// connections.
    pub(crate) fn session(&self, host: &str) -> Result<SessionTls> {
        let server_name = ServerName::try_from(host.to_owned()).map_err(|_| {
            Error::new(
                ErrorKind::InvalidArgument,
                format!("{host:?} is not a valid TLS server name"),
            )
        })?;
        Ok(SessionTls::new(&self.base, server_name))
    }
}

fn load_roots(opts: &TlsOptions) -> Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    if opts.system_roots == SystemRoots::Include {
        let native = rustls_native_certs::load_native_certs();
        for c in native.certs {
            // Some system stores hold certificates webpki cannot use; skip them.
            let _ = roots.add(c);
        }
    }
    for path in &opts.ca_files {
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| {
                Error::new(
                    ErrorKind::InvalidArgument,
                    format!("CA file {}: {e}", path.display()),
                )
            })?
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| {
                Error::new(
                    ErrorKind::InvalidArgument,
                    format!("CA file {}: {e}", path.display()),
                )
            })?;
        if certs.is_empty() {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("no certificate in CA file {}", path.display()),
            ));
        }
        for c in certs {
            roots.add(c).map_err(|e| {
                Error::new(
                    ErrorKind::InvalidArgument,
                    format!("CA file {}: {e}", path.display()),
                )
            })?;
        }
    }
    for c in &opts.ca_certificates {
        roots
            .add(c.clone())
            .map_err(|e| Error::new(ErrorKind::InvalidArgument, format!("CA certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(Error::new(
            ErrorKind::Certificate,
            "no trusted root certificates: the system store is empty and no CA file was given",
        ));
    }
    Ok(roots)
}
