//! Client certificates: PEM, PKCS#12, or picked from a store by name
//! ([`ClientIdentity`], whose documentation is the public overview).
//!
//! # Example: picking a certificate by name
//!
//! ```no_run
//! use ftpkit::tls::ClientIdentity;
//!
//! # fn main() -> ftpkit::Result<()> {
//! // /etc/ftpkit/certs holds alice.crt, alice.key, bob.p12, issuing-ca.pem...
//! let alice = ClientIdentity::from_store("/etc/ftpkit/certs", "alice@example.com", Some("p12 password"))?;
//! let mut config = ftpkit::Config::new("ftp.example.com");
//! config.tls.client_identity = Some(alice);
//! # Ok(())
//! # }
//! ```
//!
//! Store look-ups read every file into [`StoreCert`]s and [`StoreKey`]s,
//! derive each key's public key with ring ([`public_key_of`]; SEC1 keys are
//! wrapped in PKCS#8 first), match the certificate by name, pair it with the
//! key whose public key is the certificate's SubjectPublicKeyInfo key, and
//! attach the issuers found in the store ([`build_chain`]: issuer name and,
//! where ring can check it, signature).

use std::fmt;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use p12_keystore::Pkcs12Archive;
use rustls::pki_types::pem::{PemObject, SectionKind};
use rustls::pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer,
};
use x509_parser::certificate::X509Certificate;
use x509_parser::error::X509Error;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;

use crate::error::{Error, ErrorKind, Result};

/// A client certificate chain (leaf first) and its private key, presented
/// when the server asks for a certificate.
///
/// It can be made
///
/// - from PEM text or files ([`from_pem`](Self::from_pem),
///   [`from_pem_files`](Self::from_pem_files)), with a PKCS#8
///   (`BEGIN PRIVATE KEY`), PKCS#1 (`BEGIN RSA PRIVATE KEY`) or SEC1
///   (`BEGIN EC PRIVATE KEY`) key;
/// - from a PKCS#12 (`.p12`/`.pfx`) bundle ([`from_pkcs12`](Self::from_pkcs12),
///   [`from_pkcs12_file`](Self::from_pkcs12_file));
/// - by name from a certificate store: a directory of PEM, DER and PKCS#12
///   files, or one bundle file ([`from_store`](Self::from_store)). The
///   certificate whose subject common name, or DNS, e-mail or URI subject
///   alternative name, is the name given is paired with the private key whose
///   public key is the certificate's, and the intermediates of the store that
///   issued it are attached;
/// - from DER values ([`new`](Self::new)).
///
/// # Example: picking a certificate by name
///
/// ```no_run
/// use ftpkit::tls::ClientIdentity;
///
/// # fn main() -> ftpkit::Result<()> {
/// // /etc/ftpkit/certs holds alice.crt, alice.key, bob.p12, issuing-ca.pem...
/// let alice = ClientIdentity::from_store("/etc/ftpkit/certs", "alice@example.com", Some("p12 password"))?;
/// let mut config = ftpkit::Config::new("ftp.example.com");
/// config.tls.client_identity = Some(alice);
/// # Ok(())
/// # }
/// ```
///
/// Each way of failing has its own message (all of kind
/// [`ErrorKind::InvalidArgument`], naming the store and the name): no
/// certificate has the name (the names seen are listed), several do (their
/// subjects, serials and expiry dates are listed), no key of the store belongs
/// to the certificate, the certificate has expired or is not valid yet, a file
/// cannot be read or opened.
#[derive(Clone)]
pub struct ClientIdentity {
    pub(crate) chain: Vec<CertificateDer<'static>>,
    pub(crate) key: IdentityKey,
}

/// Where the private key of a [`ClientIdentity`] is.
pub(crate) enum IdentityKey {
    /// In memory, from a file or a store.
    Der(PrivateKeyDer<'static>),
    /// On a PKCS#11 token: signing happens there.
    #[cfg(feature = "pkcs11")]
    Token(std::sync::Arc<super::token::TokenKey>),
}

impl Clone for IdentityKey {
    fn clone(&self) -> Self {
        match self {
            Self::Der(k) => Self::Der(k.clone_key()),
            #[cfg(feature = "pkcs11")]
            Self::Token(t) => Self::Token(t.clone()),
        }
    }
}

impl IdentityKey {
    /// What tells keys apart in a pool key, without the secret itself: the
    /// key's bytes for a key in memory (the pool hashes them with a
    /// per-process secret), the token and object for a token key.
    pub(crate) fn pool_identity(&self) -> Vec<u8> {
        match self {
            Self::Der(k) => k.secret_der().to_vec(),
            #[cfg(feature = "pkcs11")]
            Self::Token(t) => t.pool_identity(),
        }
    }
}

impl fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("ClientIdentity");
        d.field("certificates", &self.chain.len());
        match &self.key {
            IdentityKey::Der(_) => d.field("key", &"[REDACTED]"),
            #[cfg(feature = "pkcs11")]
            IdentityKey::Token(t) => d.field("token", t),
        };
        d.finish()
    }
}

/// How many certificates above the leaf are looked for in a store.
const MAX_INTERMEDIATES: usize = 5;
/// How many names an error message lists.
const MAX_NAMES_LISTED: usize = 10;
/// File name extensions read from a store directory (case-insensitive).
const STORE_EXTENSIONS: [&str; 6] = ["pem", "crt", "cer", "key", "p12", "pfx"];

impl ClientIdentity {
    /// From DER values: the chain (leaf first) and its private key. Nothing
    /// is checked here; rustls checks the pair when the
    /// [`TlsContext`](super::TlsContext) is built.
    pub fn new(chain: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>) -> Self {
        Self {
            chain,
            key: IdentityKey::Der(key),
        }
    }

    /// From PEM text: one or more certificates (leaf first) and a PKCS#8
    /// (`BEGIN PRIVATE KEY`), PKCS#1 (`BEGIN RSA PRIVATE KEY`) or SEC1
    /// (`BEGIN EC PRIVATE KEY`) key. Both may be in the same text.
    ///
    /// When the key's type can be checked (RSA, ECDSA P-256/P-384, Ed25519),
    /// a key that does not belong to the leaf certificate is an error.
    pub fn from_pem(certs_pem: &[u8], key_pem: &[u8]) -> Result<Self> {
        let chain = CertificateDer::pem_slice_iter(certs_pem)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| invalid(format!("client certificate PEM: {e}")))?;
        let Some(leaf) = chain.first() else {
            return Err(invalid("no certificate in the client certificate PEM"));
        };
        let key = match PrivateKeyDer::from_pem_slice(key_pem) {
            Ok(key) => key,
            Err(rustls::pki_types::pem::Error::NoItemsFound) if has_encrypted_key(key_pem) => {
                return Err(invalid(
                    "client key PEM: the key is encrypted (BEGIN ENCRYPTED PRIVATE KEY); decrypt it or use PKCS#12",
                ))
            }
            Err(e) => return Err(invalid(format!("client key PEM: {e}"))),
        };
        // Checked when both can be read; rustls checks again when the
        // TlsContext is built.
        if let (Ok(cert), Ok(public)) = (
            StoreCert::parse(leaf.clone(), "the client certificate PEM"),
            public_key_of(&key),
        ) {
            if public != cert.spki {
                return Err(invalid(format!(
                    "client key PEM: the key does not belong to the certificate {}",
                    cert.describe()
                )));
            }
        }
        Ok(Self::new(chain, key))
    }

    /// From PEM files: see [`from_pem`](Self::from_pem). The two paths may
    /// be the same file.
    pub fn from_pem_files(cert: impl AsRef<Path>, key: impl AsRef<Path>) -> Result<Self> {
        let read = |p: &Path| {
            std::fs::read(p).map_err(|e| Error::from_io(&format!("reading {}", p.display()), e))
        };
        Self::from_pem(&read(cert.as_ref())?, &read(key.as_ref())?)
    }

    /// From a PKCS#12 (`.p12`/`.pfx`) bundle holding one private key, its
    /// certificate and possibly intermediates.
    ///
    /// The certificate is the one whose public key is the key's (or, for a
    /// key type that cannot be checked, the one the bundle links to the key);
    /// the chain is that certificate followed by the intermediates of the
    /// bundle that issued it (a self-signed root is left out). A wrong
    /// password, a bundle without a key and a bundle with several keys are
    /// errors of kind [`ErrorKind::InvalidArgument`]. For a bundle with
    /// several keys, use [`from_store`](Self::from_store) with a name.
    pub fn from_pkcs12(der: &[u8], password: &str) -> Result<Self> {
        Self::pkcs12(der, password, "the PKCS#12 bundle")
    }

    /// From a PKCS#12 file: see [`from_pkcs12`](Self::from_pkcs12).
    pub fn from_pkcs12_file(path: impl AsRef<Path>, password: &str) -> Result<Self> {
        let path = path.as_ref();
        let der = std::fs::read(path)
            .map_err(|e| Error::from_io(&format!("reading {}", path.display()), e))?;
        Self::pkcs12(&der, password, &format!("PKCS#12 file {}", path.display()))
    }

    fn pkcs12(der: &[u8], password: &str, what: &str) -> Result<Self> {
        let archive = Pkcs12Archive::from_pkcs12(der, password)
            .map_err(|e| invalid(format!("{what}: {}", pkcs12_error(&e, true))))?;
        let mut certs = Vec::with_capacity(archive.certs.len());
        for (i, bag) in archive.certs.iter().enumerate() {
            let der = CertificateDer::from(bag.cert.as_der().to_vec());
            certs.push(StoreCert::parse(
                der,
                &format!("{what}, certificate #{}", i + 1),
            )?);
        }
        let key_bag = match archive.keys.as_slice() {
            [] => {
                return Err(invalid(format!(
                    "{what} holds no private key ({} certificate(s) only)",
                    certs.len()
                )))
            }
            [one] => one,
            many => {
                return Err(invalid(format!(
                "{what} holds {} private keys; pick one by name with ClientIdentity::from_store",
                many.len()
            )))
            }
        };
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_bag.key.as_der().to_vec()));
        let leaf_index = match public_key_of(&key) {
            Ok(public) => certs.iter().position(|c| c.spki == public).ok_or_else(|| {
                invalid(format!(
                    "{what}: no certificate in the bundle belongs to its private key"
                ))
            })?,
            Err(why) => {
                // The key cannot be checked: trust the bundle's own link.
                let linked = key_bag.local_key_id.as_ref().and_then(|id| {
                    archive
                        .certs
                        .iter()
                        .position(|c| c.local_key_id.as_deref() == Some(id.as_ref()))
                });
                linked.ok_or_else(|| {
                    invalid(format!(
                        "{what}: cannot tell which certificate belongs to the private key ({why}) and the bundle does not link them"
                    ))
                })?
            }
        };
        let chain = build_chain(&certs[leaf_index], &certs, unix_seconds(SystemTime::now()));
        Ok(Self::new(chain, key))
    }

    /// Picks a client certificate by name from a certificate store, with the
    /// current system time: see [`from_store_at`](Self::from_store_at).
    pub fn from_store(path: impl AsRef<Path>, name: &str, password: Option<&str>) -> Result<Self> {
        Self::from_store_at(path, name, password, SystemTime::now())
    }

    /// Picks a client certificate by name from a certificate store, judging
    /// validity at `now`.
    ///
    /// `path` is a directory or a single bundle file:
    ///
    /// - in a directory, the files named `*.pem`, `*.crt`, `*.cer`, `*.key`,
    ///   `*.p12` and `*.pfx` are read (not subdirectories). PEM files may
    ///   hold certificates and keys (PKCS#8, PKCS#1, SEC1); `.crt`/`.cer`
    ///   files may also be DER certificates; `.p12`/`.pfx` files are opened
    ///   with `password` (none means the empty password);
    /// - a file is read as PEM when it holds PEM sections, else as a DER
    ///   certificate or a PKCS#12 bundle.
    ///
    /// The certificate chosen is the one whose subject common name, DNS
    /// subject alternative name (ASCII case-insensitively), or e-mail or URI
    /// subject alternative name (exactly) is `name`. When several match, the
    /// only one valid at `now` that has its key in the store is taken; if
    /// there is no such single one, that is an error listing them. The key is
    /// the one whose public key is the certificate's (RSA, ECDSA P-256/P-384
    /// and Ed25519 keys can be checked; other key types are reported, never
    /// guessed). The chain is the certificate followed by the certificates of
    /// the store that issued it, up to five levels, without a self-signed
    /// root.
    ///
    /// Every error is of kind [`ErrorKind::InvalidArgument`] and names the
    /// store and `name`: unreadable or undecodable file (named), wrong
    /// PKCS#12 password, no certificate with that name (the names seen are
    /// listed), several, no key belonging to the certificate, certificate
    /// expired or not yet valid.
    pub fn from_store_at(
        path: impl AsRef<Path>,
        name: &str,
        password: Option<&str>,
        now: SystemTime,
    ) -> Result<Self> {
        let path = path.as_ref();
        let ctx = format!("client certificate {name:?} in store {}", path.display());
        let store = Store::load(path, password, &ctx)?;
        let now = unix_seconds(now);

        let has_key = |i: usize| store.key_for(&store.certs[i]).is_some();
        let cert = match pick_named(&store.certs, name, now, has_key) {
            Pick::One(i) => &store.certs[i],
            Pick::NoneNamed => {
                return Err(invalid(format!(
                    "{ctx}: no certificate has this name ({})",
                    store.names_seen()
                )))
            }
            Pick::Ambiguous(many) => {
                let listed: Vec<String> = many
                    .iter()
                    .map(|&i| candidate(&store.certs[i], now, has_key(i)))
                    .collect();
                return Err(invalid(format!(
                    "{ctx}: {} certificates have this name: {}",
                    many.len(),
                    listed.join("; ")
                )));
            }
        };
        cert.validity_at(now)
            .map_err(|why| invalid(format!("{ctx}: the certificate {} {why}", cert.describe())))?;
        let Some(key) = store.key_for(cert) else {
            return Err(invalid(format!("{ctx}: {}", store.no_key(cert))));
        };
        let chain = build_chain(cert, &store.certs, now);
        Ok(Self::new(chain, key.key.clone_key()))
    }

    /// The end-entity certificate.
    pub fn certificate(&self) -> Option<&CertificateDer<'static>> {
        self.chain.first()
    }

    /// The chain presented to the server: the end-entity certificate first,
    /// then the intermediates.
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }
}

pub(super) fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidArgument, message)
}

fn has_encrypted_key(pem: &[u8]) -> bool {
    pem.windows(ENCRYPTED_KEY_MARKER.len())
        .any(|w| w == ENCRYPTED_KEY_MARKER)
}

const ENCRYPTED_KEY_MARKER: &[u8] = b"-----BEGIN ENCRYPTED PRIVATE KEY-----";

fn pkcs12_error(e: &p12_keystore::error::Error, password_given: bool) -> String {
    use p12_keystore::error::Error as P12;
    match e {
        P12::MacError(_) if password_given => "wrong password (the integrity check failed)".into(),
        P12::MacError(_) => "wrong password: the bundle needs a password and none was given".into(),
        P12::UnpadError | P12::Pkcs5Error(_) | P12::InvalidPrivateKey => {
            format!("cannot decrypt it (wrong password?): {e}")
        }
        P12::UnsupportedEncryptionScheme
        | P12::UnsupportedMacAlgorithm
        | P12::UnsupportedContentType => {
            format!("unsupported PKCS#12 protection: {e}")
        }
        _ => format!("not a readable PKCS#12 bundle: {e}"),
    }
}

/// Seconds since the Unix epoch (negative before it).
pub(super) fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

fn format_time(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second] UTC"
            ))
            .ok()
        })
        .unwrap_or_else(|| format!("{secs} s after 1970"))
}

// ----- certificates -----

/// What a name in a certificate is, for matching.
#[derive(Clone, Copy, PartialEq, Eq)]
enum NameKind {
    CommonName,
    Dns,
    Email,
    Uri,
}

/// A certificate of a store, with what selection needs.
pub(super) struct StoreCert {
    pub(super) der: CertificateDer<'static>,
    pub(super) source: String,
    pub(super) subject: String,
    pub(super) subject_raw: Vec<u8>,
    pub(super) issuer_raw: Vec<u8>,
    names: Vec<(NameKind, String)>,
    pub(super) spki: Vec<u8>,
    pub(super) serial: String,
    pub(super) not_before: i64,
    pub(super) not_after: i64,
}

impl StoreCert {
    pub(super) fn parse(der: CertificateDer<'static>, source: &str) -> Result<Self> {
        let mut cert = {
            let (_, x509) = X509Certificate::from_der(&der)
                .map_err(|e| invalid(format!("{source}: not a readable X.509 certificate: {e}")))?;
            let mut names = Vec::new();
            for cn in x509.subject().iter_common_name() {
                if let Ok(s) = cn.as_str() {
                    names.push((NameKind::CommonName, s.to_owned()));
                }
            }
            if let Ok(Some(san)) = x509.subject_alternative_name() {
                for general in &san.value.general_names {
                    let entry = match general {
                        GeneralName::DNSName(s) => (NameKind::Dns, *s),
                        GeneralName::RFC822Name(s) => (NameKind::Email, *s),
                        GeneralName::URI(s) => (NameKind::Uri, *s),
                        _ => continue,
                    };
                    names.push((entry.0, entry.1.to_owned()));
                }
            }
            let validity = x509.validity();
            Self {
                der: CertificateDer::from(Vec::new()),
                source: source.to_owned(),
                subject: x509.subject().to_string(),
                subject_raw: x509.subject().as_raw().to_vec(),
                issuer_raw: x509.issuer().as_raw().to_vec(),
                names,
                spki: x509.public_key().subject_public_key.data.to_vec(),
                serial: x509.raw_serial_as_string(),
                not_before: validity.not_before.timestamp(),
                not_after: validity.not_after.timestamp(),
            }
        };
        cert.der = der;
        Ok(cert)
    }

    pub(super) fn has_name(&self, name: &str) -> bool {
        self.names.iter().any(|(kind, n)| match kind {
            NameKind::Dns => n.eq_ignore_ascii_case(name),
            NameKind::CommonName | NameKind::Email | NameKind::Uri => n == name,
        })
    }

    fn is_self_issued(&self) -> bool {
        self.subject_raw == self.issuer_raw
    }

    /// `Ok` when valid at `now`, else why not ("expired on ...").
    pub(super) fn validity_at(&self, now: i64) -> std::result::Result<(), String> {
        if now < self.not_before {
            Err(format!(
                "is not valid yet (valid from {})",
                format_time(self.not_before)
            ))
        } else if now > self.not_after {
            Err(format!("has expired (on {})", format_time(self.not_after)))
        } else {
            Ok(())
        }
    }

    pub(super) fn describe(&self) -> String {
        format!(
            "\"{}\" (serial {}, from {})",
            self.subject, self.serial, self.source
        )
    }
}

/// Whether `issuer` signed `child` (names already match). A signature that
/// cannot be checked (an algorithm ring does not verify) counts as signed.
fn signed_by(child: &StoreCert, issuer: &StoreCert) -> bool {
    let (Ok((_, child)), Ok((_, issuer))) = (
        X509Certificate::from_der(&child.der),
        X509Certificate::from_der(&issuer.der),
    ) else {
        return false;
    };
    !matches!(
        child.verify_signature(Some(issuer.public_key())),
        Err(X509Error::SignatureVerificationError)
    )
}

/// `leaf`, then the certificates of `pool` that issued it, up to
/// [`MAX_INTERMEDIATES`] levels, stopping before a self-signed root.
pub(super) fn build_chain(
    leaf: &StoreCert,
    pool: &[StoreCert],
    now: i64,
) -> Vec<CertificateDer<'static>> {
    let mut chain = vec![leaf.der.clone()];
    let mut current = leaf;
    for _ in 0..MAX_INTERMEDIATES {
        if current.is_self_issued() {
            break;
        }
        let mut issuers = pool.iter().filter(|c| {
            c.subject_raw == current.issuer_raw && !chain.contains(&c.der) && signed_by(current, c)
        });
        let first = issuers.next();
        // Prefer an issuer valid now (e.g. a renewed intermediate).
        let issuer = match first {
            Some(c) if c.validity_at(now).is_err() => {
                issuers.find(|c| c.validity_at(now).is_ok()).or(first)
            }
            other => other,
        };
        let Some(issuer) = issuer else { break };
        if issuer.is_self_issued() {
            break;
        }
        chain.push(issuer.der.clone());
        current = issuer;
    }
    chain
}

// ----- keys -----

/// A private key of a store, with its public key when it can be derived.
struct StoreKey {
    key: PrivateKeyDer<'static>,
    source: String,
    public: std::result::Result<Vec<u8>, String>,
}

/// The public key of `key`, as in a certificate's SubjectPublicKeyInfo bit
/// string, as rustls (with ring) derives it; or why it cannot be.
fn public_key_of(key: &PrivateKeyDer<'_>) -> std::result::Result<Vec<u8>, String> {
    let signing = rustls::crypto::ring::sign::any_supported_type(key).map_err(|_| {
        "the key is neither RSA, ECDSA P-256/P-384 nor Ed25519 (the keys rustls with ring can use)"
            .to_owned()
    })?;
    let spki = signing.public_key().ok_or_else(|| {
        format!(
            "rustls cannot derive the public key of this {:?} key",
            signing.algorithm()
        )
    })?;
    let (_, info) = x509_parser::x509::SubjectPublicKeyInfo::from_der(&spki)
        .map_err(|e| format!("the key's public key does not parse: {e}"))?;
    Ok(info.subject_public_key.data.to_vec())
}

// ----- the store -----

/// How a file of a store is read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum FileKind {
    /// `.pem`, `.crt`, `.cer`, `.key`: PEM, or a DER certificate.
    PemOrDer,
    /// `.p12`, `.pfx`.
    Pkcs12,
    /// A bundle file named explicitly: PEM, a DER certificate or PKCS#12.
    Any,
}

/// Every certificate and key of a store.
struct Store {
    certs: Vec<StoreCert>,
    keys: Vec<StoreKey>,
    /// Files holding keys that cannot be read (encrypted PEM keys).
    unreadable_keys: Vec<String>,
}

impl Store {
    fn load(path: &Path, password: Option<&str>, ctx: &str) -> Result<Self> {
        let mut store = Self {
            certs: Vec::new(),
            keys: Vec::new(),
            unreadable_keys: Vec::new(),
        };
        let meta = std::fs::metadata(path)
            .map_err(|e| invalid(format!("{ctx}: cannot read {}: {e}", path.display())))?;
        if meta.is_dir() {
            let entries = std::fs::read_dir(path)
                .map_err(|e| invalid(format!("{ctx}: cannot list {}: {e}", path.display())))?;
            let mut files = Vec::new();
            for entry in entries {
                let entry = entry
                    .map_err(|e| invalid(format!("{ctx}: cannot list {}: {e}", path.display())))?;
                let file = entry.path();
                let Some(ext) = file
                    .extension()
                    .and_then(|e| e.to_str())
                    .map(str::to_ascii_lowercase)
                else {
                    continue;
                };
                if !STORE_EXTENSIONS.contains(&ext.as_str()) || file.is_dir() {
                    continue;
                }
                let kind = if ext == "p12" || ext == "pfx" {
                    FileKind::Pkcs12
                } else {
                    FileKind::PemOrDer
                };
                files.push((file, kind));
            }
            files.sort_by(|a, b| a.0.cmp(&b.0));
            for (file, kind) in files {
                store.load_file(&file, kind, password, ctx)?;
            }
        } else {
            store.load_file(path, FileKind::Any, password, ctx)?;
        }
        Ok(store)
    }

    fn load_file(
        &mut self,
        file: &Path,
        kind: FileKind,
        password: Option<&str>,
        ctx: &str,
    ) -> Result<()> {
        let shown = file.display().to_string();
        let bytes =
            std::fs::read(file).map_err(|e| invalid(format!("{ctx}: cannot read {shown}: {e}")))?;
        let is_pem = bytes.windows(11).any(|w| w == b"-----BEGIN ");
        match kind {
            FileKind::Pkcs12 => self.load_pkcs12(&bytes, &shown, password, ctx),
            _ if is_pem => self.load_pem(&bytes, &shown, ctx),
            FileKind::PemOrDer => match StoreCert::parse(CertificateDer::from(bytes), &shown) {
                Ok(cert) => {
                    self.certs.push(cert);
                    Ok(())
                }
                Err(_) => Err(invalid(format!(
                    "{ctx}: cannot read {shown}: neither PEM nor a DER certificate"
                ))),
            },
            FileKind::Any => {
                if X509Certificate::from_der(&bytes).is_ok() {
                    let cert = StoreCert::parse(CertificateDer::from(bytes), &shown)?;
                    self.certs.push(cert);
                    Ok(())
                } else {
                    self.load_pkcs12(&bytes, &shown, password, ctx)
                }
            }
        }
    }

    fn load_pem(&mut self, bytes: &[u8], file: &str, ctx: &str) -> Result<()> {
        if has_encrypted_key(bytes) {
            self.unreadable_keys.push(format!(
                "{file}: encrypted PEM key (not supported; decrypt it or use PKCS#12)"
            ));
        }
        for (i, section) in <(SectionKind, Vec<u8>)>::pem_slice_iter(bytes).enumerate() {
            let (kind, der) =
                section.map_err(|e| invalid(format!("{ctx}: cannot read {file}: bad PEM: {e}")))?;
            let key = match kind {
                SectionKind::Certificate => {
                    let source = format!("{file}, PEM section #{}", i + 1);
                    let cert = StoreCert::parse(CertificateDer::from(der), &source)
                        .map_err(|e| invalid(format!("{ctx}: cannot read {file}: {e}")))?;
                    self.certs.push(cert);
                    continue;
                }
                SectionKind::PrivateKey => PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der)),
                SectionKind::RsaPrivateKey => PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(der)),
                SectionKind::EcPrivateKey => PrivateKeyDer::Sec1(PrivateSec1KeyDer::from(der)),
                _ => continue,
            };
            self.add_key(key, file.to_owned());
        }
        Ok(())
    }

    fn load_pkcs12(
        &mut self,
        bytes: &[u8],
        file: &str,
        password: Option<&str>,
        ctx: &str,
    ) -> Result<()> {
        let archive = Pkcs12Archive::from_pkcs12(bytes, password.unwrap_or("")).map_err(|e| {
            invalid(format!(
                "{ctx}: cannot open {file}: {}",
                pkcs12_error(&e, password.is_some())
            ))
        })?;
        for (i, bag) in archive.certs.iter().enumerate() {
            let source = format!("{file}, certificate #{}", i + 1);
            let cert = StoreCert::parse(CertificateDer::from(bag.cert.as_der().to_vec()), &source)
                .map_err(|e| invalid(format!("{ctx}: cannot read {file}: {e}")))?;
            self.certs.push(cert);
        }
        for bag in &archive.keys {
            let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(bag.key.as_der().to_vec()));
            self.add_key(key, file.to_owned());
        }
        Ok(())
    }

    fn add_key(&mut self, key: PrivateKeyDer<'static>, source: String) {
        let public = public_key_of(&key);
        // The same key in two files (e.g. PKCS#8 and PKCS#1) counts once.
        if let Ok(p) = &public {
            if self
                .keys
                .iter()
                .any(|k| k.public.as_ref().is_ok_and(|q| q == p))
            {
                return;
            }
        }
        self.keys.push(StoreKey {
            key,
            source,
            public,
        });
    }

    fn key_for(&self, cert: &StoreCert) -> Option<&StoreKey> {
        self.keys
            .iter()
            .find(|k| k.public.as_ref().is_ok_and(|p| *p == cert.spki))
    }

    /// Why no key of the store belongs to `cert`.
    fn no_key(&self, cert: &StoreCert) -> String {
        let unchecked: Vec<String> = self
            .keys
            .iter()
            .filter_map(|k| {
                k.public
                    .as_ref()
                    .err()
                    .map(|why| format!("{}: {why}", k.source))
            })
            .chain(self.unreadable_keys.iter().cloned())
            .collect();
        let checked = self.keys.iter().filter(|k| k.public.is_ok()).count();
        let subject = cert.describe();
        if unchecked.is_empty() {
            match checked {
                0 => format!("the store holds no private key (for the certificate {subject})"),
                1 => format!(
                    "the key does not belong to the certificate {subject} (the store's only key, in {})",
                    self.keys.first().map_or("?", |k| k.source.as_str())
                ),
                n => format!("none of the store's {n} private keys belongs to the certificate {subject}"),
            }
        } else {
            format!(
                "no private key in the store belongs to the certificate {subject} ({checked} key(s) checked; {} could not be: {})",
                unchecked.len(),
                unchecked.join("; ")
            )
        }
    }

    /// The names of the store's certificates, for "no match" errors.
    fn names_seen(&self) -> String {
        names_seen(&self.certs, "the store")
    }
}

/// Which certificate of `certs` a name picks ([`pick_named`]).
pub(super) enum Pick {
    /// This one.
    One(usize),
    /// None has the name.
    NoneNamed,
    /// Several distinct ones have it, and not exactly one of them is valid
    /// now with its key at hand.
    Ambiguous(Vec<usize>),
}

/// The certificate of `certs` whose names include `name`: the only one, or
/// among several distinct ones the only one valid at `now` whose key
/// `has_key` (by index).
pub(super) fn pick_named(
    certs: &[StoreCert],
    name: &str,
    now: i64,
    has_key: impl Fn(usize) -> bool,
) -> Pick {
    let mut matches: Vec<usize> = Vec::new();
    for (i, cert) in certs.iter().enumerate().filter(|(_, c)| c.has_name(name)) {
        if !matches.iter().any(|&m| certs[m].der == cert.der) {
            matches.push(i);
        }
    }
    match matches.as_slice() {
        [] => Pick::NoneNamed,
        [one] => Pick::One(*one),
        many => {
            let usable: Vec<usize> = many
                .iter()
                .copied()
                .filter(|&i| certs[i].validity_at(now).is_ok() && has_key(i))
                .collect();
            match usable.as_slice() {
                [one] => Pick::One(*one),
                _ => Pick::Ambiguous(matches),
            }
        }
    }
}

/// One candidate of an ambiguous name: subject, serial, expiry, state.
pub(super) fn candidate(cert: &StoreCert, now: i64, has_key: bool) -> String {
    let validity = match cert.validity_at(now) {
        Ok(()) => "valid",
        Err(_) if now < cert.not_before => "not valid yet",
        Err(_) => "expired",
    };
    let key = if has_key { "key found" } else { "no key" };
    format!(
        "\"{}\" serial {} expires {} ({validity}, {key}; in {})",
        cert.subject,
        cert.serial,
        format_time(cert.not_after),
        cert.source
    )
}

/// The names of `certs` (`holder`: "the store", "the token"), at most
/// [`MAX_NAMES_LISTED`], for "no certificate has this name" errors.
pub(super) fn names_seen(certs: &[StoreCert], holder: &str) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for (_, name) in certs.iter().flat_map(|c| c.names.iter()) {
        if !seen.contains(&name.as_str()) {
            seen.push(name);
        }
    }
    if seen.is_empty() {
        return if certs.is_empty() {
            format!("{holder} holds no certificate")
        } else {
            format!("the certificates of {holder} have no names")
        };
    }
    let listed: Vec<String> = seen
        .iter()
        .take(MAX_NAMES_LISTED)
        .map(|n| format!("{n:?}"))
        .collect();
    let more = seen.len().saturating_sub(MAX_NAMES_LISTED);
    if more > 0 {
        format!("names seen: {} and {more} more", listed.join(", "))
    } else {
        format!("names seen: {}", listed.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_readable() {
        assert_eq!(format_time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(
            unix_seconds(UNIX_EPOCH + std::time::Duration::from_secs(5)),
            5
        );
    }
}
