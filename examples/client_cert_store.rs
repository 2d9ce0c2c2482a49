//! Explicit FTPS with a client certificate picked by name from a
//! certificate store (a directory of PEM/DER/PKCS#12 files, or one bundle).
//!
//! ```text
//! cargo run --example client_cert_store -- URL STORE_PATH NAME [CA_PEM]
//! cargo run --example client_cert_store -- ftp://alice:pw@ftp.example.com/ ~/.ftpkit/certs alice@example.com
//! ```
//!
//! The certificate is the one whose common name or subject alternative
//! name is `NAME` (see `ClientIdentity::from_store`); PKCS#12 files are
//! opened with the password in `FTPKIT_STORE_PASSWORD`, if set. The URL's
//! scheme is overridden: the session always uses explicit TLS (`AUTH TLS`)
//! unless the URL says `ftps://` (implicit). With `CA_PEM`, only that CA is
//! trusted. Prints the TLS details and the working directory's listing.
#![allow(clippy::print_stdout, missing_docs)]

use ftpkit::tls::{ClientIdentity, SystemRoots};
use ftpkit::{ClientBuilder, ListLine, Security};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, store, name, rest @ ..] = args.as_slice() else {
        return Err("usage: client_cert_store URL STORE_PATH NAME [CA_PEM]".into());
    };
    let password = std::env::var("FTPKIT_STORE_PASSWORD").ok();
    let identity = ClientIdentity::from_store(store, name, password.as_deref())?;
    if let Some(cert) = identity.certificate() {
        let info = ftpkit::tls::CertificateInfo::parse(cert)?;
        println!(
            "client certificate: {} (issuer {})",
            info.subject, info.issuer
        );
    }

    let mut builder = ClientBuilder::from_url(url)?.client_identity(identity);
    if builder.config().security != Security::Implicit {
        builder = builder.explicit_tls();
    }
    if let Some(ca) = rest.first() {
        builder = builder.system_roots(SystemRoots::Exclude).ca_file(ca);
    }
    let mut client = builder.connect().await?;
    if let Some(tls) = client.tls_info() {
        println!(
            "TLS {:?}, {:?}, server: {:?}",
            tls.version,
            tls.cipher_suite,
            tls.peer_certificates.first().map(|c| &c.subject)
        );
    }
    println!("logged in; working directory {}", client.pwd().await?);
    for line in client.list(None).await? {
        if let ListLine::Entry(e) = line {
            println!("  {:?} {}", e.kind, e.name);
        }
    }
    client.quit().await?;
    Ok(())
}
