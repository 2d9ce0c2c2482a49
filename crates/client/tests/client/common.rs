//! Helpers the client tests share.

use std::path::PathBuf;
use std::time::Duration;

use ftpkit::tls::SystemRoots;
use ftpkit::{Config, Credentials, Security, Timeouts};
use ftpkit_testkit::{Script, ScriptedServer, TestPki};

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
