//! Helpers the client tests share.

use std::path::PathBuf;
use std::time::Duration;

use ftpkit::tls::SystemRoots;
use ftpkit::{Client, Config, Credentials, Security, Timeouts};
use ftpkit_testkit::{Script, ScriptedServer, TestPki, Transcript};
use tokio::io::AsyncReadExt;

/// The user the scripts expect.
pub(crate) const USER: &str = "alice";
/// Its password.
pub(crate) const PASSWORD: &str = "s3cret";

/// A configuration for `server` (as `localhost`, logging in as
/// [`USER`]), every deadline `deadline`, trusting no system root.
pub(crate) fn config(server: &ScriptedServer, security: Security, deadline: Duration) -> Config {
    let mut c = Config::new("localhost");
    c.port = server.port();
    c.security = security;
    c.credentials = Some(Credentials::new(USER, PASSWORD));
    c.timeouts = Timeouts::all(deadline);
    c.tls.system_roots = SystemRoots::Exclude;
    c
}

/// [`config`] with explicit TLS, trusting `pki`'s CA.
pub(crate) fn explicit(server: &ScriptedServer, pki: &TestPki, deadline: Duration) -> Config {
    let mut c = config(server, Security::Explicit, deadline);
    c.tls.ca_certificates = vec![pki.ca_cert_der()];
    c
}

/// The plain login of [`USER`], with `feat` as the FEAT reply's lines.
pub(crate) fn logged_in(feat: &str) -> Script {
    Script::logged_in(USER, PASSWORD, Script::feat_reply(feat))
}

/// The explicit-TLS login of [`USER`], with no features.
pub(crate) fn tls_login() -> Script {
    Script::logged_in_tls(USER, PASSWORD, "211 none\r\n")
}

/// A new, empty directory under the system's temporary directory.
pub(crate) fn temp_dir(tag: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let d = std::env::temp_dir().join(format!("ftpkit-test-{tag}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The passive transfers the scripts repeat, as steps of a [`Script`].
pub(crate) trait ScriptExt {
    /// `EPSV`, answered with the port of a new passive listener.
    fn epsv(self) -> Self;
    /// `line` after [`epsv`](Self::epsv), answered `150`, then `data` on the
    /// data connection, closed, and `226`.
    fn epsv_send(self, line: impl AsRef<[u8]>, data: impl AsRef<[u8]>) -> Self;
    /// `line` after [`epsv`](Self::epsv), answered `150`, then the data
    /// connection read to its end, and `226`.
    fn epsv_receive(self, line: impl AsRef<[u8]>) -> Self;
}

impl ScriptExt for Script {
    fn epsv(self) -> Self {
        self.expect("EPSV").passive_listen().reply_epsv()
    }

    fn epsv_send(self, line: impl AsRef<[u8]>, data: impl AsRef<[u8]>) -> Self {
        self.epsv()
            .expect_line(line)
            .reply("150 go\r\n")
            .data_accept()
            .data_send(data)
            .data_close()
            .reply("226 done\r\n")
    }

    fn epsv_receive(self, line: impl AsRef<[u8]>) -> Self {
        self.epsv()
            .expect_line(line)
            .reply("150 go\r\n")
            .data_accept()
            .data_recv_to_end()
            .reply("226 stored\r\n")
    }
}

/// Starts a server playing `script` and connects a client to it with the
/// configuration `config` makes for that server.
pub(crate) async fn start(
    script: Script,
    config: impl FnOnce(&ScriptedServer) -> Config,
) -> (ScriptedServer, Client) {
    let server = ScriptedServer::start(script).await;
    let client = Client::connect(config(&server)).await.unwrap();
    (server, client)
}

/// Drops `client` (a [`Client`] or anything holding one), waits for
/// `server` to end and checks that its script ran as written; returns what
/// it saw.
pub(crate) async fn finish<C>(server: ScriptedServer, client: C) -> Transcript {
    drop(client);
    let t = server.finish().await;
    t.assert_ok();
    t
}

/// Reads a download to its end, returning the bytes or the ftpkit error.
pub(crate) async fn read_all(dl: &mut ftpkit::Download<'_>) -> Result<Vec<u8>, ftpkit::Error> {
    let mut v = Vec::new();
    dl.read_to_end(&mut v)
        .await
        .map(|_| v)
        .map_err(ftpkit::Error::from_io_error)
}
