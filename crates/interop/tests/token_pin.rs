//! A wrong PIN for a PKCS#11 token (issue #16): said so, tried once. In a
//! test binary of its own because PKCS#11 shares a token's login between
//! all sessions of a process: once any identity of the process is logged
//! in, the token takes every further login as done (`CKR_USER_ALREADY_LOGGED_IN`)
//! whatever the PIN, so the wrong PIN must be the process's first login.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use ftpkit::tls::{ClientIdentity, TokenCertificate, TokenOptions, TokenPin, TokenSelector};
use ftpkit::ErrorKind;
use ftpkit_interop::{report, Env};

#[test]
fn a_wrong_pin_is_said_and_not_retried() {
    let env = Env::load();
    std::env::set_var("SOFTHSM2_CONF", env.get("FTPKIT_INTEROP_SOFTHSM2_CONF"));
    let options = |pin: String| {
        TokenOptions::new(
            env.get("FTPKIT_INTEROP_PKCS11_MODULE"),
            TokenSelector::Label(env.get("FTPKIT_INTEROP_PKCS11_TOKEN")),
            TokenCertificate::Name("ftpkit-token-ec".into()),
            TokenPin::new(pin),
        )
    };
    let e = ClientIdentity::from_token(&options("000000".into())).expect_err("a wrong PIN");
    let text = e.to_string();
    report(&format!("token refusal: {text}"));
    assert_eq!(e.kind(), ErrorKind::Auth, "{text}");
    assert!(
        text.contains("rejected the PIN") && text.contains("not retried"),
        "{text}"
    );
    assert!(!text.contains("000000"), "the PIN printed: {text}");
    // One wrong PIN does not lock the token: the right one still works.
    ClientIdentity::from_token(&options(env.get("FTPKIT_INTEROP_PKCS11_PIN"))).unwrap();
}
