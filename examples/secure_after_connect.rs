//! The session secured after it connected: connect in plain FTP, then
//! `AUTH TLS` with settings chosen at that moment (a client certificate
//! picked by name from a certificate store), then log in over TLS.
//!
//! ```text
//! cargo run --example secure_after_connect -- HOST PORT USER STORE_PATH NAME [CA_PEM]
//! FTPKIT_PASSWORD=secret cargo run --example secure_after_connect -- \
//!     ftp.example.com 21 alice ~/.ftpkit/certs alice@example.com ca.pem
//! ```
//!
//! The password comes from `FTPKIT_PASSWORD`; PKCS#12 files in the store
//! are opened with `FTPKIT_STORE_PASSWORD`, if set. Nothing but the greeting
//! travels in the clear: the client logs in only once TLS is up.
#![allow(clippy::print_stdout, missing_docs)]

use ftpkit::tls::{ClientIdentity, SystemRoots, TlsOptions};
use ftpkit::{Client, Config, Security};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [host, port, user, store, name, rest @ ..] = args.as_slice() else {
        return Err("usage: secure_after_connect HOST PORT USER STORE_PATH NAME [CA_PEM]".into());
    };
    let password = std::env::var("FTPKIT_PASSWORD").map_err(|_| "set FTPKIT_PASSWORD")?;

    // 1. Connect in plain FTP, without logging in.
    let mut config = Config::new(host.as_str());
    config.port = port.parse()?;
    config.security = Security::None;
    let mut client = Client::connect(config).await?;
    println!("connected to {host}:{port} in plain FTP");

    // 2. Secure the live session with settings chosen now: the client
    //    certificate whose name is NAME in the store, and the CA to trust.
    let store_password = std::env::var("FTPKIT_STORE_PASSWORD").ok();
    let mut tls = TlsOptions::default();
    tls.client_identity = Some(ClientIdentity::from_store(
        store,
        name,
        store_password.as_deref(),
    )?);
    if let Some(ca) = rest.first() {
        tls.system_roots = SystemRoots::Exclude;
        tls.ca_files = vec![ca.into()];
    }
    client.secure_with(tls).await?;
    println!(
        "secured: {:?}, TLS version {:?}",
        client.config().security,
        client.tls_info().and_then(|t| t.version)
    );

    // 3. Log in over TLS.
    client.login(user.as_str(), password.as_str()).await?;
    println!(
        "logged in as {user}; working directory {}",
        client.pwd().await?
    );
    client.quit().await?;
    Ok(())
}
