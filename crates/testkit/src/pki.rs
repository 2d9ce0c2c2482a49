//! Test-time PKI: [`TestPki`] (a CA generated in memory with rcgen, a server
//! certificate it signed, and more certificates on demand) and [`CertKey`]
//! (a certificate with its private key, as PEM and DER). Nothing is ever
//! written to disk; every run has fresh keys.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::RootCertStore;

/// The validity period of an issued certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Validity {
    /// Valid now (rcgen's default: 1975 to 4096).
    #[default]
    Current,
    /// Expired: valid only during 2000.
    Expired,
    /// Not valid yet: valid from 2090 to 2100.
    NotYetValid,
}

/// A certificate and its private key.
#[derive(Clone)]
pub struct CertKey {
    cert_der: CertificateDer<'static>,
    cert_pem: String,
    key_pkcs8: Vec<u8>,
    key_pem: String,
}

impl std::fmt::Debug for CertKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertKey")
            .field("cert_der_len", &self.cert_der.len())
            .finish_non_exhaustive()
    }
}

impl CertKey {
    fn from_parts(cert: &rcgen::Certificate, key: &KeyPair) -> Self {
        Self {
            cert_der: cert.der().clone(),
            cert_pem: cert.pem(),
            key_pkcs8: key.serialize_der(),
            key_pem: key.serialize_pem(),
        }
    }

    /// The certificate, DER.
    pub fn cert_der(&self) -> CertificateDer<'static> {
        self.cert_der.clone()
    }

    /// The certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The chain to present: just this certificate (issued directly by the CA).
    pub fn chain(&self) -> Vec<CertificateDer<'static>> {
        vec![self.cert_der()]
    }

    /// The private key, PKCS#8 DER.
    pub fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_pkcs8.clone()))
    }

    /// The private key, PKCS#8 PEM.
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }
}

/// A certificate authority made at test time, with a server certificate for
/// `localhost`, `127.0.0.1` and `::1`.
///
/// For negative tests, a second `TestPki::new()` is an unrelated CA: its
/// certificates are not trusted by a client trusting the first.
pub struct TestPki {
    ca_cert: CertificateDer<'static>,
    ca_pem: String,
    issuer: Issuer<'static, KeyPair>,
    server: CertKey,
}

impl std::fmt::Debug for TestPki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestPki").finish_non_exhaustive()
    }
}

impl Default for TestPki {
    fn default() -> Self {
        Self::new()
    }
}

/// The names the default server certificate covers.
pub const SERVER_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

impl TestPki {
    /// A fresh CA (`CN=ftpkit-testkit CA`) and server certificate.
    pub fn new() -> Self {
        Self::with_ca_name("ftpkit-testkit CA")
    }

    /// A fresh CA with the given common name, and a server certificate.
    pub fn with_ca_name(common_name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("CA key");
        let cert = params.self_signed(&key).expect("CA certificate");
        let ca_cert = cert.der().clone();
        let ca_pem = cert.pem();
        let issuer = Issuer::new(params, key);
        let server = sign(&issuer, server_params(&SERVER_NAMES), Validity::Current);
        Self {
            ca_cert,
            ca_pem,
            issuer,
            server,
        }
    }

    /// The CA certificate, DER (the trust anchor for clients).
    pub fn ca_cert_der(&self) -> CertificateDer<'static> {
        self.ca_cert.clone()
    }

    /// The CA certificate, PEM.
    pub fn ca_cert_pem(&self) -> &str {
        &self.ca_pem
    }

    /// A root store holding only this CA.
    pub fn root_store(&self) -> RootCertStore {
        let mut roots = RootCertStore::empty();
        roots
            .add(self.ca_cert_der())
            .expect("CA certificate parses");
        roots
    }

    /// The server certificate for `localhost`, `127.0.0.1` and `::1`.
    pub fn server_cert(&self) -> &CertKey {
        &self.server
    }

    /// A server certificate for other names (e.g. a wrong name), signed by this CA.
    pub fn issue_server_cert(&self, names: &[&str]) -> CertKey {
        self.issue_server_cert_with_validity(names, Validity::Current)
    }

    /// A server certificate with the given validity, signed by this CA.
    pub fn issue_server_cert_with_validity(&self, names: &[&str], validity: Validity) -> CertKey {
        sign(&self.issuer, server_params(names), validity)
    }

    /// A client certificate (`CN=common_name`) signed by this CA.
    pub fn issue_client_cert(&self, common_name: &str) -> CertKey {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("client params");
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        sign(&self.issuer, params, Validity::Current)
    }

    /// A self-signed server certificate for `names`, chained to no CA.
    pub fn self_signed_server_cert(names: &[&str]) -> CertKey {
        let sans: Vec<String> = names.iter().map(|s| (*s).to_owned()).collect();
        let params = CertificateParams::new(sans).expect("server cert names");
        let key = KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("self-signed certificate");
        CertKey::from_parts(&cert, &key)
    }

    /// A rustls client configuration (ring, TLS 1.2 and 1.3) trusting only this CA.
    pub fn client_config(&self) -> rustls::ClientConfig {
        rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(self.root_store())
            .with_no_client_auth()
    }

    /// Like [`client_config`](Self::client_config), presenting `cert` as client certificate.
    pub fn client_config_with_cert(&self, cert: &CertKey) -> rustls::ClientConfig {
        rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(self.root_store())
            .with_client_auth_cert(cert.chain(), cert.key_der())
            .expect("client certificate")
    }
}

/// The ring crypto provider, used for every configuration built here.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    // Deprecated in rustls 0.23.48 (no post-quantum groups); fine for tests.
    #[allow(deprecated)]
    let provider = rustls::crypto::ring::default_provider();
    Arc::new(provider)
}

fn server_params(names: &[&str]) -> CertificateParams {
    let sans: Vec<String> = names.iter().map(|s| (*s).to_owned()).collect();
    let mut params = CertificateParams::new(sans).expect("server cert names");
    if let Some(first) = names.first() {
        params.distinguished_name.push(DnType::CommonName, *first);
    }
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params
}

fn sign(
    issuer: &Issuer<'static, KeyPair>,
    mut params: CertificateParams,
    validity: Validity,
) -> CertKey {
    params.use_authority_key_identifier_extension = true;
    match validity {
        Validity::Current => {}
        Validity::Expired => {
            params.not_before = rcgen::date_time_ymd(2000, 1, 1);
            params.not_after = rcgen::date_time_ymd(2000, 12, 31);
        }
        Validity::NotYetValid => {
            params.not_before = rcgen::date_time_ymd(2090, 1, 1);
            params.not_after = rcgen::date_time_ymd(2100, 1, 1);
        }
    }
    let key = KeyPair::generate().expect("key");
    let cert = params.signed_by(&key, issuer).expect("signing");
    CertKey::from_parts(&cert, &key)
}
