//! `Client::mkdir_all`, `set_modified`, `stat`, `help` and
//! `refresh_features`, and the builder, against the real servers of
//! `interop/` (vsftpd, ProFTPD). Moved here from the client crate's tests,
//! which skipped them without servers; here they fail without them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use ftpkit::{Client, ErrorKind};
use ftpkit_interop::{server, unique_dir, Mode};
use tokio::io::AsyncWriteExt;

/// A connected client to the instance `name`.
async fn connect(name: &str) -> Client {
    server(name).connect(Mode::Passive).await
}

async fn put(client: &mut Client, path: &str, body: &[u8]) {
    let mut up = client.stor(path).await.unwrap();
    up.write_all(body).await.unwrap();
    up.shutdown().await.unwrap();
}

async fn run(name: &str) {
    let mut c = connect(name).await;
    let root = format!("/{}", unique_dir("lib-cmd"));
    let home = c.pwd().await.unwrap();

    // mkdir_all: every component, then again (all exist), then partly.
    let deep = format!("{root}/a/b/c");
    c.mkdir_all(deep.as_str()).await.unwrap();
    c.mkdir_all(deep.as_str()).await.unwrap();
    c.mkdir_all(format!("{root}/a/b/d/e")).await.unwrap();
    c.mkdir_all(format!("{root}//a/./b/c/")).await.unwrap();
    assert_eq!(
        c.pwd().await.unwrap(),
        home,
        "{name}: working directory moved"
    );
    c.cwd(deep.as_str()).await.unwrap();
    // Relative, from inside.
    c.mkdir_all("x/y").await.unwrap();
    c.cwd("x/y").await.unwrap();
    c.cwd(home.as_str()).await.unwrap();

    // A file in the way is an error, not "exists".
    let file = format!("{root}/file.txt");
    put(&mut c, &file, b"hello\n").await;
    let err = c.mkdir_all(format!("{file}/sub")).await.unwrap_err();
    assert_ne!(err.kind(), ErrorKind::Io, "{name}: {err}");
    assert!(c.size(file.as_str()).await.is_ok());
    assert_eq!(c.pwd().await.unwrap(), home);

    // MFMT.
    let when = time::PrimitiveDateTime::new(
        time::Date::from_calendar_date(2001, time::Month::February, 3).unwrap(),
        time::Time::from_hms(4, 5, 6).unwrap(),
    );
    match c.set_modified(file.as_str(), when).await {
        Ok(()) => {
            let m = c.modified(file.as_str()).await.unwrap();
            assert_eq!(m.at, when, "{name}");
            eprintln!("{name}: MFMT ok");
        }
        Err(e) if e.kind() == ErrorKind::Unsupported => {
            assert!(!c.features().supports("MFMT"));
            eprintln!("{name}: MFMT not announced: {e}");
        }
        Err(e) => panic!("{name}: MFMT: {e}"),
    }

    // STAT and HELP.
    let r = c.stat(None).await.unwrap();
    assert!(r.code().is_completion(), "{name}: {r:?}");
    let r = c.stat(Some(&root)).await.unwrap();
    assert!(r.code().is_completion(), "{name}: {r:?}");
    assert!(r.text().contains("file.txt"), "{name}: {}", r.text());
    let r = c.help(None).await.unwrap();
    assert!(r.code().is_completion(), "{name}: {r:?}");
    match c.help(Some("MKD")).await {
        Ok(r) => assert!(r.code().is_completion()),
        // Some servers have no per-command help: a reply error is fine.
        Err(e) => assert_eq!(e.kind(), ErrorKind::ServerReply, "{name}: {e}"),
    }

    // FEAT again.
    let f = c.refresh_features().await.unwrap();
    assert_eq!(&f, c.features(), "{name}");

    // Clean up, and the session still works.
    c.delete(file.as_str()).await.unwrap();
    for d in [
        format!("{root}/a/b/c/x/y"),
        format!("{root}/a/b/c/x"),
        format!("{root}/a/b/c"),
        format!("{root}/a/b/d/e"),
        format!("{root}/a/b/d"),
        format!("{root}/a/b"),
        format!("{root}/a"),
        root.clone(),
    ] {
        c.rmdir(d.as_str()).await.unwrap();
    }
    c.noop().await.unwrap();
    c.quit().await.unwrap();
}

ftpkit_interop::server_cases! {
    #[tokio::test]
    async run:
    commands_vsftpd => "VSFTPD";
    commands_proftpd => "PROFTPD";
    commands_proftpd_tls => "PROFTPD_TLS";
}
