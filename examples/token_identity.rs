//! A client certificate whose private key never leaves a PKCS#11 token (a
//! smart card, an HSM, SoftHSM): connect in plain FTP, secure the live
//! session with the token's identity (`AUTH TLS`), then log in over TLS.
//!
//! ```text
//! cargo run --example token_identity -- HOST PORT USER MODULE TOKEN_LABEL CERT_NAME [CA_PEM]
//! FTPKIT_PASSWORD=secret FTPKIT_TOKEN_PIN=123456 cargo run --example token_identity -- \
//!     ftp.example.com 21 alice /usr/lib/softhsm/libsofthsm2.so my-token alice@example.com ca.pem
//! ```
//!
//! The login password comes from `FTPKIT_PASSWORD`, the token's user PIN
//! from `FTPKIT_TOKEN_PIN` (tried once: tokens lock after a few wrong
//! PINs). The certificate is the one named CERT_NAME (common name or subject
//! alternative name) on the token; the token signs the TLS handshake of the
//! control connection, and the data connections resume that session, so it
//! signs nothing more for the transfers.
#![allow(clippy::print_stdout, missing_docs)]

use ftpkit::tls::{
    ClientIdentity, SystemRoots, TlsOptions, TokenCertificate, TokenOptions, TokenPin,
    TokenSelector,
};
use ftpkit::{Client, Config, Security};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [host, port, user, module, token, name, rest @ ..] = args.as_slice() else {
        return Err(
            "usage: token_identity HOST PORT USER MODULE TOKEN_LABEL CERT_NAME [CA_PEM]".into(),
        );
    };
    let password = std::env::var("FTPKIT_PASSWORD").map_err(|_| "set FTPKIT_PASSWORD")?;

    // 1. Connect in plain FTP, without logging in.
    let mut config = Config::new(host.as_str());
    config.port = port.parse()?;
    config.security = Security::None;
    let mut client = Client::connect(config).await?;
    println!("connected to {host}:{port} in plain FTP");

    // 2. The identity on the token: log in to the token and pick the
    //    certificate by name. The key stays there.
    let identity = ClientIdentity::from_token(&TokenOptions::new(
        module,
        TokenSelector::Label(token.clone()),
        TokenCertificate::Name(name.clone()),
        TokenPin::from_env("FTPKIT_TOKEN_PIN")?,
    ))?;
    if let Some(t) = identity.token_info() {
        println!(
            "token {:?} (serial {}): {} key {:?}",
            t.token_label, t.token_serial, t.key_type, t.key_label
        );
    }

    // 3. Secure the live session with it, and the CA to trust.
    let mut tls = TlsOptions::default();
    tls.client_identity = Some(identity.clone());
    if let Some(ca) = rest.first() {
        tls.system_roots = SystemRoots::Exclude;
        tls.ca_files = vec![ca.into()];
    }
    client.secure_with(tls).await?;
    println!(
        "secured: TLS version {:?}",
        client.tls_info().and_then(|t| t.version)
    );

    // 4. Log in over TLS and list the directory (a data connection, which
    //    resumes the TLS session: the token signs nothing for it).
    client.login(user.as_str(), password.as_str()).await?;
    let names = client.nlst(None).await?;
    println!(
        "logged in as {user}; {} names in the directory",
        names.len()
    );
    if let Some(t) = identity.token_info() {
        println!("the token made {} signatures", t.signatures);
    }
    client.quit().await?;
    Ok(())
}
