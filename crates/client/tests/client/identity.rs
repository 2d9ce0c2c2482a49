//! Client certificates: PEM key formats, PKCS#12, picking from a store by
//! name (and every way that fails), and the TLS handshake of a server that
//! requires a client certificate. Every key and certificate is made at test
//! time (rcgen, the testkit's PKI, and the `openssl` CLI for RSA keys and one
//! PKCS#12 file) into a temporary directory removed afterwards.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::common::{self, ScriptExt};
use ftpkit::tls::{ClientIdentity, SystemRoots};
use ftpkit::{Client, Config, ErrorKind, Security};
use ftpkit_testkit::{Script, ScriptedServer, ServerTls, TestPki, Transcript, Validity};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::CertificateDer;
use std::io::Write as _;

// ----- helpers: files -----

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!(
            "ftpkit-identity-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, contents).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the `openssl` CLI with `input` on stdin; returns stdout.
fn openssl(args: &[&str], input: &[u8]) -> Vec<u8> {
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the openssl CLI is installed");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A new 2048-bit RSA key, PKCS#8 PEM.
fn rsa_key_pem() -> String {
    String::from_utf8(openssl(
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ],
        b"",
    ))
    .unwrap()
}

/// The same key as PKCS#1 (`RSA PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`) PEM.
fn traditional_pem(pkcs8_pem: &str) -> String {
    String::from_utf8(openssl(&["pkey", "-traditional"], pkcs8_pem.as_bytes())).unwrap()
}

fn p12_password_error(e: &ftpkit::Error) -> bool {
    e.to_string().contains("wrong password")
}

// ----- helpers: a PKI with intermediates, RSA and EC keys, chosen dates -----

/// A CA made with rcgen (root or intermediate).
struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Ca {
    fn root(cn: &str) -> Self {
        let key = KeyPair::generate().unwrap();
        Self {
            issuer: CertifiedIssuer::self_signed(ca_params(cn), key).unwrap(),
        }
    }

    fn intermediate(&self, cn: &str) -> Self {
        let key = KeyPair::generate().unwrap();
        Self {
            issuer: CertifiedIssuer::signed_by(ca_params(cn), key, &self.issuer).unwrap(),
        }
    }

    fn der(&self) -> CertificateDer<'static> {
        self.issuer.der().clone()
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A client certificate for `key` (PKCS#8 PEM).
    fn issue(&self, params: CertificateParams, key_pem: &str) -> Leaf {
        let key = KeyPair::from_pem(key_pem).unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            der: cert.der().clone(),
            pem: cert.pem(),
            key_pem: key_pem.to_owned(),
        }
    }

    /// A certificate from `params` with a new P-256 key.
    fn issue_new(&self, params: CertificateParams) -> Leaf {
        self.issue(params, &KeyPair::generate().unwrap().serialize_pem())
    }

    /// A client certificate `CN=cn` with a new P-256 key.
    fn issue_ec(&self, cn: &str) -> Leaf {
        self.issue_new(client_params(cn, &[]))
    }
}

fn ca_params(cn: &str) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, cn);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

fn client_params(cn: &str, sans: &[SanType]) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.subject_alt_names = sans.to_vec();
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.use_authority_key_identifier_extension = true;
    params
}

fn dns(name: &str) -> SanType {
    SanType::DnsName(name.try_into().unwrap())
}

fn email(name: &str) -> SanType {
    SanType::Rfc822Name(name.try_into().unwrap())
}

fn uri(name: &str) -> SanType {
    SanType::URI(name.try_into().unwrap())
}

/// Valid from 1 January `from` to 1 January `to`.
fn years(mut params: CertificateParams, from: i32, to: i32) -> CertificateParams {
    params.not_before = rcgen::date_time_ymd(from, 1, 1);
    params.not_after = rcgen::date_time_ymd(to, 1, 1);
    params
}

/// 1 June of `year`, as a `SystemTime`.
fn in_year(year: i32) -> SystemTime {
    let secs = rcgen::date_time_ymd(year, 6, 1).unix_timestamp();
    UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap())
}

/// A certificate with its key, PEM.
struct Leaf {
    der: CertificateDer<'static>,
    pem: String,
    key_pem: String,
}

impl Leaf {
    fn key_pkcs8_der(&self) -> Vec<u8> {
        use rustls::pki_types::pem::PemObject;
        rustls::pki_types::PrivatePkcs8KeyDer::from_pem_slice(self.key_pem.as_bytes())
            .unwrap()
            .secret_pkcs8_der()
            .to_vec()
    }
}

fn serial_of(der: &[u8]) -> String {
    x509_parser::parse_x509_certificate(der)
        .unwrap()
        .1
        .raw_serial_as_string()
}

/// A PKCS#12 bundle of `leaf`'s key, `leaf` and `extra` certificates, written
/// with p12-keystore.
fn pkcs12(leaf: &Leaf, extra: &[CertificateDer<'static>], password: &str) -> Vec<u8> {
    use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKey, PrivateKeyChain};
    let mut certs = vec![Certificate::from_der(&leaf.der).unwrap()];
    certs.extend(extra.iter().map(|c| Certificate::from_der(c).unwrap()));
    let chain = PrivateKeyChain::new(
        b"key-1".as_slice(),
        PrivateKey::from_der(&leaf.key_pkcs8_der()).unwrap(),
        certs,
    );
    let mut store = KeyStore::new();
    store.add_entry("identity", KeyStoreEntry::PrivateKeyChain(chain));
    store
        .writer(password)
        .encryption_iterations(2048)
        .mac_iterations(2048)
        .write()
        .unwrap()
}

fn assert_invalid(e: &ftpkit::Error, needles: &[&str]) {
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e:?}");
    let msg = e.to_string();
    for n in needles {
        assert!(msg.contains(n), "{n:?} not in {msg:?}");
    }
}

// ----- helpers: the scripted FTPS server -----

fn ftps_config(server: &ScriptedServer, pki: &TestPki, identity: Option<ClientIdentity>) -> Config {
    let mut c = common::explicit(server, pki, Duration::from_secs(5));
    c.tls.client_identity = identity;
    c
}

fn tls_login() -> Script {
    common::tls_login().quit()
}

/// Logs in to a server requiring a client certificate; returns the chain
/// the server received.
async fn login_presenting(
    identity: ClientIdentity,
    server_tls: ServerTls,
    pki: &TestPki,
) -> Vec<CertificateDer<'static>> {
    let server = ScriptedServer::start_tls(tls_login(), server_tls).await;
    let c = Client::connect(ftps_config(&server, pki, Some(identity)))
        .await
        .unwrap();
    c.quit().await.unwrap();
    let t = server.finish().await;
    t.assert_ok();
    assert!(t.verbs().contains(&"USER".to_owned()), "{t}");
    t.control_tls()[0].client_certificates.clone()
}

/// Logs in presenting `leaf` with the PEM key `key_pem` to a server that
/// requires client certificates from `ca`: the server must see `leaf`.
async fn assert_pem_handshake(ca: &Ca, leaf: &Leaf, key_pem: &str) {
    let pki = TestPki::new();
    let id = ClientIdentity::from_pem(leaf.pem.as_bytes(), key_pem.as_bytes()).unwrap();
    assert_eq!(
        login_presenting(id, requiring(&pki, ca.der()), &pki).await,
        vec![leaf.der.clone()]
    );
}

/// Connects to a server requiring a client certificate and expects refusal.
async fn refused(
    identity: Option<ClientIdentity>,
    server_tls: ServerTls,
    pki: &TestPki,
) -> (ftpkit::Error, Transcript) {
    let server = ScriptedServer::start_tls(common::failed_handshake(), server_tls).await;
    let e = Client::connect(ftps_config(&server, pki, identity))
        .await
        .unwrap_err();
    let t = server.finish().await;
    t.assert_ok();
    (e, t)
}

/// Server settings: the testkit's server certificate, client certificates
/// required and verified against `client_ca`.
fn requiring(pki: &TestPki, client_ca: CertificateDer<'static>) -> ServerTls {
    ServerTls::new(pki)
        .require_client_cert()
        .client_ca(client_ca)
}

// ----- PEM key formats -----

#[tokio::test]
async fn pem_pkcs8_ec_key_completes_a_handshake() {
    let ca = Ca::root("pem CA");
    let leaf = ca.issue_ec("pkcs8-ec");
    assert!(leaf.key_pem.contains("BEGIN PRIVATE KEY"));
    assert_pem_handshake(&ca, &leaf, &leaf.key_pem).await;
}

#[tokio::test]
async fn pem_pkcs8_rsa_key_completes_a_handshake() {
    let ca = Ca::root("pem CA");
    let leaf = ca.issue(client_params("pkcs8-rsa", &[]), &rsa_key_pem());
    assert_pem_handshake(&ca, &leaf, &leaf.key_pem).await;
}

#[tokio::test]
async fn pem_pkcs1_rsa_key_completes_a_handshake() {
    let ca = Ca::root("pem CA");
    let leaf = ca.issue(client_params("pkcs1", &[]), &rsa_key_pem());
    let pkcs1 = traditional_pem(&leaf.key_pem);
    assert!(pkcs1.contains("BEGIN RSA PRIVATE KEY"), "{pkcs1}");
    assert_pem_handshake(&ca, &leaf, &pkcs1).await;
}

#[tokio::test]
async fn pem_sec1_ec_key_completes_a_handshake() {
    let pki = TestPki::new();
    let ca = Ca::root("pem CA");
    let leaf = ca.issue_ec("sec1");
    let sec1 = traditional_pem(&leaf.key_pem);
    assert!(sec1.contains("BEGIN EC PRIVATE KEY"), "{sec1}");
    // Certificate and key in one file.
    let dir = TempDir::new();
    let both = dir.write("both.pem", format!("{}{sec1}", leaf.pem));
    let id = ClientIdentity::from_pem_files(&both, &both).unwrap();
    assert_eq!(
        login_presenting(id, requiring(&pki, ca.der()), &pki).await,
        vec![leaf.der.clone()]
    );
}

#[test]
fn pem_key_of_another_certificate_is_refused() {
    let ca = Ca::root("pem CA");
    let alice = ca.issue_ec("alice");
    let bob = ca.issue_ec("bob");
    let e = ClientIdentity::from_pem(alice.pem.as_bytes(), bob.key_pem.as_bytes()).unwrap_err();
    assert_invalid(
        &e,
        &["the key does not belong to the certificate", "CN=alice"],
    );
    // SEC1 and PKCS#1 keys are checked too.
    let e = ClientIdentity::from_pem(
        alice.pem.as_bytes(),
        traditional_pem(&bob.key_pem).as_bytes(),
    )
    .unwrap_err();
    assert_invalid(&e, &["does not belong"]);
    let rsa = ca.issue(client_params("rsa", &[]), &rsa_key_pem());
    let e = ClientIdentity::from_pem(
        rsa.pem.as_bytes(),
        traditional_pem(&alice.key_pem).as_bytes(),
    )
    .unwrap_err();
    assert_invalid(&e, &["does not belong"]);
    let other_rsa = traditional_pem(&rsa_key_pem());
    let e = ClientIdentity::from_pem(rsa.pem.as_bytes(), other_rsa.as_bytes()).unwrap_err();
    assert_invalid(&e, &["does not belong"]);
}

// ----- PKCS#12 -----

#[tokio::test]
async fn pkcs12_with_the_right_password_completes_a_handshake() {
    let pki = TestPki::new();
    let root = Ca::root("p12 root");
    let inter = root.intermediate("p12 intermediate");
    let leaf = inter.issue_ec("p12-client");
    // The bundle holds the root too; it is not presented.
    let der = pkcs12(&leaf, &[inter.der(), root.der()], "correct horse");
    let id = ClientIdentity::from_pkcs12(&der, "correct horse").unwrap();
    assert_eq!(id.chain(), [leaf.der.clone(), inter.der()]);
    let got = login_presenting(id, requiring(&pki, root.der()), &pki).await;
    assert_eq!(got, vec![leaf.der.clone(), inter.der()]);
}

#[test]
fn pkcs12_with_a_wrong_password_is_refused() {
    let ca = Ca::root("p12 CA");
    let leaf = ca.issue_ec("p12-client");
    let dir = TempDir::new();
    let file = dir.write("client.p12", pkcs12(&leaf, &[], "right"));
    let e = ClientIdentity::from_pkcs12_file(&file, "wrong").unwrap_err();
    assert_invalid(&e, &["wrong password", "client.p12"]);
    assert!(p12_password_error(&e));
    let e = ClientIdentity::from_pkcs12(b"\x30\x03\x02\x01\x03", "x").unwrap_err();
    assert_invalid(&e, &["PKCS#12"]);
    assert!(!p12_password_error(&e), "{e}");
}

#[test]
fn pkcs12_without_a_key_is_refused() {
    use p12_keystore::{Certificate, KeyStore, KeyStoreEntry};
    let ca = Ca::root("p12 CA");
    let mut store = KeyStore::new();
    store.add_entry(
        "ca",
        KeyStoreEntry::Certificate(Certificate::from_der(&ca.der()).unwrap()),
    );
    let der = store
        .writer("pw")
        .encryption_iterations(2048)
        .mac_iterations(2048)
        .write()
        .unwrap();
    let e = ClientIdentity::from_pkcs12(&der, "pw").unwrap_err();
    assert_invalid(&e, &["no private key"]);
}

#[test]
fn pkcs12_made_by_openssl_is_read_with_its_chain() {
    let root = Ca::root("openssl root");
    let inter = root.intermediate("openssl intermediate");
    let leaf = inter.issue(client_params("openssl-rsa", &[]), &rsa_key_pem());
    let dir = TempDir::new();
    let leaf_pem = dir.write("leaf.pem", &leaf.pem);
    let key_pem = dir.write("leaf.key", &leaf.key_pem);
    let chain_pem = dir.write("chain.pem", format!("{}{}", inter.pem(), root.pem()));
    let out = dir.path().join("openssl.pfx");
    openssl(
        &[
            "pkcs12",
            "-export",
            "-in",
            leaf_pem.to_str().unwrap(),
            "-inkey",
            key_pem.to_str().unwrap(),
            "-certfile",
            chain_pem.to_str().unwrap(),
            "-passout",
            "pass:s3cret",
            "-out",
            out.to_str().unwrap(),
        ],
        b"",
    );
    let id = ClientIdentity::from_pkcs12_file(&out, "s3cret").unwrap();
    assert_eq!(id.chain(), [leaf.der.clone(), inter.der()]);
    assert!(p12_password_error(
        &ClientIdentity::from_pkcs12_file(&out, "nope").unwrap_err()
    ));
}

// ----- a certificate store -----

/// A store directory with three identities, all issued by an intermediate
/// whose (DER) certificate is in the store, as is the root: alice (PEM
/// certificate and PKCS#8 key in two files), bob (certificate with DNS, e-mail
/// and URI names and its SEC1 key in one PEM file), carol (PKCS#12).
struct ThreeIdentities {
    dir: TempDir,
    root: Ca,
    inter: Ca,
    alice: Leaf,
    bob: Leaf,
    carol: Leaf,
}

fn three_identities() -> ThreeIdentities {
    let root = Ca::root("store root");
    let inter = root.intermediate("store intermediate");
    let alice = inter.issue_ec("alice");
    let bob = inter.issue_new(client_params(
        "Bob Builder",
        &[
            dns("bob.example.com"),
            email("bob@example.com"),
            uri("urn:example:bob"),
        ],
    ));
    let carol = inter.issue_ec("carol");
    let dir = TempDir::new();
    dir.write("alice.crt", &alice.pem);
    dir.write("alice.key", &alice.key_pem);
    dir.write(
        "bob.pem",
        format!("{}{}", bob.pem, traditional_pem(&bob.key_pem)),
    );
    dir.write("carol.p12", pkcs12(&carol, &[], "store pw"));
    dir.write("intermediate.cer", inter.der().as_ref()); // DER
    dir.write("root.pem", root.pem());
    dir.write("README.txt", "not read");
    ThreeIdentities {
        dir,
        root,
        inter,
        alice,
        bob,
        carol,
    }
}

#[test]
fn store_directory_picks_by_common_name_and_by_alternative_names() {
    let s = three_identities();
    let pick = |name: &str| ClientIdentity::from_store(s.dir.path(), name, Some("store pw"));
    for (name, leaf) in [
        ("alice", &s.alice),
        ("Bob Builder", &s.bob),
        ("bob.example.com", &s.bob),
        ("BOB.Example.COM", &s.bob),
        ("bob@example.com", &s.bob),
        ("urn:example:bob", &s.bob),
        ("carol", &s.carol),
    ] {
        let id = pick(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(id.chain(), [leaf.der.clone(), s.inter.der()], "{name}");
        // The key is the certificate's: rustls accepts the pair.
        let mut opts = ftpkit::tls::TlsOptions::default();
        opts.client_identity = Some(id);
        ftpkit::tls::TlsContext::new(&opts).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    // Exact match for everything but DNS names.
    for name in ["Alice", "BOB@example.com", "bob builder", "urn:example:BOB"] {
        assert_invalid(&pick(name).unwrap_err(), &["no certificate has this name"]);
    }
}

#[tokio::test]
async fn store_identity_with_an_intermediate_completes_a_handshake() {
    let pki = TestPki::new();
    let s = three_identities();
    let id = ClientIdentity::from_store(s.dir.path(), "bob.example.com", Some("store pw")).unwrap();
    // The server trusts only the root: the intermediate must be presented.
    let got = login_presenting(id, requiring(&pki, s.root.der()), &pki).await;
    assert_eq!(got, vec![s.bob.der.clone(), s.inter.der()]);
}

#[test]
fn store_chain_follows_signatures_not_just_names() {
    let root = Ca::root("chain root");
    let inter = root.intermediate("chain intermediate");
    // Same name, other key: it did not sign the leaf.
    let impostor = root.intermediate("chain intermediate");
    let leaf = inter.issue_ec("dave");
    let dir = TempDir::new();
    dir.write("a-impostor.pem", impostor.pem());
    dir.write("b-inter.pem", inter.pem());
    dir.write("c-root.pem", root.pem());
    dir.write("dave.pem", format!("{}{}", leaf.pem, leaf.key_pem));
    let id = ClientIdentity::from_store(dir.path(), "dave", None).unwrap();
    assert_eq!(id.chain(), [leaf.der.clone(), inter.der()]);
    // Two levels of intermediates.
    let second = inter.intermediate("second intermediate");
    let erin = second.issue_ec("erin");
    dir.write("d-second.pem", second.pem());
    dir.write("erin.pem", format!("{}{}", erin.pem, erin.key_pem));
    let id = ClientIdentity::from_store(dir.path(), "erin", None).unwrap();
    assert_eq!(id.chain(), [erin.der.clone(), second.der(), inter.der()]);
}

#[test]
fn single_bundle_files_pem_and_pkcs12() {
    let s = three_identities();
    let bundle = s.dir.write(
        "bundle.txt",
        format!(
            "{}{}{}{}{}{}",
            s.root.pem(),
            s.alice.pem,
            s.inter.pem(),
            s.bob.pem,
            traditional_pem(&s.bob.key_pem),
            s.alice.key_pem
        ),
    );
    for (name, leaf) in [("alice", &s.alice), ("bob.example.com", &s.bob)] {
        let id = ClientIdentity::from_store(&bundle, name, None).unwrap();
        assert_eq!(id.chain(), [leaf.der.clone(), s.inter.der()], "{name}");
    }
    let p12 = s.dir.write(
        "carol-bundle.bin",
        pkcs12(&s.carol, &[s.inter.der(), s.root.der()], "pw"),
    );
    let id = ClientIdentity::from_store(&p12, "carol", Some("pw")).unwrap();
    assert_eq!(id.chain(), [s.carol.der.clone(), s.inter.der()]);
    let e = ClientIdentity::from_store(&p12, "carol", Some("bad")).unwrap_err();
    assert_invalid(&e, &["wrong password", "carol-bundle.bin"]);
}

#[test]
fn no_match_lists_the_names_seen() {
    let s = three_identities();
    let e = ClientIdentity::from_store(s.dir.path(), "mallory", Some("store pw")).unwrap_err();
    let store = s.dir.path().display().to_string();
    assert_invalid(
        &e,
        &[
            "\"mallory\"",
            &store,
            "no certificate has this name",
            "\"alice\"",
            "\"bob.example.com\"",
            "\"carol\"",
            "\"store intermediate\"",
        ],
    );
    // Many names: the list is cut.
    let ca = Ca::root("many CA");
    let dir = TempDir::new();
    for i in 0..15 {
        dir.write(
            &format!("c{i:02}.pem"),
            ca.issue_ec(&format!("user{i:02}")).pem,
        );
    }
    let e = ClientIdentity::from_store(dir.path(), "nobody", None).unwrap_err();
    assert_invalid(&e, &["\"user00\"", "\"user09\"", "and 5 more"]);
    assert!(!e.to_string().contains("user10"), "{e}");
}

#[test]
fn several_matches_are_listed() {
    let ca = Ca::root("dup CA");
    let one = ca.issue_ec("dup");
    let two = ca.issue_new(client_params("other", &[dns("dup")]));
    let dir = TempDir::new();
    dir.write("one.pem", format!("{}{}", one.pem, one.key_pem));
    dir.write("two.pem", format!("{}{}", two.pem, two.key_pem));
    let e = ClientIdentity::from_store(dir.path(), "dup", None).unwrap_err();
    let store = dir.path().display().to_string();
    assert_invalid(
        &e,
        &[
            "2 certificates have this name",
            &store,
            "CN=dup",
            "CN=other",
            &serial_of(&one.der),
            &serial_of(&two.der),
            "expires 4096-01-01",
            "key found",
        ],
    );
}

#[test]
fn several_matches_with_one_usable_pick_it() {
    let ca = Ca::root("dup CA");
    let current = ca.issue_new(years(client_params("frank", &[]), 2020, 2030));
    let old = ca.issue_new(years(client_params("frank", &[]), 2010, 2020));
    let future = ca.issue_new(years(client_params("frank", &[]), 2030, 2040));
    let keyless = ca.issue_new(years(client_params("frank", &[]), 2020, 2030));
    let dir = TempDir::new();
    for (file, leaf) in [("current", &current), ("old", &old), ("future", &future)] {
        dir.write(
            &format!("{file}.pem"),
            format!("{}{}", leaf.pem, leaf.key_pem),
        );
    }
    dir.write("keyless.crt", &keyless.pem);
    let id = ClientIdentity::from_store_at(dir.path(), "frank", None, in_year(2025)).unwrap();
    assert_eq!(id.certificate(), Some(&current.der));
    // In 2035 only `future` is usable.
    let id = ClientIdentity::from_store_at(dir.path(), "frank", None, in_year(2035)).unwrap();
    assert_eq!(id.certificate(), Some(&future.der));
    // In 2045 none is: all four are listed, with their state.
    let e = ClientIdentity::from_store_at(dir.path(), "frank", None, in_year(2045)).unwrap_err();
    assert_invalid(
        &e,
        &[
            "4 certificates have this name",
            "expired",
            "no key",
            "expires 2030-01-01",
        ],
    );
    // Two usable ones: ambiguous.
    dir.write("keyless.key", &keyless.key_pem);
    let e = ClientIdentity::from_store_at(dir.path(), "frank", None, in_year(2025)).unwrap_err();
    assert_invalid(
        &e,
        &[
            "4 certificates have this name",
            &serial_of(&current.der),
            &serial_of(&keyless.der),
        ],
    );
}

#[test]
fn key_mismatch_is_reported() {
    let ca = Ca::root("mismatch CA");
    let alice = ca.issue_ec("alice");
    let bob = ca.issue_ec("bob");
    let carol = ca.issue(client_params("carol", &[]), &rsa_key_pem());
    let dir = TempDir::new();
    dir.write("alice.crt", &alice.pem);
    dir.write("bob.key", traditional_pem(&bob.key_pem));
    let store = dir.path().display().to_string();
    let e = ClientIdentity::from_store(dir.path(), "alice", None).unwrap_err();
    assert_invalid(
        &e,
        &[
            "\"alice\"",
            &store,
            "the key does not belong to the certificate",
            "bob.key",
        ],
    );
    // Two keys, neither the right one.
    dir.write("carol.key", traditional_pem(&carol.key_pem));
    let e = ClientIdentity::from_store(dir.path(), "alice", None).unwrap_err();
    assert_invalid(
        &e,
        &[
            "none of the store's 2 private keys belongs to the certificate",
            "CN=alice",
        ],
    );
    // No key at all.
    let empty = TempDir::new();
    empty.write("alice.crt", &alice.pem);
    let e = ClientIdentity::from_store(empty.path(), "alice", None).unwrap_err();
    assert_invalid(&e, &["holds no private key"]);
    // A key that cannot be read is named instead of guessed at.
    empty.write(
        "alice-encrypted.key",
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMAA=\n-----END ENCRYPTED PRIVATE KEY-----\n",
    );
    let e = ClientIdentity::from_store(empty.path(), "alice", None).unwrap_err();
    assert_invalid(&e, &["could not be", "alice-encrypted.key", "encrypted"]);
}

#[test]
fn expired_and_not_yet_valid_certificates_are_refused() {
    let ca = Ca::root("dates CA");
    let leaf = ca.issue_new(years(client_params("gina", &[]), 2020, 2030));
    let dir = TempDir::new();
    dir.write("gina.pem", format!("{}{}", leaf.pem, leaf.key_pem));
    let store = dir.path().display().to_string();
    assert!(ClientIdentity::from_store_at(dir.path(), "gina", None, in_year(2025)).is_ok());
    let e = ClientIdentity::from_store_at(dir.path(), "gina", None, in_year(2031)).unwrap_err();
    assert_invalid(&e, &["\"gina\"", &store, "has expired", "2030-01-01"]);
    let e = ClientIdentity::from_store_at(dir.path(), "gina", None, in_year(2019)).unwrap_err();
    assert_invalid(&e, &["\"gina\"", &store, "is not valid yet", "2020-01-01"]);

    // With the system clock, using the testkit's certificates.
    let pki = TestPki::new();
    let expired = pki.issue_server_cert_with_validity(&["old.example"], Validity::Expired);
    let future = pki.issue_server_cert_with_validity(&["new.example"], Validity::NotYetValid);
    let dir = TempDir::new();
    dir.write(
        "old.pem",
        format!("{}{}", expired.cert_pem(), expired.key_pem()),
    );
    dir.write(
        "new.pem",
        format!("{}{}", future.cert_pem(), future.key_pem()),
    );
    assert_invalid(
        &ClientIdentity::from_store(dir.path(), "old.example", None).unwrap_err(),
        &["has expired"],
    );
    assert_invalid(
        &ClientIdentity::from_store(dir.path(), "new.example", None).unwrap_err(),
        &["is not valid yet"],
    );
}

#[test]
fn unreadable_files_are_named() {
    let s = three_identities();
    // A PKCS#12 file with another password.
    let e = ClientIdentity::from_store(s.dir.path(), "alice", Some("other")).unwrap_err();
    assert_invalid(&e, &["\"alice\"", "carol.p12", "wrong password"]);
    let e = ClientIdentity::from_store(s.dir.path(), "alice", None).unwrap_err();
    assert_invalid(&e, &["carol.p12", "needs a password"]);
    // Broken PEM.
    let dir = TempDir::new();
    dir.write("good.pem", format!("{}{}", s.alice.pem, s.alice.key_pem));
    dir.write(
        "broken.pem",
        "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n",
    );
    let e = ClientIdentity::from_store(dir.path(), "alice", None).unwrap_err();
    assert_invalid(&e, &["cannot read", "broken.pem"]);
    // Neither PEM nor DER.
    std::fs::remove_file(dir.path().join("broken.pem")).unwrap();
    dir.write("junk.crt", b"\x00\x01\x02 junk");
    let e = ClientIdentity::from_store(dir.path(), "alice", None).unwrap_err();
    assert_invalid(&e, &["junk.crt", "neither PEM nor a DER certificate"]);
    // A store that does not exist.
    let missing = dir.path().join("missing");
    let e = ClientIdentity::from_store(&missing, "alice", None).unwrap_err();
    assert_invalid(&e, &["cannot read", "missing"]);
    // A file unreadable for its permissions (not when running as root).
    std::fs::remove_file(dir.path().join("junk.crt")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let locked = dir.write("locked.pem", &s.bob.pem);
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
        if std::fs::read(&locked).is_err() {
            let e = ClientIdentity::from_store(dir.path(), "alice", None).unwrap_err();
            assert_invalid(&e, &["cannot read", "locked.pem"]);
        }
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    assert!(ClientIdentity::from_store(dir.path(), "alice", None).is_ok());
}

// ----- end to end -----

#[tokio::test]
async fn server_requiring_a_client_certificate_sees_the_one_picked_by_name() {
    let pki = TestPki::new();
    let alice = pki.issue_client_cert("alice");
    let bob = pki.issue_client_cert("bob");
    let dir = TempDir::new();
    for (name, ck) in [("alice", &alice), ("bob", &bob)] {
        dir.write(&format!("{name}.crt"), ck.cert_pem());
        dir.write(&format!("{name}.key"), ck.key_pem());
    }
    dir.write("ca.pem", pki.ca_cert_pem());
    let id = ClientIdentity::from_store(dir.path(), "bob", None).unwrap();
    let server_tls = ServerTls::new(&pki).require_client_cert();
    let got = login_presenting(id, server_tls, &pki).await;
    assert_eq!(got, vec![bob.cert_der()]);
}

#[tokio::test]
async fn server_requiring_a_client_certificate_refuses_none_and_a_foreign_one() {
    let pki = TestPki::new();
    let other = TestPki::with_ca_name("other CA");
    let foreign = other.issue_client_cert("alice");
    let foreign =
        ClientIdentity::from_pem(foreign.cert_pem().as_bytes(), foreign.key_pem().as_bytes())
            .unwrap();
    for server_tls in [
        ServerTls::new(&pki).require_client_cert().tls13_only(),
        ServerTls::new(&pki).require_client_cert().tls12_only(),
    ] {
        for identity in [None, Some(foreign.clone())] {
            let label = format!("{server_tls:?}, identity {}", identity.is_some());
            let (e, t) = refused(identity, server_tls.clone(), &pki).await;
            assert!(
                matches!(e.kind(), ErrorKind::Tls | ErrorKind::Certificate),
                "{label}: {e:?}"
            );
            assert_eq!(
                t.verbs(),
                ["AUTH"],
                "{label}: no USER after the refused handshake"
            );
            assert!(t.control_tls().is_empty(), "{label}");
        }
    }
}

/// The seed's scenario: connect in plain, secure the live session with a
/// client certificate picked from a store by name at that moment, then log
/// in; the configuration then says TLS.
#[tokio::test]
async fn secure_with_after_a_plain_connect_shows_the_certificate_picked_then() {
    let pki = TestPki::new();
    let bob = pki.issue_client_cert("bob");
    let dir = TempDir::new();
    dir.write("bob.crt", bob.cert_pem());
    dir.write("bob.key", bob.key_pem());
    let server =
        ScriptedServer::start_tls(tls_login(), ServerTls::new(&pki).require_client_cert()).await;
    let mut plain = ftps_config(&server, &pki, None);
    plain.security = Security::None;
    plain.credentials = None;
    let mut c = Client::connect(plain).await.unwrap();
    assert_eq!(c.config().security, Security::None);
    let mut tls = ftpkit::tls::TlsOptions::default();
    tls.system_roots = SystemRoots::Exclude;
    tls.ca_certificates = vec![pki.ca_cert_der()];
    tls.client_identity = Some(ClientIdentity::from_store(dir.path(), "bob", None).unwrap());
    c.secure_with(tls.clone()).await.unwrap();
    assert_eq!(c.config().security, Security::Explicit);
    c.login("alice", "s3cret").await.unwrap();
    // Securing twice is a misuse, not a second handshake.
    let e = c.secure_with(tls).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Misuse);
    c.quit().await.unwrap();
    let t = server.finish().await;
    t.assert_ok();
    assert_eq!(t.control_tls()[0].client_certificates, vec![bob.cert_der()]);
}
