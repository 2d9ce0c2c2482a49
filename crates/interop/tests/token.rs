//! Client certificates whose keys stay on a PKCS#11 token (issue #16), on
//! the SoftHSM2 token `interop/servers.sh start` makes (keys generated on
//! the token, certificates from the test CA; see interop/README.md), against
//! servers that require a client certificate signed by the test CA: vsftpd
//! explicit and implicit (`require_cert`, `validate_cert`) and ProFTPD
//! (`TLSVerifyClient on`). Run with `just interop`; without the servers and
//! the token every test fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::{Arc, Once};

use ftpkit::tls::{
    ClientIdentity, SystemRoots, TlsVersion, TokenCertificate, TokenOptions, TokenPin,
    TokenSelector,
};
use ftpkit::{Client, Config, Credentials, ErrorKind, Security};
use ftpkit_interop::data::Pattern;
use ftpkit_interop::{download_bytes, report, server, upload_bytes, Env, Mode};
use ftpkit_testkit::{provider, Script, ScriptedServer, ServerTls, TestPki};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::server::danger::ClientCertVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, SignatureScheme};

/// The token's options for `certificate`, from the env file; points
/// SoftHSM2 at the token directory of this run.
fn options(certificate: TokenCertificate) -> TokenOptions {
    let env = Env::load();
    static CONF: Once = Once::new();
    CONF.call_once(|| {
        // Every test sets the same value, once, before any token is opened.
        std::env::set_var("SOFTHSM2_CONF", env.get("FTPKIT_INTEROP_SOFTHSM2_CONF"));
    });
    TokenOptions::new(
        env.get("FTPKIT_INTEROP_PKCS11_MODULE"),
        TokenSelector::Label(env.get("FTPKIT_INTEROP_PKCS11_TOKEN")),
        certificate,
        TokenPin::new(env.get("FTPKIT_INTEROP_PKCS11_PIN")),
    )
}

fn named(name: &str) -> TokenOptions {
    options(TokenCertificate::Name(name.to_owned()))
}

/// Logs in to `instance` with the token certificate `name` (TLS up to
/// `max`), makes 50 transfers on the one session (25 uploads, each
/// downloaded back and compared), and checks the token's signatures: one
/// for the key check, then one per control connection's full handshake;
/// data connections resume and sign nothing.
async fn fifty_transfers(instance: &str, name: &str, max: TlsVersion) {
    let identity = ClientIdentity::from_token(&named(name)).unwrap();
    assert_eq!(
        identity.token_info().unwrap().signatures,
        1,
        "the key check"
    );
    let mut config = server(instance).config(Mode::Passive);
    config.tls.client_identity = Some(identity.clone());
    config.tls.max_version = Some(max);
    let mut c = Client::connect(config)
        .await
        .unwrap_or_else(|e| panic!("{instance} with {name}: {e:?}"));
    let dir = ftpkit_interop::unique_dir("token");
    c.mkdir(dir.as_str()).await.unwrap();
    c.cwd(dir.as_str()).await.unwrap();
    for i in 0..25u64 {
        let data = Pattern::bytes(i, 20_000 + i as usize);
        let path = format!("t{i}.bin");
        let up = upload_bytes(&mut c, &path, &data).await;
        let (got, down) = download_bytes(&mut c, &path).await;
        assert!(got == data, "{instance} {path}: the bytes differ");
        for info in [up, down] {
            assert!(!info.full_handshake(), "{instance} {path}: {info:?}");
        }
    }
    let stats = c.tls_session_stats().unwrap();
    let token = identity.token_info().unwrap();
    // The first control connection, each renewal of the control session
    // (ProFTPD gives no TLS 1.3 ticket per upload), and nothing else.
    let control_handshakes = 1 + stats.refreshes + stats.retries;
    report(&format!(
        "{instance} with token key {:?} ({}, {:?}): 50 transfers, {} token signatures = 1 key check + {control_handshakes} control handshakes ({} renewals); data connections: {} resumed, {} full handshakes",
        token.key_label,
        token.key_type,
        c.tls_info().and_then(|t| t.version),
        token.signatures,
        stats.refreshes,
        stats.resumed,
        stats.full_handshakes
    ));
    assert_eq!(stats.full_handshakes, 0, "{instance}: {stats:?}");
    assert_eq!(
        token.signatures,
        1 + control_handshakes,
        "{instance}: {stats:?}"
    );
    c.quit().await.unwrap();
}

/// Each server requiring a client certificate, with each kind of token key
/// and TLS 1.2 and 1.3: the 50 transfers of [`fifty_transfers`].
#[tokio::test]
async fn fifty_transfers_on_each_server_with_each_key_type() {
    for (instance, name, max) in [
        ("VSFTPD_CLIENTCERT", "ftpkit-token-ec", TlsVersion::Tls13),
        ("VSFTPD_CLIENTCERT", "ftpkit-token-rsa", TlsVersion::Tls12),
        (
            "VSFTPD_IMPLICIT_CLIENTCERT",
            "ftpkit-token-rsa",
            TlsVersion::Tls13,
        ),
        (
            "VSFTPD_IMPLICIT_CLIENTCERT",
            "ftpkit-token-p384",
            TlsVersion::Tls13,
        ),
        ("PROFTPD_CLIENTCERT", "ftpkit-token-ec", TlsVersion::Tls13),
        ("PROFTPD_CLIENTCERT", "ftpkit-token-rsa", TlsVersion::Tls12),
    ] {
        fifty_transfers(instance, name, max).await;
    }
}

#[tokio::test]
async fn the_key_is_found_by_its_label_and_by_its_id() {
    let by_label =
        ClientIdentity::from_token(&options(TokenCertificate::KeyLabel("client-rsa".into())))
            .unwrap();
    let by_id = ClientIdentity::from_token(&options(TokenCertificate::KeyId(vec![0x02]))).unwrap();
    for id in [&by_label, &by_id] {
        let info = id.token_info().unwrap();
        assert_eq!(
            (info.key_label.as_str(), info.key_id.as_slice()),
            ("client-rsa", &[2u8][..])
        );
        assert!(info.key_type.starts_with("RSA"), "{info:?}");
    }
    assert_eq!(by_label.certificate(), by_id.certificate());
}

/// A token identity that must not be made: the error's kind and words; the
/// client never gets to connect (there is no identity to connect with).
fn refused(opts: &TokenOptions, kind: ErrorKind, words: &[&str]) {
    let e = ClientIdentity::from_token(opts).expect_err("the identity must be refused");
    let text = e.to_string();
    assert_eq!(e.kind(), kind, "{text}");
    for w in words {
        assert!(text.contains(w), "{text:?} lacks {w:?}");
    }
    assert!(
        !text.contains(&Env::load().get("FTPKIT_INTEROP_PKCS11_PIN")),
        "the PIN printed: {text}"
    );
    report(&format!("token refusal: {text}"));
}

#[test]
fn no_such_module() {
    let mut o = named("ftpkit-token-ec");
    o.module = "/nonexistent/libnothing-pkcs11.so".into();
    refused(
        &o,
        ErrorKind::InvalidArgument,
        &["cannot load the PKCS#11 module", "libnothing"],
    );
}

#[test]
fn no_such_token_lists_the_tokens_seen() {
    for (token, said) in [
        (
            TokenSelector::Label("no-such-token".into()),
            &["no token with label \"no-such-token\"", "\"ftpkit-test\""],
        ),
        (
            TokenSelector::Serial("0000".into()),
            &["no token with serial", "ftpkit-test"],
        ),
    ] {
        let mut o = named("ftpkit-token-ec");
        o.token = token;
        refused(&o, ErrorKind::InvalidArgument, said);
    }
}

#[test]
fn no_such_certificate_lists_the_names_seen() {
    refused(
        &named("nobody@example.com"),
        ErrorKind::InvalidArgument,
        &[
            "no certificate has the name",
            "ftpkit-token-ec",
            "ftpkit-token-rsa",
        ],
    );
    refused(
        &options(TokenCertificate::KeyLabel("no-such-key".into())),
        ErrorKind::InvalidArgument,
        &["0 private keys have the label", "client-ec"],
    );
}

#[test]
fn a_key_no_tls_scheme_can_use_is_refused() {
    // secp256k1: no TLS signature scheme uses that curve.
    refused(
        &named("ftpkit-token-k1"),
        ErrorKind::InvalidArgument,
        &["no TLS signature scheme uses"],
    );
}

#[test]
fn a_certificate_that_is_not_its_keys_is_refused() {
    // id 05: the certificate was issued over the public key of id 01.
    refused(
        &named("ftpkit-token-mismatch"),
        ErrorKind::InvalidArgument,
        &["does not belong to the certificate", "client-mismatch"],
    );
}

/// rustls's client-certificate verifier on a provider that verifies
/// Ed25519 signatures only: a server that asks for Ed25519 certificates.
fn ed25519_only_verifier(pki: &TestPki) -> Arc<dyn ClientCertVerifier> {
    let mut provider = (*provider()).clone();
    let algorithms = provider.signature_verification_algorithms;
    let ed25519 = *algorithms
        .mapping
        .iter()
        .find(|(scheme, _)| *scheme == SignatureScheme::ED25519)
        .expect("ring verifies Ed25519");
    provider.signature_verification_algorithms = WebPkiSupportedAlgorithms {
        all: ed25519.1,
        mapping: Box::leak(Box::new([ed25519])),
    };
    let mut roots = RootCertStore::empty();
    roots.add(pki.ca_cert_der()).unwrap();
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::new(provider))
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_server_accepting_none_of_the_keys_schemes_is_said_so() {
    let pki = TestPki::new();
    let server_config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(ed25519_only_verifier(&pki))
        .with_single_cert(pki.server_cert().chain(), pki.server_cert().key_der())
        .unwrap();
    let script = Script::new()
        .send("220 scripted\r\n")
        .expect_line("AUTH TLS")
        .reply("234 go\r\n")
        .start_tls_expect_failure();
    let server =
        ScriptedServer::start_tls(script, ServerTls::from_config(Arc::new(server_config))).await;
    let mut config = Config::new("localhost");
    config.port = server.port();
    config.security = Security::Explicit;
    config.credentials = Some(Credentials::new("alice", "s3cret"));
    config.tls.system_roots = SystemRoots::Exclude;
    config.tls.ca_certificates = vec![pki.ca_cert_der()];
    config.tls.client_identity =
        Some(ClientIdentity::from_token(&named("ftpkit-token-ec")).unwrap());
    let e = Client::connect(config)
        .await
        .expect_err("no scheme in common");
    let text = e.to_string();
    report(&format!("token key against an Ed25519-only server: {text}"));
    assert_eq!(e.kind(), ErrorKind::Tls, "{text}");
    for want in [
        "no client certificate could be sent",
        "ED25519",
        "ECDSA_NISTP256_SHA256",
    ] {
        assert!(text.contains(want), "{want:?} missing from {text:?}");
    }
    server.finish().await.assert_ok();
}

#[tokio::test]
async fn without_the_token_certificate_the_servers_refuse() {
    // The control test for the suite: these servers do refuse a client
    // without a certificate, so the successes above are the token's.
    for instance in ["VSFTPD_IMPLICIT_CLIENTCERT", "PROFTPD_CLIENTCERT"] {
        let mut config = server(instance).config(Mode::Passive);
        config.tls.client_identity = None;
        let e = Client::connect(config).await.expect_err(instance);
        report(&format!("{instance} without a client certificate: {e}"));
    }
}

/// `examples/token_identity.rs`, the scenario, run against ProFTPD
/// requiring client certificates: connect in plain FTP, secure the live
/// session with the token's identity, log in, list; two signatures.
#[test]
fn the_token_example_secures_a_plain_session() {
    let env = Env::load();
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml");
    let mut build = std::process::Command::new(env!("CARGO"));
    build
        .args(["build", "-q", "-p", "ftpkit", "--example", "token_identity"])
        .arg("--manifest-path")
        .arg(&manifest);
    if !cfg!(debug_assertions) {
        build.arg("--release");
    }
    assert!(build.status().unwrap().success(), "building the example");
    // target/<profile>/deps/token-HASH -> target/<profile>/examples/token_identity
    let exe = std::env::current_exe().unwrap();
    let example = exe
        .parent()
        .and_then(std::path::Path::parent)
        .unwrap()
        .join("examples")
        .join(format!("token_identity{}", std::env::consts::EXE_SUFFIX));
    let s = server("PROFTPD_CLIENTCERT");
    let out = std::process::Command::new(&example)
        .args([
            "localhost",
            &s.port.to_string(),
            &s.user,
            &env.get("FTPKIT_INTEROP_PKCS11_MODULE"),
            &env.get("FTPKIT_INTEROP_PKCS11_TOKEN"),
            "ftpkit-token-p384",
        ])
        .arg(&s.ca)
        .env("FTPKIT_PASSWORD", &s.password)
        .env("FTPKIT_TOKEN_PIN", env.get("FTPKIT_INTEROP_PKCS11_PIN"))
        .env("SOFTHSM2_CONF", env.get("FTPKIT_INTEROP_SOFTHSM2_CONF"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    report(&format!(
        "examples/token_identity on PROFTPD_CLIENTCERT: {}",
        stdout.trim().replace('\n', "; ")
    ));
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for want in [
        "in plain FTP",
        "EC P-384 key \"client-p384\"",
        "secured: TLS version",
        "logged in as",
        "the token made 2 signatures",
    ] {
        assert!(stdout.contains(want), "{want:?} missing from:\n{stdout}");
    }
}
