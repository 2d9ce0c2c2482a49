//! Issue #13 on real servers, the two added ones (GNU inetutils-ftpd, which
//! runs `/bin/ls` and has no MLSD; Twisted, which has no REST and reads no
//! command after EPSV until the data connection opens) and the four of the
//! main suite: the basic matrix with a folder whose name has a space —
//! mkdir, put, the one listing routine, get, resume, rename, mirror both
//! ways (twice: the second run transfers nothing), delete.
//! Run with `just interop`; without the servers every test fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::BTreeMap;
use std::path::Path;

use ftpkit::ops::{
    download_file, list_stream, mirror_down, mirror_up, part_path, upload_file, FileOptions,
    MirrorOptions, Verify,
};
use ftpkit::{Client, ListLine};
use ftpkit_interop::data::{hex, sha256, Pattern};
use ftpkit_interop::{report, unique_dir, Env, Mode};
use futures::StreamExt;

/// Every file under `root`, relative, with its SHA-256.
fn tree(root: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.insert(rel, hex(&sha256(&std::fs::read(&p).unwrap())));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// The entry names of a listing; fails on an unparsed row.
async fn names(c: &mut Client, path: &str) -> Vec<String> {
    let rows: Vec<ListLine> = list_stream(c, Some(path))
        .map(|r| r.unwrap())
        .collect()
        .await;
    let mut out = Vec::new();
    for r in rows {
        match r {
            ListLine::Entry(e) if e.name.as_bytes() != b"." && e.name.as_bytes() != b".." => {
                out.push(e.name.to_string());
            }
            ListLine::Unparsed(raw) => {
                panic!("unparsed row in {path}: {}", String::from_utf8_lossy(&raw))
            }
            _ => {}
        }
    }
    out.sort();
    out
}

async fn basic_matrix(name: &str) {
    let server = Env::load().server(name);
    let mut c = server.connect(Mode::Passive).await;
    let dir = unique_dir("listings");
    let spaced = format!("{dir}/c d");
    c.mkdir(dir.as_str()).await.unwrap();
    c.mkdir(spaced.as_str()).await.unwrap();
    let local = tempfile::tempdir().unwrap();
    let check = FileOptions::new().verify(Verify::SizeWhenKnown);

    // put
    let a = Pattern::bytes(1, 150_000);
    let top = Pattern::bytes(2, 70_000);
    for (data, file, to) in [(&a, "a.bin", &spaced), (&top, "top.bin", &dir)] {
        let from = local.path().join(file);
        std::fs::write(&from, data).unwrap();
        upload_file(&mut c, &from, format!("{to}/{file}"), &check)
            .await
            .unwrap();
    }

    // The listing of the folder with a space, and of its parent.
    assert_eq!(names(&mut c, &spaced).await, ["a.bin"], "{name}");
    assert_eq!(names(&mut c, &dir).await, ["c d", "top.bin"], "{name}");

    // get, and a resume of a partial download (a server without REST
    // sends the whole file again).
    let out = local.path().join("got.bin");
    let r = download_file(&mut c, format!("{spaced}/a.bin"), &out, &check)
        .await
        .unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), a, "{name} get");
    let sized = r.expected_size.is_some();
    let resumed = local.path().join("resumed.bin");
    let part = part_path(&resumed);
    std::fs::create_dir_all(part.parent().unwrap()).unwrap();
    std::fs::write(&part, &a[..60_000]).unwrap();
    let r = download_file(
        &mut c,
        format!("{spaced}/a.bin"),
        &resumed,
        &check.clone().resume(true),
    )
    .await
    .unwrap();
    assert_eq!(std::fs::read(&resumed).unwrap(), a, "{name} resume");
    let resumed_from = r.resumed_from;

    // rename
    c.rename(format!("{dir}/top.bin"), format!("{dir}/moved.bin"))
        .await
        .unwrap();
    assert_eq!(names(&mut c, &dir).await, ["c d", "moved.bin"], "{name}");

    // mirror down, twice: the second run finds everything unchanged.
    let down = local.path().join("down");
    let opts = MirrorOptions {
        parallelism: 2,
        ..MirrorOptions::default()
    };
    let r1 = mirror_down(&mut c, &dir, &down, &opts).await.unwrap();
    assert!(r1.errors.is_empty(), "{name}: {:?}", r1.errors);
    let want: BTreeMap<String, String> = [
        ("c d/a.bin".to_owned(), hex(&sha256(&a))),
        ("moved.bin".to_owned(), hex(&sha256(&top))),
    ]
    .into_iter()
    .collect();
    assert_eq!(tree(&down), want, "{name} mirror down");
    let r2 = mirror_down(&mut c, &dir, &down, &opts).await.unwrap();
    assert!(r2.errors.is_empty(), "{name}: {:?}", r2.errors);

    // mirror up of a tree with a folder whose name has a space, twice.
    let up = local.path().join("up");
    std::fs::create_dir_all(up.join("x y")).unwrap();
    std::fs::write(up.join("x y/b.bin"), Pattern::bytes(3, 40_000)).unwrap();
    std::fs::write(up.join("c.bin"), Pattern::bytes(4, 1_000)).unwrap();
    let remote_up = format!("{dir}/up");
    let u1 = mirror_up(&mut c, &up, &remote_up, &opts).await.unwrap();
    assert!(u1.errors.is_empty(), "{name}: {:?}", u1.errors);
    assert_eq!(u1.files_transferred, 2, "{name}");
    assert_eq!(names(&mut c, &format!("{remote_up}/x y")).await, ["b.bin"]);
    let u2 = mirror_up(&mut c, &up, &remote_up, &opts).await.unwrap();
    assert!(u2.errors.is_empty(), "{name}: {:?}", u2.errors);
    // Back down: the same bytes.
    let back = local.path().join("back");
    mirror_down(&mut c, &remote_up, &back, &opts).await.unwrap();
    assert_eq!(tree(&back), tree(&up), "{name} mirror up then down");

    report(&format!(
        "{name} basic matrix with a folder 'c d': sizes checked {sized}, resume from {resumed_from}, \
         mirror down {} then {} files, mirror up {} then {} files",
        r1.files_transferred, r2.files_transferred, u1.files_transferred, u2.files_transferred
    ));
    assert_eq!(r2.files_transferred, 0, "{name}: second mirror down");
    assert_eq!(u2.files_transferred, 0, "{name}: second mirror up");

    // delete
    for f in [
        format!("{spaced}/a.bin"),
        format!("{dir}/moved.bin"),
        format!("{remote_up}/x y/b.bin"),
        format!("{remote_up}/c.bin"),
    ] {
        c.delete(f).await.unwrap();
    }
    for d in [format!("{remote_up}/x y"), remote_up, spaced, dir] {
        c.rmdir(d).await.unwrap();
    }
    c.quit().await.unwrap();
}

ftpkit_interop::server_cases! {
    #[tokio::test]
    async basic_matrix:
    inetutils_basic_matrix => "INETUTILS";
    twisted_basic_matrix => "TWISTED";
    pyftpdlib_basic_matrix => "PYFTPDLIB";
    vsftpd_basic_matrix => "VSFTPD";
    proftpd_tls_basic_matrix => "PROFTPD_TLS";
    pureftpd_basic_matrix => "PUREFTPD";
}
