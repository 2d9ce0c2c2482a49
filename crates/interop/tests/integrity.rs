//! Issue #12 on real servers: a mirror of a tree holding `fN.bin` and
//! `fN.bin.part` side by side arrives byte for byte, at parallel 1 and 4.
//! Run with `just interop`; without the servers every test fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use ftpkit::ops::{mirror_down, MirrorOptions, PARTIAL_DIR};
use ftpkit_interop::data::{hex, sha256, Pattern};
use ftpkit_interop::{report, Env, Mode};

fn tree(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(root).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        out.insert(name, hex(&sha256(&std::fs::read(e.path()).unwrap())));
    }
    out
}

/// Writes `fN.bin` and `fN.bin.part` (different contents) into a new
/// directory of the server's root, readable by the FTP user.
fn pairs_on_disk(root: &Path, dir: &str, n: u64) -> std::path::PathBuf {
    let d = root.join(dir);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
    for i in 0..n {
        for (suffix, seed) in [("", i), (".part", 1000 + i)] {
            let p = d.join(format!("f{i}.bin{suffix}"));
            std::fs::write(&p, Pattern::bytes(seed, 2000 + (seed as usize % 97))).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
    d
}

async fn mirror_pairs(name: &str) {
    let server = Env::load().server(name);
    let dir = ftpkit_interop::unique_dir("integrity");
    let remote = pairs_on_disk(&server.root, &dir, 20);
    let want = tree(&remote);
    for parallelism in [1, 4] {
        let mut c = server.connect(Mode::Passive).await;
        let local = tempfile::tempdir().unwrap();
        let opts = MirrorOptions {
            parallelism,
            ..MirrorOptions::default()
        };
        let r = mirror_down(&mut c, &dir, local.path(), &opts)
            .await
            .unwrap();
        report(&format!(
            "{name} mirror of 20 fN.bin + fN.bin.part pairs, parallel {parallelism}: {} files, {} errors",
            r.files_transferred,
            r.errors.len()
        ));
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        assert_eq!(r.files_transferred, 40);
        assert!(!local.path().join(PARTIAL_DIR).exists());
        assert_eq!(tree(local.path()), want, "{name} parallel {parallelism}");
    }
}

ftpkit_interop::server_cases! {
    #[tokio::test]
    async mirror_pairs:
    pyftpdlib_mirror_keeps_part_files_apart => "PYFTPDLIB";
    vsftpd_tls_mirror_keeps_part_files_apart => "VSFTPD_TLS";
    proftpd_mirror_keeps_part_files_apart => "PROFTPD";
}

/// `FileOptions::atomic`: the file arrives under its name, checked, and no
/// temporary name is left in the directory.
async fn atomic_upload(name: &str) {
    use ftpkit::ops::{upload_file, FileOptions};
    let server = Env::load().server(name);
    let mut c = server.connect(Mode::Passive).await;
    let dir = ftpkit_interop::unique_dir("atomic");
    c.mkdir(dir.as_str()).await.unwrap();
    let local = tempfile::tempdir().unwrap();
    let path = local.path().join("a.bin");
    let data = Pattern::bytes(3, 300_000);
    std::fs::write(&path, &data).unwrap();
    let opts = FileOptions::new().atomic(true);
    let r = upload_file(&mut c, &path, format!("{dir}/a.bin"), &opts)
        .await
        .unwrap();
    assert!(r.size_verified);
    let names: Vec<String> = c
        .nlst(Some(dir.as_str()))
        .await
        .unwrap()
        .iter()
        .map(|n| {
            n.to_string_lossy()
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_owned()
        })
        // Pure-FTPd lists the directory's own entries too.
        .filter(|n| n != "." && n != "..")
        .collect();
    assert_eq!(names, ["a.bin"], "{name}");
    assert_eq!(
        std::fs::read(server.root.join(&dir).join("a.bin")).unwrap(),
        data
    );
}

#[tokio::test]
async fn atomic_uploads_leave_only_the_file() {
    for name in ["VSFTPD", "PROFTPD_TLS", "PUREFTPD", "PYFTPDLIB"] {
        atomic_upload(name).await;
    }
}
