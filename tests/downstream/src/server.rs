//! The server side: libunftp on 127.0.0.1 with the file-system back-end, and
//! a CA plus a `localhost` certificate made with rcgen at run time (the
//! approach of examples/demo.rs, smaller).

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use libunftp::options::{FtpsRequired, Shutdown, TlsFlags};
use libunftp::ServerBuilder;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use unftp_core::auth::{AuthenticationError, Authenticator, Principal};
use unftp_sbe_fs::Filesystem;

use crate::BoxError;

/// The one account. The server listens on loopback only and lives for one
/// test run.
pub const USER: &str = "downstream";
pub const PASSWORD: &str = "downstream-test-password";

/// libunftp running in a task of the current runtime.
pub struct Server {
    pub addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), libunftp::ServerError>>,
}

impl Server {
    /// Starts a server rooted in `root`; with `tls` (certificate chain and
    /// key PEM files), FTPS is required on control and data connections.
    pub async fn start(root: &Path, tls: Option<(&Path, &Path)>) -> Result<Self, BoxError> {
        Filesystem::new(root)?;
        let root = root.to_path_buf();
        let storage = Box::new(move || {
            Filesystem::new(root.clone()).expect("the root directory was checked at start")
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let mut builder = ServerBuilder::with_authenticator(storage, Arc::new(OneUser))
            .greeting("ftpkit downstream test server (libunftp)")
            .shutdown_indicator(async move {
                let _ = stopped.await;
                Shutdown::new().grace_period(Duration::from_secs(1))
            });
        if let Some((cert, key)) = tls {
            builder = builder
                .ftps(cert, key)
                .ftps_required(FtpsRequired::All, FtpsRequired::All)
                .ftps_tls_flags(
                    TlsFlags::V1_2
                        | TlsFlags::V1_3
                        | TlsFlags::RESUMPTION_SESS_ID
                        | TlsFlags::RESUMPTION_TICKETS,
                );
        }
        let server = builder.build()?;

        // libunftp binds the address it is given and does not report the
        // port it got: find a free loopback port first.
        let addr = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?;
        let task = tokio::spawn(server.listen(addr.to_string()));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if task.is_finished() {
                let r = task.await?;
                return Err(format!("the server stopped at start: {r:?}").into());
            }
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return Ok(Self { addr, stop, task });
            }
            if Instant::now() > deadline {
                return Err(format!("the server did not listen on {addr} within 10 s").into());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub async fn stop(self) -> Result<(), BoxError> {
        let _ = self.stop.send(());
        match tokio::time::timeout(Duration::from_secs(5), self.task).await {
            Ok(joined) => Ok(joined??),
            Err(_) => Err("the server did not stop within 5 s".into()),
        }
    }
}

#[derive(Debug)]
struct OneUser;

#[async_trait::async_trait]
impl Authenticator for OneUser {
    async fn authenticate(
        &self,
        username: &str,
        creds: &unftp_core::auth::Credentials,
    ) -> Result<Principal, AuthenticationError> {
        if username != USER {
            return Err(AuthenticationError::BadUser);
        }
        if creds.password.as_deref() != Some(PASSWORD) {
            return Err(AuthenticationError::BadPassword);
        }
        Ok(Principal {
            username: username.to_owned(),
        })
    }
}

/// A CA and a `localhost` server certificate, made now.
pub struct Pki {
    ca_pem: String,
    chain_pem: String,
    key_pem: String,
}

impl Pki {
    pub fn generate() -> Result<Self, BoxError> {
        let mut ca = CertificateParams::new(Vec::<String>::new())?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca.distinguished_name
            .push(DnType::CommonName, "ftpkit downstream test CA");
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_key = KeyPair::generate()?;
        let ca_cert = ca.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca, ca_key);

        let mut leaf =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
        leaf.distinguished_name
            .push(DnType::CommonName, "localhost");
        leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        leaf.use_authority_key_identifier_extension = true;
        let leaf_key = KeyPair::generate()?;
        let leaf_cert = leaf.signed_by(&leaf_key, &issuer)?;
        Ok(Self {
            ca_pem: ca_cert.pem(),
            chain_pem: format!("{}{}", leaf_cert.pem(), ca_cert.pem()),
            key_pem: leaf_key.serialize_pem(),
        })
    }

    /// Writes `ca.pem`, `server.pem` (chain) and `server.key` into `dir`;
    /// returns their paths in that order.
    pub fn write(&self, dir: &Path) -> Result<(PathBuf, PathBuf, PathBuf), BoxError> {
        let ca = dir.join("ca.pem");
        let cert = dir.join("server.pem");
        let key = dir.join("server.key");
        std::fs::write(&ca, &self.ca_pem)?;
        std::fs::write(&cert, &self.chain_pem)?;
        std::fs::write(&key, &self.key_pem)?;
        Ok((ca, cert, key))
    }
}

/// A temporary directory, removed when dropped.
pub struct WorkDir(PathBuf);

impl WorkDir {
    pub fn create(label: &str) -> Result<Self, BoxError> {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = std::env::temp_dir().join(format!(
            "ftpkit-downstream-{label}-{}-{nanos:08x}",
            std::process::id()
        ));
        std::fs::create_dir(&path)?;
        Ok(Self(path))
    }

    pub fn subdir(&self, name: &str) -> Result<PathBuf, BoxError> {
        let p = self.0.join(name);
        std::fs::create_dir(&p)?;
        Ok(p)
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
