//! Client keys on PKCS#11 tokens: smart cards, HSMs, SoftHSM
//! ([`ClientIdentity::from_token`]).
//!
//! The module (a shared library such as `libsofthsm2.so` or
//! `opensc-pkcs11.so`) is loaded with the `cryptoki` crate, the token is
//! chosen by label or serial, the user logs in with the PIN once, and the
//! certificate is picked by name (as in a certificate store) or by its key's
//! label or id. The private key never leaves the token: rustls asks
//! [`TokenSigningKey`] for a signature during each full handshake, and the
//! token makes it. Data connections resume the control connection's TLS
//! session, so the token signs once per control connection (plus once when
//! the identity is made: the check that the key belongs to the certificate).
//! [`TokenInfo::signatures`] counts them.
//!
//! Keys: ECDSA on P-256 and P-384, and RSA with PSS or PKCS#1 v1.5 padding,
//! each as far as the token has the mechanism (`CKM_ECDSA`, `CKM_ECDSA_SHA*`,
//! `CKM_RSA_PKCS_PSS`, `CKM_SHA*_RSA_PKCS_PSS`, `CKM_RSA_PKCS`,
//! `CKM_SHA*_RSA_PKCS`): the schemes offered to the server are those the
//! token can make.

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as P11Error, RvError};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{
    Attribute, AttributeType, CertificateType, KeyType, ObjectClass, ObjectHandle,
};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use ftpkit_control::Secret;
use rustls::pki_types::CertificateDer;
use rustls::sign::{Signer, SigningKey};
use rustls::{SignatureAlgorithm, SignatureScheme};

use super::identity::{
    build_chain, candidate, invalid, names_seen, pick_named, unix_seconds, IdentityKey, Pick,
    StoreCert,
};
use super::ClientIdentity;
use crate::error::{Error, ErrorKind, Result};

/// Which token of the module.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenSelector {
    /// The token with this label (as the token shows it, without the
    /// padding blanks).
    Label(String),
    /// The token with this serial number.
    Serial(String),
}

/// Which certificate of the token, and so which key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenCertificate {
    /// The certificate whose subject common name, or DNS, e-mail or URI
    /// subject alternative name, is this name (as in a certificate store).
    Name(String),
    /// The certificate of the private key with this label (`CKA_LABEL`).
    KeyLabel(String),
    /// The certificate of the private key with this id (`CKA_ID`).
    KeyId(Vec<u8>),
}

/// The user PIN of a token. Never shown by `Debug`, never logged.
#[derive(Clone, Debug)]
pub struct TokenPin(Secret<String>);

impl TokenPin {
    /// A PIN given by the caller (an argument, a prompt).
    pub fn new(pin: impl Into<String>) -> Self {
        Self(Secret::new(pin.into()))
    }

    /// The PIN in the environment variable `var`.
    pub fn from_env(var: &str) -> Result<Self> {
        std::env::var(var).map(Self::new).map_err(|_| {
            invalid(format!(
                "the token PIN variable {var} is not set (or not UTF-8)"
            ))
        })
    }
}

/// Where a client key and its certificate are on a PKCS#11 token, and how
/// to log in.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TokenOptions {
    /// The PKCS#11 module: a shared library path.
    pub module: PathBuf,
    /// The token.
    pub token: TokenSelector,
    /// The certificate.
    pub certificate: TokenCertificate,
    /// The user PIN. Tried once: a wrong PIN is an error, never retried
    /// (tokens lock after a few wrong PINs).
    pub pin: TokenPin,
}

impl TokenOptions {
    /// Options for the certificate `certificate` of `token` in `module`.
    pub fn new(
        module: impl Into<PathBuf>,
        token: TokenSelector,
        certificate: TokenCertificate,
        pin: TokenPin,
    ) -> Self {
        Self {
            module: module.into(),
            token,
            certificate,
            pin,
        }
    }
}

/// Which token and key a [`ClientIdentity`] uses, for display (`ftpkit
/// cert`) and for counting signatures.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenInfo {
    /// The module's path.
    pub module: PathBuf,
    /// The token's label.
    pub token_label: String,
    /// The token's serial number.
    pub token_serial: String,
    /// The private key's label (`CKA_LABEL`), possibly empty.
    pub key_label: String,
    /// The private key's id (`CKA_ID`).
    pub key_id: Vec<u8>,
    /// The key type: `EC P-256`, `EC P-384`, `RSA 2048`...
    pub key_type: String,
    /// The signature schemes the token can make with the key, most
    /// preferred first.
    pub schemes: Vec<SignatureScheme>,
    /// Signatures the token has made with the key so far in this process:
    /// one when the identity was made (the check that the key belongs to the
    /// certificate), then one per full TLS handshake (each control
    /// connection; data connections resume and sign nothing).
    pub signatures: u64,
}

impl ClientIdentity {
    /// A client certificate whose private key stays on a PKCS#11 token
    /// (smart card, HSM, SoftHSM): the module is loaded (once per process),
    /// the token chosen by label or serial, the user logged in with the PIN
    /// (once), the certificate picked by name or by its key's label or id.
    /// The token signs during each full TLS handshake: once per control
    /// connection, since data connections resume its session
    /// ([`TokenInfo::signatures`] counts them). Keys: ECDSA P-256/P-384 and
    /// RSA (PSS, PKCS#1), as far as the token has the mechanisms. Validity
    /// is judged at the current time.
    ///
    /// Errors, each naming the module and token: the module cannot be
    /// loaded ([`ErrorKind::InvalidArgument`]); no token has the label or
    /// serial (the tokens seen are listed); the PIN is wrong or locked
    /// ([`ErrorKind::Auth`], tried once); no certificate has the name, or
    /// no key the label or id (what was seen is listed); the certificate
    /// has expired or is not valid yet; the key cannot make any TLS
    /// signature scheme (key type, curve or missing mechanisms); a test
    /// signature by the key does not verify with the certificate's public
    /// key (the certificate is not the key's).
    pub fn from_token(opts: &TokenOptions) -> Result<Self> {
        let (chain, key) = TokenKey::open(opts, unix_seconds(SystemTime::now()))?;
        Ok(Self {
            chain,
            key: IdentityKey::Token(Arc::new(key)),
        })
    }

    /// `e`, explained when a handshake just failed because the server
    /// accepts none of the signature schemes the token key can make (the
    /// server then refuses the session without a certificate, and its alert
    /// alone does not say why).
    pub(crate) fn explain_refusal(&self, e: Error) -> Error {
        match &self.key {
            IdentityKey::Token(t) => match t.take_refusal() {
                Some(why) => Error::new(
                    ErrorKind::Tls,
                    format!("no client certificate could be sent: {why}"),
                )
                .with_source(e),
                None => e,
            },
            IdentityKey::Der(_) => e,
        }
    }

    /// The token and key in use, with the signatures made so far, when the
    /// key is on a token.
    pub fn token_info(&self) -> Option<TokenInfo> {
        match &self.key {
            IdentityKey::Token(t) => Some(t.info()),
            IdentityKey::Der(_) => None,
        }
    }
}

/// How one signature scheme is made on this token: the mechanism, and
/// whether the message is hashed here first.
#[derive(Clone, Copy, Debug)]
struct Recipe {
    scheme: SignatureScheme,
    mechanism: MechanismType,
    /// `Some`: the token signs a digest made here with this algorithm.
    prehash: Option<&'static ring::digest::Algorithm>,
}

/// A logged-in token session and the private key on it.
pub(crate) struct TokenKey {
    session: Mutex<Session>,
    key: ObjectHandle,
    algorithm: SignatureAlgorithm,
    recipes: Vec<Recipe>,
    signatures: AtomicU64,
    /// Why the last handshake got no client certificate: the server's
    /// schemes and the key's, when none of them matched.
    refusal: Mutex<Option<String>>,
    about: About,
}

/// Which module, token and key: the fixed part of [`TokenInfo`] (its
/// schemes come from the recipes, its signatures from the counter).
#[derive(Debug)]
struct About {
    module: PathBuf,
    token_label: String,
    token_serial: String,
    key_label: String,
    key_id: Vec<u8>,
    key_type: String,
}

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenKey")
            .field("token", &self.about.token_label)
            .field("key_label", &self.about.key_label)
            .field("key_type", &self.about.key_type)
            .finish_non_exhaustive()
    }
}

impl TokenKey {
    /// Loads the module, finds the token, logs in and picks the certificate
    /// and its key; checks the pair with one signature.
    fn open(opts: &TokenOptions, now: i64) -> Result<(Vec<CertificateDer<'static>>, Self)> {
        let module = opts.module.display().to_string();
        let pkcs11 = loaded_module(opts, &module)?;
        let (slot, label, serial) = find_token(&pkcs11, &opts.token, &module)?;
        let ctx = format!("token {label:?} (serial {serial}, module {module})");
        let session = pkcs11
            .open_ro_session(slot)
            .map_err(|e| invalid(format!("{ctx}: cannot open a session: {e}")))?;
        let pin = AuthPin::from(opts.pin.0.expose_secret().clone());
        // Tried once: tokens lock after a few wrong PINs.
        match session.login(UserType::User, Some(&pin)) {
            Ok(()) | Err(P11Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
            Err(P11Error::Pkcs11(RvError::PinIncorrect, _)) => {
                return Err(Error::new(
                    ErrorKind::Auth,
                    format!("{ctx}: the token rejected the PIN (not retried: tokens lock after a few wrong PINs)"),
                ))
            }
            Err(P11Error::Pkcs11(RvError::PinLocked, _)) => {
                return Err(Error::new(
                    ErrorKind::Auth,
                    format!("{ctx}: the token's user PIN is locked"),
                ))
            }
            Err(e) => return Err(Error::new(ErrorKind::Auth, format!("{ctx}: login failed: {e}"))),
        }

        let found = token_certificates(&session, &ctx)?;
        let index = pick_certificate(&session, &found, &opts.certificate, now, &ctx)?;
        let (cert, id) = (&found.certs[index], &found.ids[index]);
        cert.validity_at(now)
            .map_err(|why| invalid(format!("{ctx}: the certificate {} {why}", cert.describe())))?;
        let Some(key) = private_key_with_id(&session, id, &ctx)? else {
            return Err(invalid(format!(
                "{ctx}: no private key has the id of the certificate {} (CKA_ID {}); {}",
                cert.describe(),
                hex(id),
                keys_seen(&session)
            )));
        };
        let key_label = attribute_text(&session, key, AttributeType::Label);
        let (algorithm, key_type, candidates) = key_kind(&session, key, &ctx)?;
        let mechanisms = pkcs11
            .get_mechanism_list(slot)
            .map_err(|e| invalid(format!("{ctx}: cannot list the token's mechanisms: {e}")))?;
        let recipes: Vec<Recipe> = candidates
            .iter()
            .filter_map(|&scheme| recipe(scheme, &mechanisms))
            .collect();
        if recipes.is_empty() {
            return Err(invalid(format!(
                "{ctx}: the {key_type} key {key_label:?} cannot make any TLS signature scheme: the token has none of the mechanisms for {candidates:?}"
            )));
        }
        let chain = build_chain(cert, &found.certs, now);
        let token = Self {
            session: Mutex::new(session),
            key,
            algorithm,
            about: About {
                module: opts.module.clone(),
                token_label: label,
                token_serial: serial,
                key_label,
                key_id: id.clone(),
                key_type,
            },
            recipes,
            signatures: AtomicU64::new(0),
            refusal: Mutex::new(None),
        };
        token.check_pair(cert, &ctx)?;
        Ok((chain, token))
    }

    /// Signs a challenge with the first scheme and verifies it with the
    /// certificate's public key: a certificate that is not the key's fails
    /// here rather than at the server.
    fn check_pair(&self, cert: &StoreCert, ctx: &str) -> Result<()> {
        let Some(recipe) = self.recipes.first().copied() else {
            return Ok(());
        };
        let mut challenge = [0u8; 32];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut challenge)
            .map_err(|_| invalid(format!("{ctx}: no random bytes for the key check")))?;
        let signature = self
            .sign_with(recipe, &challenge)
            .map_err(|e| invalid(format!("{ctx}: the test signature failed: {e}")))?;
        let Some(verify) = verification_algorithm(recipe.scheme) else {
            return Ok(());
        };
        ring::signature::UnparsedPublicKey::new(verify, &cert.spki)
            .verify(&challenge, &signature)
            .map_err(|_| {
                invalid(format!(
                    "{ctx}: the private key {:?} does not belong to the certificate {} (a test signature did not verify with the certificate's public key)",
                    self.about.key_label,
                    cert.describe()
                ))
            })
    }

    /// Signs `message` as `recipe` says, on the token.
    fn sign_with(&self, recipe: Recipe, message: &[u8]) -> std::result::Result<Vec<u8>, String> {
        let digest;
        let input = match recipe.prehash {
            Some(alg) => {
                digest = ring::digest::digest(alg, message);
                digest.as_ref()
            }
            None => message,
        };
        let input = match recipe.mechanism {
            m if m == MechanismType::RSA_PKCS => digest_info(recipe.scheme, input),
            _ => input.to_vec(),
        };
        let mechanism = mechanism(recipe)?;
        let raw = {
            let session = self
                .session
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            session
                .sign(&mechanism, self.key, &input)
                .map_err(|e| e.to_string())?
        };
        self.signatures.fetch_add(1, Ordering::Relaxed);
        if matches!(self.algorithm, SignatureAlgorithm::ECDSA) {
            ecdsa_der(&raw).ok_or_else(|| "the token returned a malformed ECDSA signature".into())
        } else {
            Ok(raw)
        }
    }

    fn info(&self) -> TokenInfo {
        let a = &self.about;
        TokenInfo {
            module: a.module.clone(),
            token_label: a.token_label.clone(),
            token_serial: a.token_serial.clone(),
            key_label: a.key_label.clone(),
            key_id: a.key_id.clone(),
            key_type: a.key_type.clone(),
            schemes: self.schemes(),
            signatures: self.signatures.load(Ordering::Relaxed),
        }
    }

    /// The schemes the token can make with the key, most preferred first.
    fn schemes(&self) -> Vec<SignatureScheme> {
        self.recipes.iter().map(|r| r.scheme).collect()
    }

    /// Why the last handshake got no client certificate, once.
    pub(crate) fn take_refusal(&self) -> Option<String> {
        self.refusal
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }

    /// What tells this key apart from others in a pool key.
    pub(crate) fn pool_identity(&self) -> Vec<u8> {
        let mut id = self.about.module.as_os_str().as_encoded_bytes().to_vec();
        for part in [
            self.about.token_serial.as_bytes(),
            self.about.token_label.as_bytes(),
            &self.about.key_id,
        ] {
            id.push(0);
            id.extend_from_slice(part);
        }
        id
    }

    /// The rustls view of the key.
    pub(crate) fn signing_key(self: &Arc<Self>) -> Arc<dyn SigningKey> {
        Arc::new(TokenSigningKey(self.clone()))
    }
}

/// The token key as rustls uses it.
#[derive(Debug)]
pub(crate) struct TokenSigningKey(Arc<TokenKey>);

impl SigningKey for TokenSigningKey {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn Signer>> {
        let chosen = self.0.recipes.iter().find(|r| offered.contains(&r.scheme));
        match chosen {
            Some(&recipe) => Some(Box::new(TokenSigner {
                key: self.0.clone(),
                recipe,
            })),
            None => {
                let why = format!(
                    "the server accepts {offered:?}, the token's {} key {:?} can make {:?}",
                    self.0.about.key_type,
                    self.0.about.key_label,
                    self.0.schemes()
                );
                tracing::warn!(%why, "no signature scheme in common: no client certificate sent");
                *self
                    .0
                    .refusal
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(why);
                None
            }
        }
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        self.0.algorithm
    }
}

#[derive(Debug)]
struct TokenSigner {
    key: Arc<TokenKey>,
    recipe: Recipe,
}

impl Signer for TokenSigner {
    fn sign(&self, message: &[u8]) -> std::result::Result<Vec<u8>, rustls::Error> {
        self.key
            .sign_with(self.recipe, message)
            .map_err(|e| rustls::Error::General(format!("the PKCS#11 token did not sign: {e}")))
    }

    fn scheme(&self) -> SignatureScheme {
        self.recipe.scheme
    }
}

// ----- finding things on the token -----

/// The module at `opts.module`, loaded and initialized once per process and
/// kept: PKCS#11 wants one context per application, and a module unloaded
/// while another identity still uses it (or loaded again) loses the
/// sessions of its tokens.
fn loaded_module(opts: &TokenOptions, module: &str) -> Result<Pkcs11> {
    static MODULES: Mutex<Vec<(PathBuf, Pkcs11)>> = Mutex::new(Vec::new());
    let mut modules = MODULES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, p)) = modules.iter().find(|(path, _)| *path == opts.module) {
        return Ok(p.clone());
    }
    let pkcs11 = Pkcs11::new(&opts.module)
        .map_err(|e| invalid(format!("cannot load the PKCS#11 module {module}: {e}")))?;
    match pkcs11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(P11Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => {
            return Err(invalid(format!(
                "cannot initialize the PKCS#11 module {module}: {e}"
            )))
        }
    }
    modules.push((opts.module.clone(), pkcs11.clone()));
    Ok(pkcs11)
}

/// The certificate objects of the token, and the id (`CKA_ID`) of each.
struct TokenCerts {
    certs: Vec<StoreCert>,
    ids: Vec<Vec<u8>>,
}

fn find_token(
    pkcs11: &Pkcs11,
    wanted: &TokenSelector,
    module: &str,
) -> Result<(Slot, String, String)> {
    let slots = pkcs11
        .get_slots_with_token()
        .map_err(|e| invalid(format!("module {module}: cannot list its tokens: {e}")))?;
    let mut seen = Vec::new();
    for slot in slots {
        let Ok(info) = pkcs11.get_token_info(slot) else {
            continue;
        };
        let label = info.label().trim_end().to_owned();
        let serial = info.serial_number().trim_end().to_owned();
        let hit = match wanted {
            TokenSelector::Label(l) => *l == label,
            TokenSelector::Serial(s) => *s == serial,
        };
        if hit {
            return Ok((slot, label, serial));
        }
        seen.push(format!("{label:?} (serial {serial})"));
    }
    let wanted = match wanted {
        TokenSelector::Label(l) => format!("label {l:?}"),
        TokenSelector::Serial(s) => format!("serial {s:?}"),
    };
    Err(invalid(if seen.is_empty() {
        format!("module {module}: no token with {wanted}: the module has no token")
    } else {
        format!(
            "module {module}: no token with {wanted}; tokens seen: {}",
            seen.join(", ")
        )
    }))
}

fn token_certificates(session: &Session, ctx: &str) -> Result<TokenCerts> {
    let handles = session
        .find_objects(&[
            Attribute::Class(ObjectClass::CERTIFICATE),
            Attribute::CertificateType(CertificateType::X_509),
        ])
        .map_err(|e| invalid(format!("{ctx}: cannot list its certificates: {e}")))?;
    let mut found = TokenCerts {
        certs: Vec::new(),
        ids: Vec::new(),
    };
    for handle in handles {
        let attributes = session
            .get_attributes(
                handle,
                &[
                    AttributeType::Value,
                    AttributeType::Id,
                    AttributeType::Label,
                ],
            )
            .map_err(|e| invalid(format!("{ctx}: cannot read a certificate: {e}")))?;
        let (mut der, mut id, mut label) = (Vec::new(), Vec::new(), Vec::new());
        for a in attributes {
            match a {
                Attribute::Value(v) => der = v,
                Attribute::Id(v) => id = v,
                Attribute::Label(v) => label = v,
                _ => {}
            }
        }
        let source = format!(
            "token object {:?} (id {})",
            String::from_utf8_lossy(&label),
            hex(&id)
        );
        found
            .certs
            .push(StoreCert::parse(CertificateDer::from(der), &source)?);
        found.ids.push(id);
    }
    Ok(found)
}

/// The index of the wanted certificate in `found`.
fn pick_certificate(
    session: &Session,
    found: &TokenCerts,
    wanted: &TokenCertificate,
    now: i64,
    ctx: &str,
) -> Result<usize> {
    let id = match wanted {
        TokenCertificate::Name(name) => {
            let has_key = |i: usize| {
                matches!(
                    private_key_with_id(session, &found.ids[i], ctx),
                    Ok(Some(_))
                )
            };
            return match pick_named(&found.certs, name, now, has_key) {
                Pick::One(i) => Ok(i),
                Pick::NoneNamed => Err(invalid(format!(
                    "{ctx}: no certificate has the name {name:?} ({})",
                    names_seen(&found.certs, "the token")
                ))),
                Pick::Ambiguous(many) => Err(invalid(format!(
                    "{ctx}: {} certificates have the name {name:?}: {}",
                    many.len(),
                    many.iter()
                        .map(|&i| candidate(&found.certs[i], now, has_key(i)))
                        .collect::<Vec<_>>()
                        .join("; ")
                ))),
            };
        }
        TokenCertificate::KeyLabel(label) => {
            let keys = session
                .find_objects(&[
                    Attribute::Class(ObjectClass::PRIVATE_KEY),
                    Attribute::Label(label.as_bytes().to_vec()),
                ])
                .map_err(|e| invalid(format!("{ctx}: cannot list its keys: {e}")))?;
            let [key] = keys.as_slice() else {
                return Err(invalid(format!(
                    "{ctx}: {} private keys have the label {label:?}; {}",
                    keys.len(),
                    keys_seen(session)
                )));
            };
            attribute_bytes(session, *key, AttributeType::Id)
        }
        TokenCertificate::KeyId(id) => id.clone(),
    };
    found.ids.iter().position(|i| *i == id).ok_or_else(|| {
        invalid(format!(
            "{ctx}: no certificate has the key's id (CKA_ID {}); certificates seen: {}",
            hex(&id),
            found
                .certs
                .iter()
                .map(StoreCert::describe)
                .collect::<Vec<_>>()
                .join("; ")
        ))
    })
}

fn private_key_with_id(session: &Session, id: &[u8], ctx: &str) -> Result<Option<ObjectHandle>> {
    let keys = session
        .find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Id(id.to_vec()),
        ])
        .map_err(|e| invalid(format!("{ctx}: cannot list its keys: {e}")))?;
    Ok(keys.first().copied())
}

/// The token's private keys, for "not found" errors.
fn keys_seen(session: &Session) -> String {
    let Ok(keys) = session.find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY)]) else {
        return "its private keys cannot be listed".into();
    };
    if keys.is_empty() {
        return "the token holds no private key".into();
    }
    let listed: Vec<String> = keys
        .iter()
        .map(|&k| {
            format!(
                "{:?} (id {})",
                attribute_text(session, k, AttributeType::Label),
                hex(&attribute_bytes(session, k, AttributeType::Id))
            )
        })
        .collect();
    format!("private keys seen: {}", listed.join(", "))
}

fn attribute_bytes(session: &Session, object: ObjectHandle, kind: AttributeType) -> Vec<u8> {
    let attributes = session.get_attributes(object, &[kind]).unwrap_or_default();
    attributes
        .into_iter()
        .find_map(|a| match a {
            Attribute::Id(v)
            | Attribute::Label(v)
            | Attribute::EcParams(v)
            | Attribute::Modulus(v) => Some(v),
            _ => None,
        })
        .unwrap_or_default()
}

fn attribute_text(session: &Session, object: ObjectHandle, kind: AttributeType) -> String {
    String::from_utf8_lossy(&attribute_bytes(session, object, kind)).into_owned()
}

// ----- keys and schemes -----

/// DER of the named curves' OIDs, as in `CKA_EC_PARAMS`.
const P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const P384: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];

/// The key's algorithm, a description, and the schemes such a key can
/// make, most preferred first.
fn key_kind(
    session: &Session,
    key: ObjectHandle,
    ctx: &str,
) -> Result<(SignatureAlgorithm, String, Vec<SignatureScheme>)> {
    let kind = session
        .get_attributes(key, &[AttributeType::KeyType])
        .ok()
        .and_then(|a| {
            a.into_iter().find_map(|a| match a {
                Attribute::KeyType(t) => Some(t),
                _ => None,
            })
        })
        .ok_or_else(|| invalid(format!("{ctx}: the key's type cannot be read")))?;
    if kind == KeyType::EC {
        let params = attribute_bytes(session, key, AttributeType::EcParams);
        return match params.as_slice() {
            p if p == P256 => Ok((
                SignatureAlgorithm::ECDSA,
                "EC P-256".into(),
                vec![SignatureScheme::ECDSA_NISTP256_SHA256],
            )),
            p if p == P384 => Ok((
                SignatureAlgorithm::ECDSA,
                "EC P-384".into(),
                vec![SignatureScheme::ECDSA_NISTP384_SHA384],
            )),
            other => Err(invalid(format!(
                "{ctx}: the key is on an elliptic curve no TLS signature scheme uses (CKA_EC_PARAMS {}; P-256 and P-384 can be used)",
                hex(other)
            ))),
        };
    }
    if kind == KeyType::RSA {
        let bits = attribute_bytes(session, key, AttributeType::Modulus)
            .iter()
            .skip_while(|b| **b == 0)
            .count()
            * 8;
        return Ok((
            SignatureAlgorithm::RSA,
            format!("RSA {bits}"),
            vec![
                SignatureScheme::RSA_PSS_SHA256,
                SignatureScheme::RSA_PSS_SHA384,
                SignatureScheme::RSA_PSS_SHA512,
                SignatureScheme::RSA_PKCS1_SHA256,
                SignatureScheme::RSA_PKCS1_SHA384,
                SignatureScheme::RSA_PKCS1_SHA512,
            ],
        ));
    }
    Err(invalid(format!(
        "{ctx}: the key's type ({kind}) cannot sign for TLS here (EC P-256/P-384 and RSA can)"
    )))
}

/// How `scheme` is made with `mechanisms`: the mechanism that hashes on the
/// token when there is one, else the raw one over a digest made here.
fn recipe(scheme: SignatureScheme, mechanisms: &[MechanismType]) -> Option<Recipe> {
    use ring::digest::{SHA256, SHA384, SHA512};
    use SignatureScheme as S;
    let (hashing, raw, hash) = match scheme {
        S::ECDSA_NISTP256_SHA256 => (MechanismType::ECDSA_SHA256, MechanismType::ECDSA, &SHA256),
        S::ECDSA_NISTP384_SHA384 => (MechanismType::ECDSA_SHA384, MechanismType::ECDSA, &SHA384),
        S::RSA_PSS_SHA256 => (
            MechanismType::SHA256_RSA_PKCS_PSS,
            MechanismType::RSA_PKCS_PSS,
            &SHA256,
        ),
        S::RSA_PSS_SHA384 => (
            MechanismType::SHA384_RSA_PKCS_PSS,
            MechanismType::RSA_PKCS_PSS,
            &SHA384,
        ),
        S::RSA_PSS_SHA512 => (
            MechanismType::SHA512_RSA_PKCS_PSS,
            MechanismType::RSA_PKCS_PSS,
            &SHA512,
        ),
        S::RSA_PKCS1_SHA256 => (
            MechanismType::SHA256_RSA_PKCS,
            MechanismType::RSA_PKCS,
            &SHA256,
        ),
        S::RSA_PKCS1_SHA384 => (
            MechanismType::SHA384_RSA_PKCS,
            MechanismType::RSA_PKCS,
            &SHA384,
        ),
        S::RSA_PKCS1_SHA512 => (
            MechanismType::SHA512_RSA_PKCS,
            MechanismType::RSA_PKCS,
            &SHA512,
        ),
        _ => return None,
    };
    if mechanisms.contains(&hashing) {
        Some(Recipe {
            scheme,
            mechanism: hashing,
            prehash: None,
        })
    } else if mechanisms.contains(&raw) {
        Some(Recipe {
            scheme,
            mechanism: raw,
            prehash: Some(hash),
        })
    } else {
        None
    }
}

/// The `cryptoki` mechanism of a recipe (PSS: salt as long as the hash,
/// MGF1 with the same hash, as TLS requires).
fn mechanism(recipe: Recipe) -> std::result::Result<Mechanism<'static>, String> {
    use SignatureScheme as S;
    let pss = |hash_alg, mgf| PkcsPssParams {
        hash_alg,
        mgf,
        s_len: match hash_alg {
            h if h == MechanismType::SHA384 => 48u64.into(),
            h if h == MechanismType::SHA512 => 64u64.into(),
            _ => 32u64.into(),
        },
    };
    let params = match recipe.scheme {
        S::RSA_PSS_SHA256 => Some(pss(MechanismType::SHA256, PkcsMgfType::MGF1_SHA256)),
        S::RSA_PSS_SHA384 => Some(pss(MechanismType::SHA384, PkcsMgfType::MGF1_SHA384)),
        S::RSA_PSS_SHA512 => Some(pss(MechanismType::SHA512, PkcsMgfType::MGF1_SHA512)),
        _ => None,
    };
    let m = recipe.mechanism;
    Ok(match params {
        Some(p) if m == MechanismType::RSA_PKCS_PSS => Mechanism::RsaPkcsPss(p),
        Some(p) if m == MechanismType::SHA256_RSA_PKCS_PSS => Mechanism::Sha256RsaPkcsPss(p),
        Some(p) if m == MechanismType::SHA384_RSA_PKCS_PSS => Mechanism::Sha384RsaPkcsPss(p),
        Some(p) if m == MechanismType::SHA512_RSA_PKCS_PSS => Mechanism::Sha512RsaPkcsPss(p),
        _ if m == MechanismType::ECDSA => Mechanism::Ecdsa,
        _ if m == MechanismType::ECDSA_SHA256 => Mechanism::EcdsaSha256,
        _ if m == MechanismType::ECDSA_SHA384 => Mechanism::EcdsaSha384,
        _ if m == MechanismType::RSA_PKCS => Mechanism::RsaPkcs,
        _ if m == MechanismType::SHA256_RSA_PKCS => Mechanism::Sha256RsaPkcs,
        _ if m == MechanismType::SHA384_RSA_PKCS => Mechanism::Sha384RsaPkcs,
        _ if m == MechanismType::SHA512_RSA_PKCS => Mechanism::Sha512RsaPkcs,
        _ => return Err(format!("no mechanism for {:?}", recipe.scheme)),
    })
}

/// ring's algorithm to verify `scheme`'s signatures (the key check).
fn verification_algorithm(
    scheme: SignatureScheme,
) -> Option<&'static dyn ring::signature::VerificationAlgorithm> {
    use ring::signature as sig;
    use SignatureScheme as S;
    Some(match scheme {
        S::ECDSA_NISTP256_SHA256 => &sig::ECDSA_P256_SHA256_ASN1,
        S::ECDSA_NISTP384_SHA384 => &sig::ECDSA_P384_SHA384_ASN1,
        S::RSA_PSS_SHA256 => &sig::RSA_PSS_2048_8192_SHA256,
        S::RSA_PSS_SHA384 => &sig::RSA_PSS_2048_8192_SHA384,
        S::RSA_PSS_SHA512 => &sig::RSA_PSS_2048_8192_SHA512,
        S::RSA_PKCS1_SHA256 => &sig::RSA_PKCS1_2048_8192_SHA256,
        S::RSA_PKCS1_SHA384 => &sig::RSA_PKCS1_2048_8192_SHA384,
        S::RSA_PKCS1_SHA512 => &sig::RSA_PKCS1_2048_8192_SHA512,
        _ => return None,
    })
}

/// `CKM_RSA_PKCS` signs what it is given: PKCS#1 v1.5 wants the digest
/// inside a DigestInfo (RFC 8017 §9.2, note 1: these prefixes).
fn digest_info(scheme: SignatureScheme, digest: &[u8]) -> Vec<u8> {
    const SHA256: &[u8] = &[
        0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
        0x05, 0x00, 0x04, 0x20,
    ];
    const SHA384: &[u8] = &[
        0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02,
        0x05, 0x00, 0x04, 0x30,
    ];
    const SHA512: &[u8] = &[
        0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03,
        0x05, 0x00, 0x04, 0x40,
    ];
    let prefix = match scheme {
        SignatureScheme::RSA_PKCS1_SHA384 => SHA384,
        SignatureScheme::RSA_PKCS1_SHA512 => SHA512,
        _ => SHA256,
    };
    [prefix, digest].concat()
}

/// A PKCS#11 ECDSA signature (`r || s`, each as long as the curve's order)
/// as TLS wants it: the DER `Ecdsa-Sig-Value` SEQUENCE of two INTEGERs
/// (RFC 3279 §2.2.3). `None` for an odd length.
fn ecdsa_der(raw: &[u8]) -> Option<Vec<u8>> {
    if raw.is_empty() || raw.len() % 2 != 0 {
        return None;
    }
    let (r, s) = raw.split_at(raw.len() / 2);
    let mut body = der_uint(r);
    body.extend(der_uint(s));
    let mut out = vec![0x30];
    der_length(&mut out, body.len());
    out.extend(body);
    Some(out)
}

/// A DER INTEGER of the unsigned big-endian `value`: leading zeros
/// dropped, a zero put back when the top bit is set.
fn der_uint(value: &[u8]) -> Vec<u8> {
    let trimmed = match value.iter().position(|b| *b != 0) {
        Some(i) => value.get(i..).unwrap_or_default(),
        None => &[0],
    };
    let pad = trimmed.first().is_some_and(|b| b & 0x80 != 0);
    let mut out = vec![0x02];
    der_length(&mut out, trimmed.len() + usize::from(pad));
    if pad {
        out.push(0);
    }
    out.extend_from_slice(trimmed);
    out
}

fn der_length(out: &mut Vec<u8>, len: usize) {
    match u8::try_from(len) {
        Ok(l) if l < 0x80 => out.push(l),
        Ok(l) => out.extend([0x81, l]),
        Err(_) => out.extend([0x82, (len >> 8) as u8, len as u8]),
    }
}

fn hex(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "(none)".into();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecdsa_signatures_become_der() {
        // Sign with ring's fixed (r || s) form, convert, verify with the
        // ASN.1 form: the conversion is what a PKCS#11 token needs.
        let rng = ring::rand::SystemRandom::new();
        for (fixed, asn1) in [
            (
                &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                &ring::signature::ECDSA_P256_SHA256_ASN1,
            ),
            (
                &ring::signature::ECDSA_P384_SHA384_FIXED_SIGNING,
                &ring::signature::ECDSA_P384_SHA384_ASN1,
            ),
        ] {
            let pkcs8 = ring::signature::EcdsaKeyPair::generate_pkcs8(fixed, &rng).unwrap();
            let pair =
                ring::signature::EcdsaKeyPair::from_pkcs8(fixed, pkcs8.as_ref(), &rng).unwrap();
            for i in 0..20u8 {
                let message = [i; 40];
                let raw = pair.sign(&rng, &message).unwrap();
                let der = ecdsa_der(raw.as_ref()).unwrap();
                ring::signature::UnparsedPublicKey::new(
                    asn1,
                    ring::signature::KeyPair::public_key(&pair).as_ref(),
                )
                .verify(&message, &der)
                .unwrap();
            }
        }
        assert_eq!(
            ecdsa_der(&[0, 0x80]),
            Some(vec![0x30, 0x07, 0x02, 0x01, 0x00, 0x02, 0x02, 0x00, 0x80])
        );
        assert_eq!(ecdsa_der(&[1, 2, 3]), None);
    }

    #[test]
    fn schemes_prefer_hashing_on_the_token() {
        let both = [MechanismType::ECDSA, MechanismType::ECDSA_SHA256];
        let r = recipe(SignatureScheme::ECDSA_NISTP256_SHA256, &both).unwrap();
        assert!(r.mechanism == MechanismType::ECDSA_SHA256 && r.prehash.is_none());
        let raw = recipe(
            SignatureScheme::ECDSA_NISTP256_SHA256,
            &[MechanismType::ECDSA],
        )
        .unwrap();
        assert!(raw.mechanism == MechanismType::ECDSA && raw.prehash.is_some());
        assert!(recipe(SignatureScheme::RSA_PSS_SHA256, &both).is_none());
        assert!(recipe(SignatureScheme::ED25519, &both).is_none());
    }

    #[test]
    fn digest_info_prefixes_announce_their_length() {
        for (scheme, len) in [
            (SignatureScheme::RSA_PKCS1_SHA256, 32),
            (SignatureScheme::RSA_PKCS1_SHA384, 48),
            (SignatureScheme::RSA_PKCS1_SHA512, 64),
        ] {
            let info = digest_info(scheme, &vec![0; len]);
            assert_eq!(usize::from(info[1]) + 2, info.len(), "{scheme:?}");
            assert_eq!(usize::from(info[info.len() - len - 1]), len, "{scheme:?}");
        }
    }

    #[test]
    fn pins_never_print() {
        let pin = TokenPin::new("123456");
        assert!(!format!("{pin:?}").contains("123456"));
    }
}
