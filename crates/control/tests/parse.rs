//! Reply payload parsers, with samples as real servers send them.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fmt::Debug;
use std::net::{Ipv4Addr, SocketAddrV4};

use ftpkit_control::command::HashAlgorithm;
use ftpkit_control::parse::{
    parse_eprt_argument, parse_epsv, parse_mdtm, parse_pasv, parse_port_argument, parse_pwd,
    parse_size, FeatureSet, ParseError,
};
use ftpkit_control::reply::{decode_reply, Decoded, DecoderLimits, Reply};
use proptest::prelude::*;

fn reply(raw: &[u8]) -> Reply {
    match decode_reply(raw, DecoderLimits::default()) {
        Decoded::Complete { reply, rest } => {
            assert!(rest.is_empty());
            reply
        }
        other => panic!("{other:?}"),
    }
}

/// Asserts that `parse` refuses each of the replies `raws`.
fn assert_refuses<T: Debug>(parse: fn(&Reply) -> Result<T, ParseError>, raws: &[&[u8]]) {
    for raw in raws {
        let got = parse(&reply(raw));
        assert!(got.is_err(), "{}: {got:?}", String::from_utf8_lossy(raw));
    }
}

fn v4(a: [u8; 4], port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::from(a), port)
}

#[test]
fn pasv_real_server_wordings() {
    let cases: &[(&[u8], SocketAddrV4)] = &[
        // vsFTPd 3.0.3
        (
            b"227 Entering Passive Mode (127,0,0,1,156,72).\r\n",
            v4([127, 0, 0, 1], 40008),
        ),
        // ProFTPD
        (
            b"227 Entering Passive Mode (127,0,0,1,117,49).\r\n",
            v4([127, 0, 0, 1], 30001),
        ),
        // Pure-FTPd
        (
            b"227 Entering Passive Mode (127,0,0,1,195,81)\r\n",
            v4([127, 0, 0, 1], 50001),
        ),
        // pyftpdlib
        (
            b"227 Entering passive mode (127,0,0,1,234,96).\r\n",
            v4([127, 0, 0, 1], 60000),
        ),
        // IIS: no parentheses
        (
            b"227 Entering Passive Mode 10,0,0,5,19,137\r\n",
            v4([10, 0, 0, 5], 5001),
        ),
        // Some embedded servers: `=` and no text
        (b"227 =192,168,1,2,4,1\r\n", v4([192, 168, 1, 2], 1025)),
        // Spaces after commas
        (
            b"227 Entering Passive Mode (192, 168, 1, 2, 4, 1)\r\n",
            v4([192, 168, 1, 2], 1025),
        ),
        // Numbers in the surrounding text are skipped
        (
            b"227 Mode 2 ready: (1,2,3,4,0,21) ok 99\r\n",
            v4([1, 2, 3, 4], 21),
        ),
    ];
    for (raw, want) in cases {
        assert_eq!(
            parse_pasv(&reply(raw)).unwrap(),
            *want,
            "{}",
            String::from_utf8_lossy(raw)
        );
    }
}

#[test]
fn pasv_rejects_out_of_range_and_garbage() {
    for (raw, err) in [
        (
            &b"227 Entering Passive Mode (256,0,0,1,4,1)\r\n"[..],
            ParseError::OutOfRange("PASV number"),
        ),
        (
            b"227 Entering Passive Mode (127,0,0,1,4,300)\r\n",
            ParseError::OutOfRange("PASV number"),
        ),
        (
            b"227 Entering Passive Mode (127,0,0,1,0,0)\r\n",
            ParseError::OutOfRange("PASV port"),
        ),
        (
            b"227 Entering Passive Mode (127,0,0,1,4)\r\n",
            ParseError::Missing("six comma-separated numbers"),
        ),
        (
            b"227 Entering Passive Mode\r\n",
            ParseError::Missing("six comma-separated numbers"),
        ),
        (
            b"227 (1111,0,0,1,4,1)\r\n",
            ParseError::Missing("six comma-separated numbers"),
        ),
    ] {
        assert_eq!(
            parse_pasv(&reply(raw)).unwrap_err(),
            err,
            "{}",
            String::from_utf8_lossy(raw)
        );
    }
    assert_eq!(
        parse_pasv(&reply(b"200 ok\r\n")),
        Err(ParseError::UnexpectedCode(200))
    );
}

#[test]
fn epsv_forms() {
    let ok: &[(&[u8], u16)] = &[
        (b"229 Entering Extended Passive Mode (|||40008|)\r\n", 40008),
        (b"229 Extended Passive Mode Entered (|||50001|)\r\n", 50001),
        (
            b"229 Entering extended passive mode (|||60000|).\r\n",
            60000,
        ),
        (b"229 Entering Extended Passive Mode (!!!1025!)\r\n", 1025),
        (
            b"229 Entering Extended Passive Mode (|2|::1|2121|)\r\n",
            2121,
        ),
    ];
    for (raw, port) in ok {
        assert_eq!(parse_epsv(&reply(raw)).unwrap(), *port);
    }
    assert_refuses(
        parse_epsv,
        &[
            b"229 Entering Extended Passive Mode (|||65536|)\r\n",
            b"229 Entering Extended Passive Mode (|||0|)\r\n",
            b"229 Entering Extended Passive Mode (|||-1|)\r\n",
            b"229 Entering Extended Passive Mode (|||99999999999|)\r\n",
            b"229 Entering Extended Passive Mode (||40008|)\r\n",
            b"229 Entering Extended Passive Mode |||40008|\r\n",
            b"229 Entering Extended Passive Mode (|||abc|)\r\n",
            b"229 (1115)\r\n",
            b"229 ()\r\n",
        ],
    );
}

#[test]
fn port_and_eprt_arguments() {
    assert_eq!(
        parse_port_argument(b"127,0,0,1,195,80").unwrap(),
        v4([127, 0, 0, 1], 50000)
    );
    assert!(parse_port_argument(b"127,0,0,1,195").is_err());
    assert!(parse_port_argument(b"127,0,0,1,195,80,1").is_err());
    assert!(parse_port_argument(b"x127,0,0,1,195,80").is_err());
    assert_eq!(
        parse_eprt_argument(b"|1|132.235.1.2|6275|")
            .unwrap()
            .to_string(),
        "132.235.1.2:6275"
    );
    assert_eq!(
        parse_eprt_argument(b"|2|1080::8:800:200C:417A|5282|")
            .unwrap()
            .to_string(),
        "[1080::8:800:200c:417a]:5282"
    );
    for bad in [
        &b"|3|1.2.3.4|5|"[..],
        b"|1|::1|5|",
        b"|2|1.2.3.4|5|",
        b"|1|1.2.3.4|0|",
        b"|1|1.2.3.4|70000|",
        b"1|1.2.3.4|5|",
        b"",
    ] {
        assert!(parse_eprt_argument(bad).is_err());
    }
}

#[test]
fn pwd_forms() {
    assert_eq!(
        parse_pwd(&reply(b"257 \"/home/alice\" is the current directory\r\n")).unwrap(),
        b"/home/alice"
    );
    assert_eq!(parse_pwd(&reply(b"257 \"/\"\r\n")).unwrap(), b"/");
    // Doubled quotes (RFC 959 Appendix II).
    assert_eq!(
        parse_pwd(&reply(b"257 \"/say \"\"hi\"\"\" created\r\n")).unwrap(),
        b"/say \"hi\""
    );
    assert_eq!(
        parse_pwd(&reply(b"257 \"/caf\xe9\"\r\n")).unwrap(),
        b"/caf\xe9"
    );
    // Old servers without quotes.
    assert_eq!(
        parse_pwd(&reply(b"257 /home is the current directory\r\n")).unwrap(),
        b"/home"
    );
    assert_eq!(
        parse_pwd(&reply(b"257 \"/unterminated\r\n")),
        Err(ParseError::Malformed("unterminated quoted path"))
    );
    assert_eq!(
        parse_pwd(&reply(b"257 \"/a\x01b\"\r\n")),
        Err(ParseError::ControlByte)
    );
    assert_eq!(
        parse_pwd(&reply(b"257 \"/a\tb\"\r\n")),
        Err(ParseError::ControlByte)
    );
    assert!(parse_pwd(&reply(b"257 no path here\r\n")).is_err());
    assert!(parse_pwd(&reply(b"550 nope\r\n")).is_err());
}

#[test]
fn size_and_mdtm() {
    assert_eq!(parse_size(&reply(b"213 1073741824\r\n")).unwrap(), 1 << 30);
    assert_eq!(
        parse_size(&reply(b"213 18446744073709551615\r\n")).unwrap(),
        u64::MAX
    );
    assert!(parse_size(&reply(b"213 18446744073709551616\r\n")).is_err());
    assert!(parse_size(&reply(b"213 12a\r\n")).is_err());
    assert!(parse_size(&reply(b"213 \r\n")).is_err());
    assert!(parse_size(&reply(b"550 Could not get file size.\r\n")).is_err());

    let m = parse_mdtm(&reply(b"213 20240229235958\r\n")).unwrap();
    assert_eq!(m.at, time::macros::datetime!(2024-02-29 23:59:58));
    let m = parse_mdtm(&reply(b"213 20240229235958.123\r\n")).unwrap();
    assert_eq!(m.at.millisecond(), 123);
    assert_refuses(
        parse_mdtm,
        &[
            b"213 20230229000000\r\n",
            b"213 2024130100000\r\n",
            b"213 20241301000000\r\n",
            b"213 20240101250000\r\n",
            b"213 2024010100000x\r\n",
        ],
    );
}

#[test]
fn feat_from_real_servers() {
    // vsftpd 3.0.3 with TLS
    let vs = FeatureSet::parse(&reply(
        b"211-Features:\r\n AUTH TLS\r\n EPRT\r\n EPSV\r\n MDTM\r\n PASV\r\n PBSZ\r\n PROT\r\n REST STREAM\r\n SIZE\r\n TVFS\r\n UTF8\r\n211 End\r\n",
    ));
    assert!(vs.supports_auth_tls() && vs.supports_rest_stream() && vs.supports_utf8());
    assert!(!vs.supports_mlsx());
    assert_eq!(vs.len(), 11);

    // ProFTPD 1.3.8
    let pro = FeatureSet::parse(&reply(
        b"211-Features:\r\n LANG en-US*\r\n MDTM\r\n MFMT\r\n TVFS\r\n UTF8\r\n MFF modify;UNIX.group;UNIX.mode;\r\n MLST modify*;perm*;size*;type*;unique*;UNIX.group*;UNIX.groupname*;UNIX.mode*;UNIX.owner*;UNIX.ownername*;\r\n AUTH TLS\r\n PBSZ\r\n PROT\r\n CCC\r\n REST STREAM\r\n SIZE\r\n HOST\r\n211 End\r\n",
    ));
    assert!(
        pro.supports_mlsx() && pro.supports("mfmt") && pro.supports("HOST") && pro.supports("CCC")
    );
    let facts = pro.mlst_facts();
    assert!(facts.contains(&("unix.mode".to_owned(), true)));
    assert_eq!(facts.len(), 10);

    // Pure-FTPd: prefixes every line with `211-`? No: it indents. Also an
    // unusual lower-case feature.
    let pure = FeatureSet::parse(&reply(
        b"211-Extensions supported:\r\n EPRT\r\n IDLE\r\n MDTM\r\n SIZE\r\n MFMT\r\n REST STREAM\r\n MLST type*;size*;sizd*;modify*;UNIX.mode*;UNIX.uid*;UNIX.gid*;unique*;\r\n MLSD\r\n AUTH TLS\r\n PBSZ\r\n PROT\r\n UTF8\r\n TVFS\r\n ESTA\r\n PASV\r\n EPSV\r\n SPSV\r\n ESTP\r\n211 End.\r\n",
    ));
    assert!(pure.supports("MLSD") && pure.supports("spsv"));

    // FileZilla Server with hashes; some servers repeat `211-` on every line.
    let fz = FeatureSet::parse(&reply(
        b"211-Features:\r\n211-MDTM\r\n211-REST STREAM\r\n211-SIZE\r\n211-HASH SHA-1;SHA-256*;MD5;CRC32\r\n211-XCRC\r\n211-XMD5\r\n211-XSHA1\r\n211 End\r\n",
    ));
    assert!(fz.supports_rest_stream());
    assert_eq!(fz.hash_algorithms()[0], HashAlgorithm::Sha256);
    assert_eq!(fz.hash_algorithms().len(), 4);
    assert_eq!(
        fz.vendor_hashes(),
        vec![
            HashAlgorithm::Sha1,
            HashAlgorithm::Md5,
            HashAlgorithm::Crc32
        ]
    );

    // No features / refused.
    assert!(FeatureSet::parse(&reply(b"211 No features\r\n")).is_empty());
    assert!(FeatureSet::parse(&reply(b"500 FEAT not understood\r\n")).is_empty());
}

proptest! {
    #[test]
    fn parsers_never_panic(text in proptest::collection::vec(any::<u8>().prop_filter("line", |b| !matches!(b, b'\r' | b'\n' | 0)), 0..80)) {
        for code in [b"227 ", b"229 ", b"257 ", b"213 ", b"211 "] {
            let mut raw = code.to_vec();
            raw.extend_from_slice(&text);
            raw.extend_from_slice(b"\r\n");
            let r = reply(&raw);
            let _ = parse_pasv(&r);
            let _ = parse_epsv(&r);
            let _ = parse_pwd(&r);
            let _ = parse_size(&r);
            let _ = parse_mdtm(&r);
            let _ = FeatureSet::parse(&r);
        }
        let _ = parse_port_argument(&text);
        let _ = parse_eprt_argument(&text);
    }
}
