//! Reply decoding: every split, limits, odd servers, round trips.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use bytes::Bytes;
use ftpkit_control::reply::{
    decode_reply, DecodeError, Decoded, DecoderLimits, Reply, ReplyClass, ReplyCode, ReplyDecoder,
};
use proptest::prelude::*;

fn decode_all(input: &[u8]) -> Result<Vec<Reply>, DecodeError> {
    let mut d = ReplyDecoder::default();
    d.push(input);
    let mut out = Vec::new();
    while let Some(r) = d.decode()? {
        out.push(r);
    }
    Ok(out)
}

/// Decodes `pieces` pushed one after the other, taking the replies out
/// after each.
fn decode_pieces<'a>(pieces: impl IntoIterator<Item = &'a [u8]>) -> Vec<Reply> {
    let mut d = ReplyDecoder::default();
    let mut got = Vec::new();
    for piece in pieces {
        d.push(piece);
        while let Some(r) = d.decode().unwrap() {
            got.push(r);
        }
    }
    got
}

/// Feeds `input` in two pieces at every split point and in single bytes,
/// and checks the replies are the same as when fed at once.
fn check_splits(input: &[u8]) -> Vec<Reply> {
    let whole = decode_all(input).unwrap();
    for split in 0..=input.len() {
        let got = decode_pieces([&input[..split], &input[split..]]);
        assert_eq!(got, whole, "split at {split}");
    }
    let got = decode_pieces(input.chunks(1));
    assert_eq!(got, whole, "byte by byte");
    whole
}

#[test]
fn single_line() {
    let r = check_splits(b"220 (vsFTPd 3.0.3)\r\n");
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].code(), ReplyCode::SERVICE_READY);
    assert_eq!(r[0].first_line(), b"(vsFTPd 3.0.3)");
    assert_eq!(r[0].code().class(), ReplyClass::PositiveCompletion);
}

#[test]
fn multi_line_replies() {
    // (the reply, its lines)
    let cases: [(&[u8], &[&[u8]]); 2] = [
        // vsftpd's FEAT.
        (
            b"211-Features:\r\n EPRT\r\n EPSV\r\n MDTM\r\n PASV\r\n REST STREAM\r\n SIZE\r\n TVFS\r\n211 End\r\n",
            &[
                b"Features:",
                b" EPRT",
                b" EPSV",
                b" MDTM",
                b" PASV",
                b" REST STREAM",
                b" SIZE",
                b" TVFS",
                b"End",
            ],
        ),
        // A continuation line that starts with another code and a space is
        // text; the `220-` prefix of a continuation line is removed.
        // ProFTPD's welcome.
        (
            b"220-Welcome\r\n230 is not the end\r\n220-still going\r\n220 done\r\n",
            &[b"Welcome", b"230 is not the end", b"still going", b"done"],
        ),
    ];
    for (raw, lines) in cases {
        let r = check_splits(raw);
        let case = String::from_utf8_lossy(raw);
        assert_eq!(r.len(), 1, "{case}");
        assert_eq!(r[0].lines(), lines, "{case}");
    }
}

#[test]
fn lf_only_endings_and_several_replies_in_one_packet() {
    let raw = b"150 Opening\n226 Done\n211-a\n x\n211 end\n";
    let r = check_splits(raw);
    let codes: Vec<u16> = r.iter().map(|r| r.code().as_u16()).collect();
    assert_eq!(codes, [150, 226, 211]);
}

#[test]
fn bare_code_line() {
    let r = check_splits(b"200\r\n");
    assert_eq!(r[0].first_line(), b"");
}

#[test]
fn non_utf8_text_is_kept() {
    let r = check_splits(b"550 caf\xe9.txt: No such file\r\n");
    assert_eq!(r[0].first_line(), b"caf\xe9.txt: No such file");
    assert!(r[0].text().contains('\u{fffd}'));
}

#[test]
fn incomplete_then_complete() {
    assert_eq!(
        decode_reply(b"211-a\r\n b\r\n", DecoderLimits::default()),
        Decoded::Incomplete
    );
    assert_eq!(
        decode_reply(b"22", DecoderLimits::default()),
        Decoded::Incomplete
    );
    match decode_reply(b"200 ok\r\nrest", DecoderLimits::default()) {
        Decoded::Complete { reply, rest } => {
            assert_eq!(reply.code(), ReplyCode::OK);
            assert_eq!(rest, b"rest");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn malformed_first_lines_fail() {
    for bad in [
        &b"hello\r\n"[..],
        b"99 x\r\n",
        b"600 x\r\n",
        b"2x0 x\r\n",
        b"220x\r\n",
        b"\r\n",
    ] {
        assert!(
            matches!(decode_all(bad), Err(DecodeError::Malformed(_))),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn nul_byte_fails() {
    assert_eq!(decode_all(b"220 a\0b\r\n"), Err(DecodeError::NulByte));
    assert_eq!(
        decode_all(b"211-a\r\n \0\r\n211 e\r\n"),
        Err(DecodeError::NulByte)
    );
}

#[test]
fn long_line_fails_without_waiting_for_its_end() {
    let limits = DecoderLimits::default();
    let mut d = ReplyDecoder::new(limits);
    let mut line = b"220 ".to_vec();
    line.resize(17 * 1024, b'a');
    // No newline yet: still fails once more than the limit is buffered.
    d.push(&line);
    assert_eq!(
        d.decode(),
        Err(DecodeError::LineTooLong {
            limit: limits.max_line_len
        })
    );
    // And stays failed.
    d.push(b"\r\n200 ok\r\n");
    assert!(d.decode().is_err());
}

#[test]
fn line_at_the_limit_is_accepted() {
    let limits = DecoderLimits {
        max_line_len: 64,
        max_lines: 4,
    };
    let mut line = b"220 ".to_vec();
    line.resize(64, b'a');
    line.extend_from_slice(b"\r\n");
    let mut d = ReplyDecoder::new(limits);
    d.push(&line);
    assert!(d.decode().unwrap().is_some());
    let mut too_long = b"220 ".to_vec();
    too_long.resize(65, b'a');
    too_long.extend_from_slice(b"\r\n");
    let mut d = ReplyDecoder::new(limits);
    d.push(&too_long);
    assert!(d.decode().is_err());
}

#[test]
fn too_many_lines_fails() {
    let mut raw = b"211-start\r\n".to_vec();
    for _ in 0..10_000 {
        raw.extend_from_slice(b" line\r\n");
    }
    raw.extend_from_slice(b"211 end\r\n");
    assert_eq!(
        decode_all(&raw),
        Err(DecodeError::TooManyLines {
            limit: DecoderLimits::default().max_lines
        })
    );
}

#[test]
fn reply_code_ranges() {
    assert!(ReplyCode::new(199).is_some());
    assert!(ReplyCode::new(99).is_none());
    assert!(ReplyCode::new(600).is_none());
    assert!(ReplyCode::new(260).is_some());
    assert!(ReplyCode::new(425).unwrap().is_transient());
    assert!(ReplyCode::new(550).unwrap().is_negative());
    assert!(ReplyCode::new(150).unwrap().is_preliminary());
    assert!(ReplyCode::new(331).unwrap().is_intermediate());
}

fn wire(reply: &Reply) -> Vec<u8> {
    let code = reply.code().as_u16();
    let mut out = Vec::new();
    let n = reply.lines().len();
    for (i, l) in reply.lines().iter().enumerate() {
        if i == 0 && n > 1 {
            out.extend_from_slice(format!("{code}-").as_bytes());
        } else if i == n - 1 {
            out.extend_from_slice(format!("{code} ").as_bytes());
        }
        out.extend_from_slice(l);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn arb_reply() -> impl Strategy<Value = Reply> {
    let text = proptest::collection::vec(
        any::<u8>().prop_filter("no EOL/NUL", |b| !matches!(b, b'\r' | b'\n' | 0)),
        0..40,
    );
    (100u16..600, proptest::collection::vec(text, 1..6)).prop_filter_map(
        "valid code",
        |(c, lines)| {
            let code = ReplyCode::new(c)?;
            let n = lines.len();
            let lines = lines
                .into_iter()
                .enumerate()
                .map(|(i, mut l)| {
                    // Middle lines are sent with a leading space, so they keep it.
                    if i > 0 && i < n - 1 {
                        l.insert(0, b' ');
                    }
                    Bytes::from(l)
                })
                .collect();
            Some(Reply::new(code, lines))
        },
    )
}

proptest! {
    #[test]
    fn encode_decode_round_trip(replies in proptest::collection::vec(arb_reply(), 1..4), split in 0usize..400) {
        let mut input = Vec::new();
        for r in &replies {
            input.extend_from_slice(&wire(r));
        }
        let split = split.min(input.len());
        let got = decode_pieces([&input[..split], &input[split..]]);
        prop_assert_eq!(got, replies);
    }

    #[test]
    fn arbitrary_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_all(&input);
        let _ = decode_reply(&input, DecoderLimits { max_line_len: 16, max_lines: 3 });
    }
}
