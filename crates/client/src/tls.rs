//! TLS settings and the per-session TLS context.
//!
//! Trust is verified on the control connection **and every data
//! connection**, always against the control connection's host name. Each
//! control connection gets its own session store ([`FtpSessionStore`]):
//! data connections resume the control connection's TLS session, and
//! concurrent sessions to the same host never use each other's tickets.

use std::collections::VecDeque;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ClientSessionStore, Resumption, Tls12ClientSessionValue, Tls13ClientSessionValue, WebPkiServerVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, NamedGroup, RootCertStore, SignatureScheme};

use crate::error::{Error, ErrorKind, Result};

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

/// A SHA-256 pin of the server's end-entity certificate or public key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Pin {
    /// SHA-256 of the whole certificate (DER).
    Certificate([u8; 32]),
    /// SHA-256 of the SubjectPublicKeyInfo (DER), which survives renewals
    /// with the same key.
    PublicKey([u8; 32]),
}

impl Pin {
    /// Parses 64 hex digits (colons allowed, as `openssl x509 -fingerprint`
    /// prints them) as a certificate pin.
    pub fn certificate_from_hex(hex: &str) -> Result<Self> {
        Ok(Pin::Certificate(parse_sha256_hex(hex)?))
    }

    /// Parses 64 hex digits as a public-key pin.
    pub fn public_key_from_hex(hex: &str) -> Result<Self> {
        Ok(Pin::PublicKey(parse_sha256_hex(hex)?))
    }

    fn matches(&self, end_entity: &CertificateDer<'_>) -> bool {
        match self {
            Pin::Certificate(want) => sha256(end_entity) == *want,
            Pin::PublicKey(want) => x509_parser::parse_x509_certificate(end_entity)
                .map(|(_, c)| sha256(c.tbs_certificate.subject_pki.raw) == *want)
                .unwrap_or(false),
        }
    }
}

fn parse_sha256_hex(hex: &str) -> Result<[u8; 32]> {
    let digits: Vec<u8> = hex.bytes().filter(|b| *b != b':').collect();
    let bad = || Error::new(ErrorKind::InvalidArgument, "a SHA-256 pin is 64 hex digits");
    if digits.len() != 64 {
        return Err(bad());
    }
    let mut out = [0u8; 32];
    for (slot, pair) in out.iter_mut().zip(digits.chunks(2)) {
        let s = std::str::from_utf8(pair).map_err(|_| bad())?;
        *slot = u8::from_str_radix(s, 16).map_err(|_| bad())?;
    }
    Ok(out)
}

/// SHA-256 of bytes.
pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// A client certificate chain and its private key.
pub struct ClientIdentity {
    pub(crate) chain: Vec<CertificateDer<'static>>,
    pub(crate) key: PrivateKeyDer<'static>,
}

impl Clone for ClientIdentity {
    fn clone(&self) -> Self {
        Self {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

impl fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientIdentity")
            .field("certificates", &self.chain.len())
            .field("key", &"[REDACTED]")
            .finish()
    }
}

impl ClientIdentity {
    /// From DER values.
    pub fn new(chain: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>) -> Self {
        Self { chain, key }
    }

    /// From PEM text: one or more certificates and a PKCS#8, PKCS#1 or SEC1
    /// key (they may be in the same text).
    pub fn from_pem(certs_pem: &[u8], key_pem: &[u8]) -> Result<Self> {
        let chain = CertificateDer::pem_slice_iter(certs_pem)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::new(ErrorKind::InvalidArgument, format!("client certificate PEM: {e}")))?;
        if chain.is_empty() {
            return Err(Error::new(ErrorKind::InvalidArgument, "no certificate in the client certificate PEM"));
        }
        let key = PrivateKeyDer::from_pem_slice(key_pem)
            .map_err(|e| Error::new(ErrorKind::InvalidArgument, format!("client key PEM: {e}")))?;
        Ok(Self { chain, key })
    }

    /// From PEM files.
    pub fn from_pem_files(cert: impl AsRef<std::path::Path>, key: impl AsRef<std::path::Path>) -> Result<Self> {
        let read = |p: &std::path::Path| {
            std::fs::read(p).map_err(|e| Error::from_io(&format!("reading {}", p.display()), e))
        };
        Self::from_pem(&read(cert.as_ref())?, &read(key.as_ref())?)
    }

    /// The end-entity certificate.
    pub fn certificate(&self) -> Option<&CertificateDer<'static>> {
        self.chain.first()
    }
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
}

/// A verifier that adds a pin check to a chain verifier, or to nothing at
/// all in `DangerAcceptInvalidCertificates` mode.
#[derive(Debug)]
struct Verifier {
    chain: Option<Arc<WebPkiServerVerifier>>,
    pin: Option<Pin>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        if let Some(v) = &self.chain {
            v.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)?;
        }
        if let Some(pin) = &self.pin {
            if !pin.matches(end_entity) {
                return Err(rustls::Error::InvalidCertificate(rustls::CertificateError::ApplicationVerificationFailure));
            }
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// A rustls configuration built from [`TlsOptions`], shared by every
/// session of a client. Build it once; each control connection then makes
/// its own [`SessionTls`].
#[derive(Clone, Debug)]
pub struct TlsContext {
    base: Arc<rustls::ClientConfig>,
}

impl TlsContext {
    /// Builds the rustls configuration: roots, verifier, versions, client
    /// certificate.
    pub fn new(opts: &TlsOptions) -> Result<Self> {
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
            return Err(Error::new(ErrorKind::InvalidArgument, "minimum TLS version above maximum"));
        }
        let chain = match opts.verification {
            Verification::Full => Some(
                WebPkiServerVerifier::builder_with_provider(Arc::new(load_roots(opts)?), provider.clone())
                    .build()
                    .map_err(|e| Error::new(ErrorKind::Certificate, format!("building the certificate verifier: {e}")))?,
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
            Some(id) => builder
                .with_client_auth_cert(id.chain.clone(), id.key.clone_key())
                .map_err(|e| Error::new(ErrorKind::InvalidArgument, format!("client certificate: {e}")))?,
        };
        Ok(Self { base: Arc::new(config) })
    }

    /// A new TLS context for one control connection and its data
    /// connections.
    pub(crate) fn session(&self, host: &str) -> Result<SessionTls> {
        let server_name = ServerName::try_from(host.to_owned())
            .map_err(|_| Error::new(ErrorKind::InvalidArgument, format!("{host:?} is not a valid TLS server name")))?;
        let store = Arc::new(FtpSessionStore::default());
        let mut control = (*self.base).clone();
        control.resumption = Resumption::store(Arc::new(ControlView(store.clone())));
        let mut data = (*self.base).clone();
        data.resumption = Resumption::store(Arc::new(DataView(store.clone())));
        Ok(SessionTls {
            control: Arc::new(control),
            data: Arc::new(data),
            server_name,
            store,
        })
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
            .map_err(|e| Error::new(ErrorKind::InvalidArgument, format!("CA file {}: {e}", path.display())))?
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::new(ErrorKind::InvalidArgument, format!("CA file {}: {e}", path.display())))?;
        if certs.is_empty() {
            return Err(Error::new(ErrorKind::InvalidArgument, format!("no certificate in CA file {}", path.display())));
        }
        for c in certs {
            roots
                .add(c)
                .map_err(|e| Error::new(ErrorKind::InvalidArgument, format!("CA file {}: {e}", path.display())))?;
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

/// The TLS state of one control connection: the configurations of the
/// control and data connections, which share one session store.
#[derive(Clone, Debug)]
pub(crate) struct SessionTls {
    pub(crate) control: Arc<rustls::ClientConfig>,
    pub(crate) data: Arc<rustls::ClientConfig>,
    pub(crate) server_name: ServerName<'static>,
    pub(crate) store: Arc<FtpSessionStore>,
}

/// How many tickets are kept per origin.
const MAX_TICKETS: usize = 8;

/// Session store of one FTP session.
///
/// Servers that require session reuse accept a data connection only if it
/// resumes the control connection's session. TLS 1.3 tickets the server
/// sends on the control connection do that. rustls treats tickets as
/// single-use, but servers hand out few (ProFTPD: two at login, none per
/// upload), so a long session would run out; with the vendored rustls patch
/// (`vendor/README.md`) this store offers an unused control ticket when it
/// has one and otherwise a copy of the newest control ticket, as OpenSSL
/// clients do with `SSL_set_session`. Tickets received on data connections
/// are used only by a session whose control connection never received one.
/// The TLS 1.2 session is always the control connection's.
#[derive(Debug, Default)]
pub(crate) struct FtpSessionStore {
    inner: Mutex<StoreInner>,
}

#[derive(Debug, Default)]
struct StoreInner {
    kx_hint: Option<NamedGroup>,
    tls12: Option<Tls12ClientSessionValue>,
    control_tickets: VecDeque<Tls13ClientSessionValue>,
    /// A copy of the newest control ticket, offered when none is unused.
    newest_control: Option<Tls13ClientSessionValue>,
    data_tickets: VecDeque<Tls13ClientSessionValue>,
    full_handshakes: u64,
    control_tickets_received: u64,
    data_tickets_received: u64,
    reused_tickets: u64,
}

/// Counters of a session's TLS session store, for diagnostics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionStats {
    /// TLS 1.3 tickets received on the control connection, in all.
    pub control_tickets_received: u64,
    /// TLS 1.3 tickets received on data connections, in all.
    pub data_tickets_received: u64,
    /// Control-connection tickets on hand (unused).
    pub control_tickets_held: usize,
    /// Data-connection tickets on hand (unused).
    pub data_tickets_held: usize,
    /// Data connections that made a full handshake instead of resuming.
    pub full_handshakes: u64,
    /// Data connections offered a copy of an already used control ticket.
    pub reused_tickets: u64,
}

impl FtpSessionStore {
    fn with<R>(&self, f: impl FnOnce(&mut StoreInner) -> R) -> R {
        let mut guard = match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut guard)
    }

    /// Tickets on hand: (from control, from data connections).
    pub(crate) fn ticket_counts(&self) -> (usize, usize) {
        self.with(|s| (s.control_tickets.len(), s.data_tickets.len()))
    }

    /// All counters.
    pub(crate) fn stats(&self) -> SessionStats {
        self.with(|s| SessionStats {
            control_tickets_received: s.control_tickets_received,
            data_tickets_received: s.data_tickets_received,
            control_tickets_held: s.control_tickets.len(),
            data_tickets_held: s.data_tickets.len(),
            full_handshakes: s.full_handshakes,
            reused_tickets: s.reused_tickets,
        })
    }

    /// Counts a data connection that could not resume.
    pub(crate) fn note_full_handshake(&self) {
        self.with(|s| s.full_handshakes += 1);
    }
}

fn push_bounded(q: &mut VecDeque<Tls13ClientSessionValue>, v: Tls13ClientSessionValue) {
    if q.len() >= MAX_TICKETS {
        q.pop_front();
    }
    q.push_back(v);
}

/// The control connection's view: it stores what it learns; it never
/// resumes (each FTP session starts with a full handshake).
#[derive(Debug)]
struct ControlView(Arc<FtpSessionStore>);

impl ClientSessionStore for ControlView {
    fn set_kx_hint(&self, _: ServerName<'static>, group: NamedGroup) {
        self.0.with(|s| s.kx_hint = Some(group));
    }
    fn kx_hint(&self, _: &ServerName<'_>) -> Option<NamedGroup> {
        self.0.with(|s| s.kx_hint)
    }
    fn set_tls12_session(&self, _: ServerName<'static>, value: Tls12ClientSessionValue) {
        self.0.with(|s| s.tls12 = Some(value));
    }
    fn tls12_session(&self, _: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        None
    }
    fn remove_tls12_session(&self, _: &ServerName<'static>) {}
    fn insert_tls13_ticket(&self, _: ServerName<'static>, value: Tls13ClientSessionValue) {
        self.0.with(|s| {
            s.control_tickets_received += 1;
            s.newest_control = Some(value.clone());
            push_bounded(&mut s.control_tickets, value);
        });
    }
    fn take_tls13_ticket(&self, _: &ServerName<'static>) -> Option<Tls13ClientSessionValue> {
        None
    }
}

/// The data connections' view: resume the control session.
#[derive(Debug)]
struct DataView(Arc<FtpSessionStore>);

impl ClientSessionStore for DataView {
    fn set_kx_hint(&self, _: ServerName<'static>, group: NamedGroup) {
        self.0.with(|s| s.kx_hint = Some(group));
    }
    fn kx_hint(&self, _: &ServerName<'_>) -> Option<NamedGroup> {
        self.0.with(|s| s.kx_hint)
    }
    fn set_tls12_session(&self, _: ServerName<'static>, _: Tls12ClientSessionValue) {
        // Keep the control connection's session.
    }
    fn tls12_session(&self, _: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        self.0.with(|s| s.tls12.clone())
    }
    fn remove_tls12_session(&self, _: &ServerName<'static>) {
        // A failed resumption of a data connection must not make every
        // later one fail too: the control session stays.
    }
    fn insert_tls13_ticket(&self, _: ServerName<'static>, value: Tls13ClientSessionValue) {
        self.0.with(|s| {
            s.data_tickets_received += 1;
            push_bounded(&mut s.data_tickets, value);
        });
    }
    fn take_tls13_ticket(&self, _: &ServerName<'static>) -> Option<Tls13ClientSessionValue> {
        self.0.with(|s| {
            if let Some(t) = s.control_tickets.pop_back() {
                return Some(t);
            }
            if let Some(t) = &s.newest_control {
                s.reused_tickets += 1;
                return Some(t.clone());
            }
            s.data_tickets.pop_back()
        })
    }
}

/// A certificate of the server, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateInfo {
    /// Subject distinguished name.
    pub subject: String,
    /// Issuer distinguished name.
    pub issuer: String,
    /// Start of validity.
    pub not_before: SystemTime,
    /// End of validity.
    pub not_after: SystemTime,
    /// Subject alternative names (DNS names and IP addresses).
    pub subject_alt_names: Vec<String>,
    /// SHA-256 of the DER certificate.
    pub sha256: [u8; 32],
}

impl CertificateInfo {
    /// Parses a DER certificate.
    pub fn parse(der: &[u8]) -> Result<Self> {
        let (_, cert) = x509_parser::parse_x509_certificate(der)
            .map_err(|e| Error::new(ErrorKind::Certificate, format!("unparsable certificate: {e}")))?;
        let to_time = |t: x509_parser::time::ASN1Time| {
            let secs = t.timestamp();
            if secs >= 0 {
                SystemTime::UNIX_EPOCH + Duration::from_secs(secs.unsigned_abs())
            } else {
                SystemTime::UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
            }
        };
        let mut sans = Vec::new();
        if let Ok(Some(ext)) = cert.subject_alternative_name() {
            for n in &ext.value.general_names {
                match n {
                    x509_parser::extensions::GeneralName::DNSName(d) => sans.push((*d).to_owned()),
                    x509_parser::extensions::GeneralName::IPAddress(ip) => match ip.len() {
                        4 => {
                            let b: [u8; 4] = ip[..4].try_into().unwrap_or_default();
                            sans.push(std::net::Ipv4Addr::from(b).to_string());
                        }
                        16 => {
                            let b: [u8; 16] = ip[..16].try_into().unwrap_or_default();
                            sans.push(std::net::Ipv6Addr::from(b).to_string());
                        }
                        _ => {}
                    },
                    other => sans.push(other.to_string()),
                }
            }
        }
        Ok(Self {
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            not_before: to_time(cert.validity().not_before),
            not_after: to_time(cert.validity().not_after),
            subject_alt_names: sans,
            sha256: sha256(der),
        })
    }

    /// The SHA-256 fingerprint as colon-separated upper-case hex.
    pub fn fingerprint(&self) -> String {
        self.sha256.iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
    }
}

/// TLS details of the control connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionTls {
    /// Negotiated version.
    pub version: Option<ProtocolVersion>,
    /// Negotiated cipher suite.
    pub cipher_suite: Option<CipherSuite>,
    /// The server's chain, end-entity first.
    pub peer_certificates: Vec<CertificateInfo>,
}
