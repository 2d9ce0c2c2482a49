//! Command encoding and argument checks.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use ftpkit_control::command::{
    AuthMechanism, EpsvArg, FileStructure, HashAlgorithm, ProtectionLevel, TransferMode,
    TransferType,
};
use ftpkit_control::parse::{parse_eprt_argument, parse_port_argument};
use ftpkit_control::{Arg, Command, CommandError, Secret};
use proptest::prelude::*;

/// Every variant that takes a text argument, built around `arg`.
fn all_with_arg(arg: &[u8]) -> Vec<Command> {
    let a = || Arg::new(arg.to_vec());
    let t = time::macros::datetime!(2024-01-02 03:04:05);
    vec![
        Command::User(a()),
        Command::Pass(Secret::new(a())),
        Command::Acct(Secret::new(a())),
        Command::Cwd(a()),
        Command::Smnt(a()),
        Command::Retr(a()),
        Command::Stor(a()),
        Command::Appe(a()),
        Command::Rnfr(a()),
        Command::Rnto(a()),
        Command::Dele(a()),
        Command::Rmd(a()),
        Command::Mkd(a()),
        Command::List(Some(a())),
        Command::Nlst(Some(a())),
        Command::Site(a()),
        Command::Stat(Some(a())),
        Command::Help(Some(a())),
        Command::Opts(a(), None),
        Command::Opts("UTF8".into(), Some(a())),
        Command::Size(a()),
        Command::Mdtm(a()),
        Command::Mlsd(Some(a())),
        Command::Mlst(Some(a())),
        Command::Host(a()),
        Command::Mfmt(t, a()),
        Command::Hash(a()),
        Command::XHash(HashAlgorithm::Sha256, a()),
        Command::XHash(HashAlgorithm::Crc32, a()),
        Command::Raw(a()),
    ]
}

#[test]
fn cr_lf_nul_rejected_in_every_argument() {
    for bad in [
        &b"a\rb"[..],
        b"a\nb",
        b"a\0b",
        b"\r\nDELE x",
        b"x\r\n",
        b"\n",
    ] {
        for cmd in all_with_arg(bad) {
            let mut out = Vec::new();
            let err = cmd.encode_into(&mut out).unwrap_err();
            assert!(
                matches!(err, CommandError::ForbiddenByte { .. }),
                "{cmd:?}: {err:?}"
            );
            assert!(out.is_empty(), "{cmd:?} wrote {out:?}");
        }
    }
}

#[test]
fn valid_arguments_encode_with_single_crlf() {
    for cmd in all_with_arg(b"some dir/file name.txt") {
        let out = cmd.to_bytes().unwrap();
        assert!(out.ends_with(b"\r\n"));
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1, "{cmd:?}");
    }
}

#[test]
fn non_utf8_names_pass_through() {
    let out = Command::Retr(Arg::new(b"caf\xe9.txt".to_vec()))
        .to_bytes()
        .unwrap();
    assert_eq!(out, b"RETR caf\xe9.txt\r\n");
}

#[test]
fn empty_required_argument_rejected() {
    assert_eq!(
        Command::Retr(Arg::default()).to_bytes().unwrap_err(),
        CommandError::EmptyArgument { verb: "RETR" }
    );
    // An empty password is allowed.
    assert_eq!(
        Command::Pass(Secret::new(Arg::default()))
            .to_bytes()
            .unwrap(),
        b"PASS \r\n"
    );
}

#[test]
fn wire_forms() {
    let cases: Vec<(Command, &[u8])> = vec![
        (Command::Type(TransferType::Binary), b"TYPE I\r\n"),
        (Command::Type(TransferType::Ascii), b"TYPE A\r\n"),
        (Command::Type(TransferType::Local(8)), b"TYPE L 8\r\n"),
        (Command::Stru(FileStructure::File), b"STRU F\r\n"),
        (Command::Mode(TransferMode::Stream), b"MODE S\r\n"),
        (Command::Auth(AuthMechanism::Tls), b"AUTH TLS\r\n"),
        (Command::Pbsz(0), b"PBSZ 0\r\n"),
        (Command::Prot(ProtectionLevel::Private), b"PROT P\r\n"),
        (Command::Prot(ProtectionLevel::Clear), b"PROT C\r\n"),
        (Command::Ccc, b"CCC\r\n"),
        (Command::Rest(1 << 40), b"REST 1099511627776\r\n"),
        (Command::Allo(10), b"ALLO 10\r\n"),
        (Command::Epsv(None), b"EPSV\r\n"),
        (Command::Epsv(Some(EpsvArg::All)), b"EPSV ALL\r\n"),
        (Command::Epsv(Some(EpsvArg::Protocol(2))), b"EPSV 2\r\n"),
        (
            Command::Port(SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 1), 50000)),
            b"PORT 127,0,0,1,195,80\r\n",
        ),
        (
            Command::Eprt(SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 6275)),
            b"EPRT |1|127.0.0.1|6275|\r\n",
        ),
        (
            Command::Eprt(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::LOCALHOST,
                6275,
                0,
                0,
            ))),
            b"EPRT |2|::1|6275|\r\n",
        ),
        (
            Command::Mfmt(time::macros::datetime!(2020-02-29 23:59:58), "a b".into()),
            b"MFMT 20200229235958 a b\r\n",
        ),
        (
            Command::Opts("UTF8".into(), Some("ON".into())),
            b"OPTS UTF8 ON\r\n",
        ),
        (Command::List(None), b"LIST\r\n"),
        (Command::Mlsd(Some(Arg::default())), b"MLSD\r\n"),
        (
            Command::XHash(HashAlgorithm::Md5, "f".into()),
            b"XMD5 f\r\n",
        ),
        (
            Command::Raw("SITE CHMOD 644 f".into()),
            b"SITE CHMOD 644 f\r\n",
        ),
        (Command::Noop, b"NOOP\r\n"),
        (Command::Quit, b"QUIT\r\n"),
    ];
    for (cmd, wire) in cases {
        assert_eq!(cmd.to_bytes().unwrap(), wire, "{cmd:?}");
    }
}

#[test]
fn out_of_range_parameters() {
    assert!(Command::Type(TransferType::Local(0)).to_bytes().is_err());
    assert!(Command::Epsv(Some(EpsvArg::Protocol(3)))
        .to_bytes()
        .is_err());
    assert!(Command::Port(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0))
        .to_bytes()
        .is_err());
}

#[test]
fn password_never_in_debug_or_redacted_form() {
    let cmds = [
        Command::Pass(Secret::new("hunter2-secret".into())),
        Command::Acct(Secret::new("hunter2-secret".into())),
    ];
    for c in cmds {
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(!c.redacted().contains("hunter2"));
        assert!(c.redacted().ends_with("****"));
    }
    assert_eq!(Command::User("bob".into()).redacted(), "USER bob");
}

proptest! {
    #[test]
    fn port_round_trip(a: u8, b: u8, c: u8, d: u8, port in 1u16..) {
        let addr = SocketAddrV4::new(Ipv4Addr::new(a, b, c, d), port);
        let wire = Command::Port(addr).to_bytes().unwrap();
        let arg = wire.strip_prefix(b"PORT ").unwrap().strip_suffix(b"\r\n").unwrap();
        prop_assert_eq!(parse_port_argument(arg).unwrap(), addr);
    }

    #[test]
    fn eprt_round_trip(v6: [u8; 16], v4: [u8; 4], port in 1u16.., six: bool) {
        let addr = if six {
            SocketAddr::new(Ipv6Addr::from(v6).into(), port)
        } else {
            SocketAddr::new(Ipv4Addr::from(v4).into(), port)
        };
        let wire = Command::Eprt(addr).to_bytes().unwrap();
        let arg = wire.strip_prefix(b"EPRT ").unwrap().strip_suffix(b"\r\n").unwrap();
        prop_assert_eq!(parse_eprt_argument(arg).unwrap(), addr);
    }

    #[test]
    fn any_argument_either_encodes_cleanly_or_is_refused(arg in proptest::collection::vec(any::<u8>(), 0..64)) {
        for cmd in all_with_arg(&arg) {
            let mut out = Vec::new();
            match cmd.encode_into(&mut out) {
                Ok(()) => {
                    // Exactly one line terminator, at the end.
                    prop_assert!(out.ends_with(b"\r\n"));
                    let body = &out[..out.len() - 2];
                    prop_assert!(!body.iter().any(|b| matches!(b, b'\r' | b'\n' | 0)));
                }
                Err(_) => prop_assert!(out.is_empty()),
            }
        }
    }
}
