//! Fuzz target bodies, shared by `fuzz/fuzz_targets/*` (cargo-fuzz,
//! nightly) and `tests/fuzz_corpus.rs` (stable `cargo test`, which replays
//! the checked-in seed corpus and every saved regression).
//!
//! Each function takes arbitrary bytes, drives one part of the crate with
//! them and checks invariants with `assert!`. A panic here is a finding:
//! either a crash in the code under test or a broken invariant.
//!
//! Not part of the public API: hidden from the docs and free to change.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs,
    unreachable_pub
)]

use std::net::{SocketAddr, SocketAddrV4};

use bytes::Bytes;

use crate::command::Command;
use crate::listing::{
    parse_dos_line, parse_list_line, parse_mlsx_line, parse_unix_line, Entry, EntryKind,
    LineSplitter, ListLine, ListingError,
};
use crate::parse::{
    parse_eprt_argument, parse_epsv, parse_mdtm, parse_pasv, parse_port_argument, parse_pwd,
    parse_size, FeatureSet,
};
use crate::reply::{decode_reply, DecodeError, Decoded, DecoderLimits, Reply, ReplyDecoder};
use crate::session::{
    Credentials, DataProtection, Event, FeatPolicy, Misbehaviour, Security, Session, SessionConfig,
    SessionError, TlsState, Utf8Policy,
};
use crate::Arg;

// ===========================================================================
// reply_decoder
// ===========================================================================

/// The stream as a stateful decoder sees it: the replies, then how it ended
/// (`None`: waiting for more bytes; `Some(e)`: failed).
#[derive(Debug, PartialEq, Eq)]
struct DecodeRun {
    replies: Vec<Reply>,
    end: Option<DecodeError>,
    pending: bool,
}

/// Drains `d` until it needs more bytes or fails.
fn drain_decoder(d: &mut ReplyDecoder, replies: &mut Vec<Reply>) -> Option<DecodeError> {
    loop {
        match d.decode() {
            Ok(Some(r)) => replies.push(r),
            Ok(None) => return None,
            Err(e) => return Some(e),
        }
    }
}

/// Feeds `data` in chunks of the sizes `next_size` gives (never 0).
fn decode_chunked(
    data: &[u8],
    limits: DecoderLimits,
    mut next_size: impl FnMut(usize) -> usize,
) -> DecodeRun {
    let mut d = ReplyDecoder::new(limits);
    let mut replies = Vec::new();
    let mut pos = 0;
    let mut end = None;
    while pos < data.len() {
        let n = next_size(pos).clamp(1, data.len() - pos);
        d.push(&data[pos..pos + n]);
        pos += n;
        end = drain_decoder(&mut d, &mut replies);
        if let Some(e) = &end {
            // Failure is final, whatever arrives afterwards.
            assert_eq!(d.decode().as_ref(), Err(e));
            d.push(b"200 ok\r\n");
            assert_eq!(d.decode().as_ref(), Err(e));
            break;
        }
    }
    let pending = end.is_none() && d.has_pending_input();
    DecodeRun {
        replies,
        end,
        pending,
    }
}

/// The same stream through the stateless [`decode_reply`].
fn decode_stateless(data: &[u8], limits: DecoderLimits) -> DecodeRun {
    let mut replies = Vec::new();
    let mut rest = data;
    loop {
        match decode_reply(rest, limits) {
            Decoded::Complete { reply, rest: after } => {
                // `rest` is a strict suffix of the input: progress was made.
                assert!(after.len() < rest.len(), "decode_reply made no progress");
                assert_eq!(&rest[rest.len() - after.len()..], after);
                replies.push(reply);
                rest = after;
            }
            Decoded::Incomplete => {
                return DecodeRun {
                    replies,
                    end: None,
                    pending: !rest.is_empty(),
                }
            }
            Decoded::Failed(e) => {
                return DecodeRun {
                    replies,
                    end: Some(e),
                    pending: false,
                }
            }
        }
    }
}

/// Invariants of every decoded reply.
fn check_reply(r: &Reply, limits: DecoderLimits) {
    let code = r.code().as_u16();
    assert!((100..600).contains(&code), "reply code {code}");
    let lines = r.lines();
    assert!(!lines.is_empty(), "reply without lines");
    assert!(
        lines.len() <= limits.max_lines.max(1),
        "{} lines, limit {}",
        lines.len(),
        limits.max_lines
    );
    assert_eq!(r.is_multiline(), lines.len() > 1);
    for l in lines {
        assert!(
            l.len() <= limits.max_line_len,
            "line of {} bytes, limit {}",
            l.len(),
            limits.max_line_len
        );
        assert!(!l.contains(&0), "NUL in a decoded reply");
        assert!(!l.contains(&b'\n'), "LF in a decoded reply line");
    }
    assert_eq!(r.first_line(), &lines[0][..]);
    let _ = (r.text(), format!("{r} {r:?}"));
    exercise_reply_parsers(r);
}

/// Runs every payload parser on a reply: none may panic, and what they
/// return must be consistent.
fn exercise_reply_parsers(r: &Reply) {
    if let Ok(addr) = parse_pasv(r) {
        assert_ne!(addr.port(), 0, "parse_pasv returned port 0");
    }
    if let Ok(port) = parse_epsv(r) {
        assert_ne!(port, 0, "parse_epsv returned port 0");
    }
    if let Ok(path) = parse_pwd(r) {
        assert!(
            !path.iter().any(|&b| b < 0x20 || b == 0x7f),
            "parse_pwd returned a control byte"
        );
    }
    if let Ok(n) = parse_size(r) {
        let digits = r.first_line().trim_ascii();
        assert!(!digits.is_empty() && digits.iter().all(u8::is_ascii_digit));
        assert_eq!(
            n.to_string().len(),
            digits.len()
                - digits
                    .iter()
                    .take_while(|&&d| d == b'0')
                    .count()
                    .min(digits.len() - 1)
        );
    }
    if let Ok(m) = parse_mdtm(r) {
        assert!(m.utc, "MDTM times are UTC");
    }
    check_features(&FeatureSet::parse(r));
    // An MLST reply (250) carries one entry line between its first and
    // last line.
    if r.code().as_u16() == 250 && r.lines().len() > 2 {
        for l in &r.lines()[1..r.lines().len() - 1] {
            if let Ok(e) = parse_mlsx_line(l) {
                check_mlsx_entry(l, &e);
            }
        }
    }
}

fn check_features(f: &FeatureSet) {
    let mut n = 0;
    for feat in f.iter() {
        n += 1;
        assert!(
            f.supports(&feat.name),
            "feature {:?} not supported",
            feat.name
        );
        assert_eq!(f.params(&feat.name), Some(feat.params.as_str()));
    }
    assert_eq!(n, f.len());
    assert_eq!(f.is_empty(), n == 0);
    let _ = (
        f.supports_utf8(),
        f.supports_rest_stream(),
        f.supports_mlsx(),
        f.supports_auth_tls(),
        f.mlst_facts(),
        f.hash_algorithms(),
        f.vendor_hashes(),
    );
}

/// Decoder limits to run a stream under: the defaults, and tight ones
/// derived from the input so that the limits themselves get hit.
fn limit_sets(data: &[u8]) -> [DecoderLimits; 3] {
    let sum = data
        .iter()
        .fold(0usize, |a, &b| a.wrapping_add(usize::from(b)));
    [
        DecoderLimits::default(),
        DecoderLimits {
            max_line_len: 1 + data.len() % 97,
            max_lines: 1 + sum % 9,
        },
        DecoderLimits {
            max_line_len: 256,
            max_lines: 2,
        },
    ]
}

/// Feeds `data` to [`ReplyDecoder`] at once, in chunks whose sizes come
/// from the data, byte by byte, and through the stateless [`decode_reply`]:
/// all four must agree, and every reply must respect the limits.
pub fn reply_decoder(data: &[u8]) {
    for limits in limit_sets(data) {
        let whole = decode_chunked(data, limits, |_| usize::MAX);
        for r in &whole.replies {
            check_reply(r, limits);
        }

        let chunked = decode_chunked(data, limits, |pos| 1 + usize::from(data[pos] % 23));
        assert_eq!(
            whole, chunked,
            "chunked decoding differs (limits {limits:?})"
        );

        if data.len() <= 512 {
            let bytewise = decode_chunked(data, limits, |_| 1);
            assert_eq!(
                whole, bytewise,
                "byte-wise decoding differs (limits {limits:?})"
            );
        }

        let stateless = decode_stateless(data, limits);
        assert_eq!(
            (&whole.replies, &whole.end),
            (&stateless.replies, &stateless.end),
            "decode_reply differs from ReplyDecoder (limits {limits:?})"
        );
        if whole.end.is_none() {
            assert_eq!(whole.pending, stateless.pending, "pending input differs");
        }
    }
}

// ===========================================================================
// pasv_epsv
// ===========================================================================

/// Decodes the single reply `code text\r\n` (text without CR/LF/NUL).
fn single_reply(code: &str, text: &[u8]) -> Option<Reply> {
    let mut raw = Vec::with_capacity(text.len() + 6);
    raw.extend_from_slice(code.as_bytes());
    raw.push(b' ');
    raw.extend_from_slice(text);
    raw.extend_from_slice(b"\r\n");
    match decode_reply(&raw, DecoderLimits::default()) {
        Decoded::Complete { reply, rest } => {
            assert!(rest.is_empty());
            assert_eq!(reply.code().as_u16().to_string(), code);
            assert_eq!(reply.first_line(), text, "reply text changed by decoding");
            assert_eq!(reply.lines().len(), 1);
            Some(reply)
        }
        Decoded::Failed(DecodeError::LineTooLong { .. }) => {
            assert!(text.len() + 4 > DecoderLimits::default().max_line_len);
            None
        }
        other => panic!("`{code} <text>` did not decode: {other:?}"),
    }
}

/// The argument of an encoded command: `VERB arg\r\n` → `arg`.
fn encoded_argument(cmd: &Command) -> Vec<u8> {
    let wire = cmd.to_bytes().expect("encoding a parsed address");
    let verb = cmd.verb().as_bytes();
    assert!(wire.starts_with(verb));
    assert_eq!(wire.get(verb.len()), Some(&b' '));
    let line = wire.strip_suffix(b"\r\n").expect("CRLF");
    assert!(!line.contains(&b'\r') && !line.contains(&b'\n'));
    line[verb.len() + 1..].to_vec()
}

/// PORT ⇄ [`parse_port_argument`], EPRT ⇄ [`parse_eprt_argument`], and the
/// 227/229 forms of the same address.
fn round_trip_v4(addr: SocketAddrV4) {
    assert_ne!(addr.port(), 0);
    let arg = encoded_argument(&Command::Port(addr));
    assert_eq!(parse_port_argument(&arg), Ok(addr), "PORT round trip");
    round_trip_any(SocketAddr::V4(addr));

    let text = format!("Entering Passive Mode ({}).", String::from_utf8_lossy(&arg));
    let reply = single_reply("227", text.as_bytes()).unwrap();
    assert_eq!(parse_pasv(&reply), Ok(addr), "227 round trip");
}

fn round_trip_any(addr: SocketAddr) {
    assert_ne!(addr.port(), 0);
    let arg = encoded_argument(&Command::Eprt(addr));
    assert_eq!(arg, crate::parse::eprt_argument(addr).into_bytes());
    assert_eq!(parse_eprt_argument(&arg), Ok(addr), "EPRT round trip");

    let text = format!("Entering Extended Passive Mode (|||{}|)", addr.port());
    let reply = single_reply("229", text.as_bytes()).unwrap();
    assert_eq!(parse_epsv(&reply), Ok(addr.port()), "229 round trip");
}

/// Runs the passive-mode reply parsers and the PORT/EPRT argument parsers
/// on the data (CR, LF and NUL removed); whatever parses must have a
/// non-zero port and survive an encode/parse round trip.
pub fn pasv_epsv(data: &[u8]) {
    let text: Vec<u8> = data
        .iter()
        .copied()
        .filter(|b| !matches!(b, b'\r' | b'\n' | 0))
        .collect();

    if let Some(reply) = single_reply("227", &text) {
        if let Ok(addr) = parse_pasv(&reply) {
            round_trip_v4(addr);
        }
        // The same text under another code is refused.
        assert!(parse_epsv(&reply).is_err());
    }
    if let Some(reply) = single_reply("229", &text) {
        if let Ok(port) = parse_epsv(&reply) {
            assert_ne!(port, 0);
            round_trip_any(SocketAddr::from(([127, 0, 0, 1], port)));
        }
        assert!(parse_pasv(&reply).is_err());
    }
    // The other single-line payload parsers, for free.
    for code in ["213", "257", "211"] {
        if let Some(reply) = single_reply(code, &text) {
            exercise_reply_parsers(&reply);
        }
    }

    // The raw data as a command argument (the server side of active mode).
    for arg in [&text[..], data] {
        if let Ok(addr) = parse_port_argument(arg) {
            round_trip_v4(addr);
        }
        if let Ok(addr) = parse_eprt_argument(arg) {
            round_trip_any(addr);
            if let SocketAddr::V4(v4) = addr {
                round_trip_v4(v4);
            }
        }
    }
}

// ===========================================================================
// mlsx
// ===========================================================================

/// Invariants of an entry parsed from the MLSx line `line`.
fn check_mlsx_entry(line: &[u8], e: &Entry) {
    let stripped = strip_eol(line);
    assert_eq!(e.raw, stripped, "Entry::raw is not the line");
    let name = e.name.as_bytes();
    assert!(!name.is_empty(), "empty MLSx name");
    assert!(
        stripped.ends_with(name),
        "MLSx name {:?} is not a suffix of the line",
        e.name
    );
    // The name follows the single space that ends the facts.
    assert!(name.len() < stripped.len());
    assert_eq!(stripped[stripped.len() - name.len() - 1], b' ');
    for (k, v) in e.facts() {
        assert!(!k.is_empty(), "empty fact name");
        // Facts are views of the line: name=value within it.
        assert!(!k.contains(&b';') && !k.contains(&b'=') && !v.contains(&b';'));
        // Every fact is found by its name (names are looked up as text;
        // a name that is not UTF-8 cannot be asked for).
        if let Ok(name) = std::str::from_utf8(k) {
            assert!(e.fact(name).is_some(), "fact {name:?} not found");
        }
    }
    if e.link_target.is_some() {
        assert_eq!(e.kind, EntryKind::Symlink);
    }
    if let Some(m) = &e.modified {
        assert!(m.utc, "MLSx modify is UTC");
        assert!(!m.year_inferred);
    }
    if let Some(p) = &e.permissions {
        assert!(!p.is_empty());
    }
    check_entry_common(e);
    // A lossless name can be sent back as a command argument unchanged.
    let cmd = Command::Retr(Arg::from(&e.name));
    match cmd.to_bytes() {
        Ok(wire) => {
            let mut expected = b"RETR ".to_vec();
            expected.extend_from_slice(name);
            expected.extend_from_slice(b"\r\n");
            assert_eq!(wire, expected);
        }
        Err(_) => assert!(
            name.iter().any(|b| matches!(b, b'\r' | b'\n' | 0)),
            "a clean name was refused by the encoder"
        ),
    }
}

/// Removes one trailing `\r\n` or `\n`, as the listing parsers do.
fn strip_eol(line: &[u8]) -> &[u8] {
    match line {
        [rest @ .., b'\r', b'\n'] | [rest @ .., b'\n'] => rest,
        _ => line,
    }
}

/// Calls the cheap accessors of an entry; none may panic.
fn check_entry_common(e: &Entry) {
    let _ = (
        format!("{e:?} {}", e.name),
        e.name.to_string_lossy(),
        e.name.to_str(),
        e.name.is_safe_component(),
        e.is_dir(),
        e.is_file(),
        e.fact("type"),
    );
    if let Some(m) = e.modified {
        for (y, mo, d) in [
            (2026, time::Month::January, 1),
            (1970, time::Month::July, 4),
        ] {
            let today = time::Date::from_calendar_date(y, mo, d).unwrap();
            let resolved = m.resolve_year(today);
            if !m.year_inferred {
                assert_eq!(resolved, m);
            }
        }
    }
    if e.name.is_safe_component() {
        let b = e.name.as_bytes();
        assert!(b != b"." && b != b".." && !b.contains(&b'/') && !b.contains(&b'\\'));
    }
}

/// Every line of the data through [`parse_mlsx_line`]: a parsed name is
/// always the exact tail of its line, and line endings do not matter.
pub fn mlsx(data: &[u8]) {
    for line in data.split(|&b| b == b'\n') {
        let parsed = parse_mlsx_line(line);
        if let Ok(e) = &parsed {
            check_mlsx_entry(line, e);
        }
        // The same line with CRLF or LF appended parses the same (LF only
        // when the line does not end in CR, which would make a CRLF).
        for eol in [&b"\r\n"[..], b"\n"] {
            if eol == b"\n" && line.ends_with(b"\r") {
                continue;
            }
            let mut with_eol = line.to_vec();
            with_eol.extend_from_slice(eol);
            assert_eq!(
                parse_mlsx_line(&with_eol),
                parsed,
                "line ending changed the result"
            );
        }
        // As an MLST reply entry (one leading space).
        let mut mlst = b" ".to_vec();
        mlst.extend_from_slice(line);
        if let Ok(e) = parse_mlsx_line(&mlst) {
            check_mlsx_entry(&mlst, &e);
        }
    }
}

// ===========================================================================
// list
// ===========================================================================

/// The lines a correct splitter yields for `data`: split at LF, one CR
/// before the LF dropped; a final unterminated line (its trailing CR
/// dropped) if any bytes follow the last LF.
fn reference_lines(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut parts = data.split(|&b| b == b'\n').peekable();
    while let Some(p) = parts.next() {
        let last = parts.peek().is_none();
        if last && p.is_empty() {
            break;
        }
        out.push(p.strip_suffix(b"\r").unwrap_or(p));
    }
    out
}

/// Moves the lines `next` gives into `got` until it has none left; the
/// error that stopped it, if any.
fn take_lines(
    got: &mut Vec<Vec<u8>>,
    mut next: impl FnMut() -> Result<Option<Bytes>, ListingError>,
) -> Result<(), ListingError> {
    while let Some(line) = next()? {
        got.push(line.to_vec());
    }
    Ok(())
}

/// Runs a [`LineSplitter`] over `data` in chunks, checking it against
/// [`reference_lines`]. Returns the lines it produced.
fn split_checked(
    data: &[u8],
    max_line_len: usize,
    max_total: u64,
    mut next_size: impl FnMut(usize) -> usize,
) -> Vec<Vec<u8>> {
    let mut s = LineSplitter::with_limits(max_line_len, max_total);
    let mut got: Vec<Vec<u8>> = Vec::new();
    let mut err = None;
    let mut pos = 0;
    while pos < data.len() {
        let n = next_size(pos).clamp(1, data.len() - pos);
        if let Err(e) = s.push(&data[pos..pos + n]) {
            err = Some(e);
            break;
        }
        pos += n;
        if let Err(e) = take_lines(&mut got, || s.next_line()) {
            err = Some(e);
            break;
        }
    }
    if err.is_none() {
        err = take_lines(&mut got, || s.finish()).err();
    }
    for l in &got {
        assert!(l.len() <= max_line_len, "line over max_line_len");
        assert!(!l.contains(&b'\n'), "LF inside a line");
    }
    let reference = reference_lines(data);
    let too_long = reference.iter().any(|l| l.len() > max_line_len);
    let too_large = u64::try_from(data.len()).unwrap() > max_total;
    assert!(got.len() <= reference.len());
    assert!(
        got.iter().zip(&reference).all(|(a, b)| a == b),
        "splitter lines differ from the reference"
    );
    match &err {
        None => {
            assert!(
                !too_long && !too_large,
                "a limit was exceeded without error"
            );
            assert_eq!(got.len(), reference.len(), "lines lost");
        }
        Some(ListingError::LineTooLong { max }) => {
            assert_eq!(*max, max_line_len);
            assert!(too_long, "LineTooLong without a long line");
        }
        Some(ListingError::ListingTooLarge { max }) => {
            assert_eq!(*max, max_total);
            assert!(too_large, "ListingTooLarge within the limit");
        }
        Some(other) => panic!("unexpected splitter error {other:?}"),
    }
    if let Some(e) = err {
        // Errors are final.
        assert_eq!(s.push(b"x\n"), Err(e.clone()));
        assert_eq!(s.next_line(), Err(e.clone()));
        assert_eq!(s.finish(), Err(e));
    }
    got
}

/// Invariants of an entry parsed from the LIST line `line`.
fn check_list_entry(line: &[u8], e: &Entry) {
    assert_eq!(e.raw, line, "Entry::raw is not the line");
    let name = e.name.as_bytes();
    assert!(!name.is_empty(), "empty LIST name");
    assert!(
        line.windows(name.len()).any(|w| w == name),
        "name {:?} is not part of the line",
        e.name
    );
    if e.kind == EntryKind::Symlink {
        if let Some(t) = &e.link_target {
            assert!(!t.is_empty());
            let t = t.as_bytes();
            assert!(
                line.windows(t.len()).any(|w| w == t),
                "link target not in line"
            );
        }
    } else {
        assert!(e.link_target.is_none());
        assert!(
            line.ends_with(name),
            "name {:?} is not the end of the line",
            e.name
        );
    }
    assert!(e.facts().next().is_none(), "LIST rows have no facts");
    if let Some(m) = &e.modified {
        assert!(!m.utc, "LIST times are local");
    }
    check_entry_common(e);
}

/// Splits the data with [`LineSplitter`] (tight limits, data-sized chunks;
/// and default limits, all at once) and parses every line as LIST output.
pub fn list(data: &[u8]) {
    let small = split_checked(data, 200, 3000, |pos| 1 + usize::from(data[pos] % 29));
    let whole = split_checked(data, 8 * 1024, 64 * 1024, |_| usize::MAX);
    if data.len() <= 3000 && small.len() == whole.len() {
        assert_eq!(small, whole);
    }

    // The current year fills in `Mon DD HH:MM` rows: the real one, and an
    // extreme one picked by the input's length (the year is an argument
    // like any other: no value may make a parser panic).
    let years = [2026, [i32::MIN, i32::MAX, 0, -9999, 10_000][data.len() % 5]];
    for line in &whole {
        let line = &line[..];
        let dos = parse_dos_line(line);
        if let Some(e) = &dos {
            check_list_entry(line, e);
        }
        let mut crlf = line.to_vec();
        crlf.extend_from_slice(b"\r\n");
        // A line ending must not change anything.
        assert_eq!(parse_dos_line(&crlf), dos);
        for year in years {
            list_line_with_year(line, &crlf, year, dos.as_ref());
        }
    }
}

fn list_line_with_year(line: &[u8], crlf: &[u8], year: i32, dos: Option<&Entry>) {
    let unix = parse_unix_line(line, year);
    if let Some(e) = &unix {
        check_list_entry(line, e);
        if let Some(m) = &e.modified {
            if m.year_inferred {
                let y = m.at.year();
                assert!(
                    y == year || Some(y) == year.checked_sub(1),
                    "inferred year {y} for current year {year}"
                );
            }
        }
    }
    match parse_list_line(line, year) {
        ListLine::Entry(e) => {
            let expected = unix.as_ref().or(dos);
            assert_eq!(Some(&e), expected, "parse_list_line disagrees");
        }
        ListLine::Unparsed(raw) => {
            assert_eq!(raw, line, "Unparsed changed the bytes");
            assert!(unix.is_none() && dos.is_none());
        }
        ListLine::Skip => {}
    }
    assert_eq!(parse_unix_line(crlf, year), unix);
}

// ===========================================================================
// session
// ===========================================================================

/// Driver choices derived from the first byte of a `session` input.
#[derive(Clone, Copy, Debug)]
struct Knobs {
    /// Bits 0-2: which plain configuration.
    variant: u8,
    /// Bits 3-4: how the server bytes are cut into chunks.
    chunking: u8,
    /// Bit 5: pick operations from the bytes blindly instead of from the
    /// reply the server is about to send.
    chaos: bool,
    /// Bit 6: the explicit-TLS configuration also sends HOST and has an
    /// account.
    explicit_extras: bool,
    /// Bit 7: feed the next chunk *before* reporting the TLS handshake
    /// done (which the session must refuse).
    late_tls: bool,
}

impl Knobs {
    fn new(b: u8) -> Self {
        Self {
            variant: b & 7,
            chunking: (b >> 3) & 3,
            chaos: b & 0x20 != 0,
            explicit_extras: b & 0x40 != 0,
            late_tls: b & 0x80 != 0,
        }
    }
}

/// The plain configurations the first byte chooses from.
fn plain_config(variant: u8) -> SessionConfig {
    let creds = Credentials::new("anonymous", "guest@example.com");
    match variant {
        0 => SessionConfig::new(),
        1 => SessionConfig::new().credentials(creds),
        2 => SessionConfig::new()
            .host("ftp.example.com")
            .credentials(Credentials::new("bob", "hunter2").with_account("acct-2b")),
        3 => SessionConfig::new()
            .credentials(creds)
            .features(FeatPolicy::Skip)
            .utf8(Utf8Policy::Never)
            .transfer_type(None),
        4 => SessionConfig::new()
            .credentials(creds)
            .limits(DecoderLimits {
                max_line_len: 64,
                max_lines: 4,
            }),
        5 => SessionConfig::new()
            .credentials(creds)
            .data_protection(DataProtection::Clear),
        // Pipelined: USER with PASS (and ACCT when asked), the settings in
        // one write, the next EPSV behind each RETR.
        6 => SessionConfig::new()
            .host("files.example.org")
            .credentials(Credentials::new("dave", "s3cret-6d").with_account("acct-6d"))
            .transfer_type(Some(crate::command::TransferType::Ascii))
            .pipelining(crate::session::Pipelining::On),
        _ => SessionConfig::new()
            .credentials(Credentials::new("carol", "").with_account("acct-x7"))
            .limits(DecoderLimits {
                max_line_len: 512,
                max_lines: 1,
            }),
    }
}

fn explicit_config(extras: bool) -> SessionConfig {
    let base = SessionConfig::new().security(Security::Explicit);
    if extras {
        base.host("ftp.example.com")
            .credentials(Credentials::new("alice", "s3cret-pw").with_account("acct-9"))
    } else {
        base.credentials(Credentials::new("alice", "s3cret-pw"))
    }
}

/// Operations the driver can start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Noop,
    Pwd,
    Pasv,
    Epsv,
    Feat,
    Size,
    Mdtm,
    Cwd,
    Rest,
    Syst,
    Mlst,
    Retr,
    /// `EPSV` and `RETR` in one write ([`Session::transfer_after_passive`]).
    EpsvRetr,
    List,
    Mlsd,
    Stor,
    Abort,
    Quit,
    Secure,
    Login,
    Ccc,
}

const ALL_OPS: [Op; 21] = [
    Op::Noop,
    Op::Pwd,
    Op::Pasv,
    Op::Epsv,
    Op::Feat,
    Op::Size,
    Op::Mdtm,
    Op::Cwd,
    Op::Rest,
    Op::Syst,
    Op::Mlst,
    Op::Retr,
    Op::List,
    Op::Mlsd,
    Op::Stor,
    Op::Abort,
    Op::Quit,
    Op::Secure,
    Op::Login,
    Op::Ccc,
    Op::EpsvRetr,
];

/// Picks the operation to start, from the bytes the server sends next.
/// Outside chaos mode the driver "guesses" the operation that the next
/// reply answers, so that recorded conversations play through.
fn choose_op(s: &Session, rest: &[u8], chaos: bool) -> Option<Op> {
    let first = *rest.first()?;
    if chaos {
        if s.is_idle() {
            return Some(ALL_OPS[usize::from(first) % ALL_OPS.len()]);
        }
        return (s.in_transfer() && first % 5 == 0).then_some(Op::Abort);
    }
    let code = rest.get(..3)?;
    if s.in_transfer() {
        return (code == b"426").then_some(Op::Abort);
    }
    if !s.is_idle() {
        return None;
    }
    Some(match code {
        [b'1', _, c] => [Op::Retr, Op::List, Op::Mlsd, Op::Stor][usize::from(*c % 4)],
        b"221" => Op::Quit,
        b"225" | b"226" | b"426" => Op::Abort,
        b"234" => Op::Secure,
        b"230" | b"331" | b"332" | b"530" => Op::Login,
        b"200" if s.tls_state() == TlsState::Active => Op::Ccc,
        b"257" => Op::Pwd,
        b"213" => [Op::Size, Op::Mdtm][usize::from(rest.get(4).copied().unwrap_or(0) % 2)],
        b"227" => Op::Pasv,
        b"229" if s.pipelines() && rest.get(4).is_some_and(|b| b % 2 == 0) => Op::EpsvRetr,
        b"229" => Op::Epsv,
        b"211" => Op::Feat,
        b"250" => [Op::Cwd, Op::Mlst][usize::from(rest.get(3) == Some(&b'-'))],
        b"350" => Op::Rest,
        b"215" => Op::Syst,
        _ => Op::Noop,
    })
}

fn start_op(s: &mut Session, op: Op) -> Result<(), SessionError> {
    match op {
        Op::Noop => s.command(Command::Noop),
        Op::Pwd => s.command(Command::Pwd),
        Op::Pasv => s.command(Command::Pasv),
        Op::Epsv => s.command(Command::Epsv(None)),
        Op::Feat => s.command(Command::Feat),
        Op::Size => s.command(Command::Size("file.bin".into())),
        Op::Mdtm => s.command(Command::Mdtm("file.bin".into())),
        Op::Cwd => s.command(Command::Cwd("pub".into())),
        Op::Rest => s.command(Command::Rest(100)),
        Op::Syst => s.command(Command::Syst),
        Op::Mlst => s.command(Command::Mlst(Some("file.bin".into()))),
        Op::Retr => {
            s.transfer(Command::Retr("file.bin".into()))?;
            if s.pipelines() {
                s.send_ahead(Command::Epsv(None))?;
            }
            Ok(())
        }
        Op::EpsvRetr => {
            s.transfer_after_passive(Command::Epsv(None), Command::Retr("file.bin".into()))?;
            s.send_ahead(Command::Epsv(None))
        }
        Op::List => s.transfer(Command::List(None)),
        Op::Mlsd => s.transfer(Command::Mlsd(Some("pub".into()))),
        Op::Stor => s.transfer(Command::Stor("up.bin".into())),
        Op::Abort => s.abort(),
        Op::Quit => s.quit(),
        Op::Secure => s.secure(),
        Op::Login => s.login(Credentials::new("dave", "pa55word")),
        Op::Ccc => s.ccc(),
    }
}

/// What the checker remembers about one session.
struct Tracker {
    /// The explicit-TLS configuration (TLS required from the start).
    explicit: bool,
    /// TLS is required: explicit configuration, or `secure()` accepted.
    tls_required: bool,
    limits: DecoderLimits,
    /// Lines transmitted so far.
    sent: usize,
    /// Passwords and accounts the session knows that the server never
    /// sent: they must not show in the session's `Debug` output.
    secrets: Vec<&'static str>,
}

impl Tracker {
    /// Drains and checks everything the session wants to transmit.
    fn check_transmit(&mut self, s: &mut Session) {
        while let Some(out) = s.poll_transmit() {
            assert!(!out.is_empty(), "poll_transmit returned empty bytes");
            assert!(
                out.ends_with(b"\r\n"),
                "transmit does not end in CRLF: {out:?}"
            );
            let pieces: Vec<&[u8]> = out.split(|&b| b == b'\n').collect();
            let (last, lines) = pieces.split_last().unwrap();
            assert!(last.is_empty());
            for piece in lines {
                let line = piece
                    .strip_suffix(b"\r")
                    .expect("LF without CR in transmit");
                assert!(!line.is_empty(), "empty command line");
                assert!(!line.contains(&b'\r'), "bare CR inside a command: {out:?}");
                assert!(!line.contains(&0), "NUL inside a command: {out:?}");
                let verb = line.split(|&b| b == b' ').next().unwrap();
                assert!(
                    (3..=7).contains(&verb.len())
                        && verb
                            .iter()
                            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()),
                    "bad verb in {line:?}"
                );
                self.check_line(s, verb, line);
            }
        }
    }

    fn check_line(&mut self, s: &Session, verb: &[u8], line: &[u8]) {
        let credential = matches!(verb, b"USER" | b"PASS" | b"ACCT");
        if credential && self.tls_required {
            assert_eq!(
                s.tls_state(),
                TlsState::Active,
                "{} sent while TLS is {:?}",
                String::from_utf8_lossy(verb),
                s.tls_state()
            );
        }
        if self.explicit && self.sent == 0 && verb != b"HOST" {
            assert_eq!(line, b"AUTH TLS", "explicit TLS must start with AUTH TLS");
        }
        if self.explicit && self.sent == 1 && s.config().host.is_some() {
            assert_eq!(
                line, b"AUTH TLS",
                "explicit TLS must send AUTH TLS after HOST"
            );
        }
        self.sent += 1;
    }

    fn check_event_reply(&self, r: &Reply) {
        check_reply(r, self.limits);
    }

    /// Drains and checks events; returns whether `StartTls` was among them.
    fn check_events(&mut self, s: &mut Session) -> bool {
        let mut start_tls = false;
        while let Some(ev) = s.poll_event() {
            match &ev {
                Event::StartTls => {
                    assert!(self.tls_required, "StartTls without TLS being asked for");
                    start_tls = true;
                }
                Event::StopTls => assert!(s.tls_state() == TlsState::Cleared || s.is_closed()),
                Event::Ready => {}
                Event::Aborted(replies) => {
                    assert!(
                        replies.len() <= 8,
                        "{} replies collected for ABOR",
                        replies.len()
                    );
                    for r in replies {
                        self.check_event_reply(r);
                    }
                }
                Event::Rejected { reply, .. } => self.check_event_reply(reply),
                Event::Greeting(r)
                | Event::Preliminary(r)
                | Event::LoggedIn(r)
                | Event::Reply(r)
                | Event::TransferStarted(r)
                | Event::TransferCompleted(r)
                | Event::TransferFailed(r)
                | Event::Ahead(r) => self.check_event_reply(r),
                Event::Closed(r) => {
                    self.check_event_reply(r);
                    assert!(s.is_closed());
                }
            }
        }
        start_tls
    }

    /// Transmit, events and state consistency after any call.
    fn settle(&mut self, s: &mut Session) -> bool {
        if !self.secrets.is_empty() {
            // Before the transmit buffer is drained: a queued PASS must not
            // show either.
            let shown = format!("{s:?}");
            for secret in &self.secrets {
                assert!(
                    !shown.contains(secret),
                    "Session's Debug output shows the password or account {secret:?}"
                );
            }
        }
        self.check_transmit(s);
        let start_tls = self.check_events(s);
        let handshaking = !s.is_closed() && s.tls_state() == TlsState::Handshaking;
        let states = [s.is_idle(), s.wants_input(), s.is_closed(), handshaking];
        assert_eq!(
            states.iter().filter(|&&b| b).count(),
            1,
            "inconsistent state (idle, wants_input, closed, handshaking) = {states:?}"
        );
        if s.in_transfer() {
            assert!(s.wants_input());
        }
        if !self.tls_required {
            assert_eq!(
                s.tls_state(),
                TlsState::Plain,
                "TLS without being asked for"
            );
        }
        if self.explicit && s.is_idle() && s.is_logged_in() {
            assert_eq!(
                s.data_protection(),
                crate::command::ProtectionLevel::Private,
                "logged in over explicit TLS without PROT P"
            );
        }
        if start_tls && !s.is_closed() {
            assert_eq!(s.tls_state(), TlsState::Handshaking);
        }
        start_tls
    }

    /// After a failure: every call is refused and sends nothing.
    fn check_dead(&mut self, s: &mut Session) {
        assert!(s.is_closed());
        self.settle(s);
        assert!(s.handle_input(b"220 hello again\r\n").is_err());
        assert!(s.handle_input(b"").is_err());
        assert!(s.tls_established().is_err());
        for op in ALL_OPS {
            assert!(
                start_op(s, op).is_err(),
                "{op:?} accepted by a closed session"
            );
        }
        assert!(s.poll_transmit().is_none(), "a closed session transmitted");
        assert!(s.handle_eof().is_err() || s.is_closed());
        assert!(s.is_closed());
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(haystack, needle).is_some()
}

/// The next chunk of server bytes, per the chunking knob.
fn next_chunk(stream: &[u8], pos: usize, chunking: u8) -> usize {
    let rest = &stream[pos..];
    let line_end = rest
        .iter()
        .position(|&b| b == b'\n')
        .map_or(rest.len(), |i| i + 1);
    let n = match chunking {
        0 => line_end,
        1 => line_end.min(1 + usize::from(rest[0] % 8)),
        2 => 1 + usize::from(rest[0] % 16),
        _ => rest.len(),
    };
    n.clamp(1, rest.len())
}

/// Passwords and accounts used by the configurations and by `Op::Login`.
const SECRETS: [&str; 9] = [
    "s3cret-pw",
    "pa55word",
    "acct-9",
    "guest@example.com",
    "hunter2",
    "acct-2b",
    "acct-x7",
    "s3cret-6d",
    "acct-6d",
];

fn run_session(config: SessionConfig, explicit: bool, stream: &[u8], knobs: Knobs) {
    let secrets = SECRETS
        .into_iter()
        .filter(|secret| !contains(stream, secret.as_bytes()))
        .collect();
    let mut t = Tracker {
        explicit,
        tls_required: config.security != Security::None,
        limits: config.limits,
        sent: 0,
        secrets,
    };
    let mut s = Session::new(config).expect("valid configuration");
    let mut pos = 0;
    let mut handshake_due = false;
    while pos < stream.len() {
        if handshake_due {
            if knobs.late_tls {
                // Plaintext during the handshake: refused, session failed.
                let n = next_chunk(stream, pos, knobs.chunking);
                let r = s.handle_input(&stream[pos..pos + n]);
                assert_eq!(
                    r,
                    Err(SessionError::ServerMisbehaved(Misbehaviour::BytesAfterAuth)),
                    "bytes during the TLS handshake were not refused"
                );
                t.check_dead(&mut s);
                return;
            }
            s.tls_established().expect("tls_established after StartTls");
            handshake_due = t.settle(&mut s);
            continue;
        }

        if let Some(op) = choose_op(&s, &stream[pos..], knobs.chaos) {
            let before = (
                s.is_idle(),
                s.in_transfer(),
                s.tls_state(),
                s.is_logged_in(),
            );
            match start_op(&mut s, op) {
                Ok(()) => {
                    if op == Op::Secure {
                        t.tls_required = true;
                    }
                    if explicit && matches!(op, Op::Retr | Op::List | Op::Mlsd | Op::Stor) {
                        assert_eq!(
                            s.data_protection(),
                            crate::command::ProtectionLevel::Private,
                            "transfer over explicit TLS without PROT P"
                        );
                    }
                }
                Err(e) => {
                    assert!(
                        matches!(e, SessionError::Misuse(_) | SessionError::InvalidCommand(_)),
                        "{op:?} failed with a non-caller error: {e:?}"
                    );
                    assert!(s.poll_transmit().is_none(), "refused {op:?} transmitted");
                    let after = (
                        s.is_idle(),
                        s.in_transfer(),
                        s.tls_state(),
                        s.is_logged_in(),
                    );
                    assert_eq!(before, after, "refused {op:?} changed the state");
                }
            }
            handshake_due = t.settle(&mut s);
            if handshake_due {
                continue;
            }
        }

        let n = next_chunk(stream, pos, knobs.chunking);
        let usable = !s.is_closed();
        let r = s.handle_input(&stream[pos..pos + n]);
        pos += n;
        match r {
            Ok(()) => {
                assert!(usable, "a closed session accepted input");
                handshake_due = t.settle(&mut s);
            }
            Err(e) => {
                assert!(
                    s.is_closed(),
                    "handle_input failed but the session is open: {e:?}"
                );
                if usable {
                    assert!(
                        !matches!(e, SessionError::Misuse(_) | SessionError::InvalidCommand(_)),
                        "server input produced a caller error: {e:?}"
                    );
                    if !t.tls_required {
                        assert!(
                            !matches!(e, SessionError::Downgrade(_)),
                            "downgrade error without TLS required: {e:?}"
                        );
                    }
                }
                t.check_dead(&mut s);
                return;
            }
        }
    }
    if handshake_due && !s.is_closed() {
        s.tls_established().expect("tls_established after StartTls");
        t.settle(&mut s);
    }
    let was_closed = s.is_closed();
    let _ = s.handle_eof();
    assert!(s.is_closed(), "session still open after EOF");
    if !was_closed {
        t.check_dead(&mut s);
    }
}

/// A [`Session`] fed arbitrary server bytes.
///
/// The first byte picks driver knobs (see `Knobs`: plain configuration,
/// chunking, how operations are chosen, extras of the explicit-TLS
/// configuration, whether the TLS handshake is reported late); the rest is
/// what the server sends. Two sessions replay it: one with explicit TLS and
/// credentials, one with the chosen plain configuration.
pub fn session(data: &[u8]) {
    let Some((&first, stream)) = data.split_first() else {
        return;
    };
    let knobs = Knobs::new(first);
    run_session(explicit_config(knobs.explicit_extras), true, stream, knobs);
    run_session(plain_config(knobs.variant), false, stream, knobs);
}

// ===========================================================================
// opening
// ===========================================================================

/// The reply codes the `opening` target answers with.
const OPENING_CODES: [u16; 14] = [
    150, 125, 200, 226, 227, 229, 250, 350, 425, 450, 500, 502, 522, 550,
];

/// A [`crate::transfer::Opening`] driven by arbitrary replies and reports.
///
/// The first two bytes pick the parameters (mode, protection, route,
/// passive address, `REST` offset, what the session learned, download or
/// upload, whether a TLS session is on hand); each further
/// byte is one step (a reply, with text from the next bytes; a mark, a
/// completion or a refusal; a data connection made or failed; a handshake;
/// a timer; a listener's address). Checks: no panic; exactly one `Ready` or
/// `Failed`; only the protocol's commands are sent, the transfer command
/// once and as given; `REST` only with an offset (or `REST 0` to clear a
/// mismatch); `StartTls` only under `PROT P`; a passive connection goes to
/// the control peer unless the reply is trusted or a proxy is used; a
/// channel is ready only once connected (and secured under `PROT P`); a
/// passive command is pipelined only when asked, in passive mode, once,
/// right behind the transfer command.
pub fn opening(data: &[u8]) {
    use crate::command::ProtectionLevel;
    use crate::transfer::{
        ChannelMode, DataCommands, DataRoute, Opening, OpeningParams, PassiveAddress, Wait, Waits,
    };
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    use std::time::Duration;

    let (Some(&a), Some(&b)) = (data.first(), data.get(1)) else {
        return;
    };
    let peer: IpAddr = if a & 0x08 != 0 {
        Ipv6Addr::LOCALHOST.into()
    } else {
        Ipv4Addr::LOCALHOST.into()
    };
    let route = if a & 0x10 != 0 {
        DataRoute::Proxy("ftp.example".into())
    } else {
        DataRoute::Direct(peer)
    };
    let private = a & 0x02 != 0;
    // Downloads wait for the mark; uploads (STOR) are ready without it.
    let command = if b & 0x10 != 0 {
        Command::Stor(Arg::new("f"))
    } else {
        Command::Retr(Arg::new("f"))
    };
    let params = OpeningParams {
        command: command.clone(),
        mode: if a & 0x01 != 0 {
            ChannelMode::Active
        } else {
            ChannelMode::Passive
        },
        route: route.clone(),
        passive_address: if a & 0x04 != 0 {
            PassiveAddress::TrustReply
        } else {
            PassiveAddress::ControlPeer
        },
        protection: if private {
            ProtectionLevel::Private
        } else {
            ProtectionLevel::Clear
        },
        rest: u64::from(b & 0x0f) * 100,
        waits: Waits::for_reply_timeout(Duration::from_secs(30)),
        session_on_hand: b & 0x20 != 0,
        ahead: (b & 0x40 != 0).then(|| {
            Reply::new(
                crate::ReplyCode::EXTENDED_PASSIVE_MODE,
                vec![Bytes::from_static(
                    b"229 Entering Extended Passive Mode (|||40002|)",
                )],
            )
        }),
        pipeline: b & 0x80 != 0,
    };
    let commands = DataCommands {
        epsv: a & 0x20 == 0,
        eprt: a & 0x40 == 0,
    };
    let rest = params.rest;
    let mut op = Opening::new(params, commands);

    let mut w = OpeningWatch {
        terminal: 0,
        started: 0,
        connecting: false,
        connected: false,
        secured: false,
        ahead: 0,
        early: false,
        refused: false,
        pipeline: b & 0x80 != 0 && a & 0x01 == 0,
        private,
        rest,
        command,
        route: route.clone(),
        trust_reply: a & 0x04 != 0,
    };
    w.check(&mut op);
    let mut rest_bytes = data.get(2..).unwrap_or_default().iter();
    while let Some(&step) = rest_bytes.next() {
        let text_len = usize::from(step >> 5);
        let text: Vec<u8> = rest_bytes.by_ref().take(text_len).copied().collect();
        let code = OPENING_CODES[usize::from(step) % OPENING_CODES.len()];
        let mut line = format!("{code} ").into_bytes();
        line.extend(
            text.iter()
                .map(|&c| if c.is_ascii_graphic() { c } else { b' ' }),
        );
        if code == 229 && step & 0x10 != 0 {
            line = b"229 Entering Extended Passive Mode (|||40001|)".to_vec();
        }
        if code == 227 && step & 0x10 != 0 {
            line = b"227 Entering Passive Mode (10,0,0,9,156,65)".to_vec();
        }
        let reply = Reply::new(
            crate::ReplyCode::new(code).unwrap(),
            vec![Bytes::from(line)],
        );
        match step % 11 {
            0..=2 => op.handle_event(Event::Reply(reply)),
            3 if step & 0x80 != 0 => op.handle_event(Event::Ahead(reply)),
            3 => op.handle_event(Event::Reply(reply)),
            4 => op.handle_event(Event::TransferStarted(reply)),
            5 => op.handle_event(Event::TransferCompleted(reply)),
            6 => {
                w.refused = true;
                op.handle_event(Event::TransferFailed(reply));
            }
            7 => {
                if w.connecting && step & 0x20 == 0 {
                    w.connected = true;
                    op.handle_connected();
                } else {
                    op.handle_connect_failed();
                }
            }
            8 => {
                if step & 0x20 == 0 && w.connected {
                    w.secured = true;
                    op.handle_tls_established(step & 0x40 != 0, step & 0x80 != 0);
                } else {
                    op.handle_tls_failed(step & 0x40 != 0);
                }
            }
            9 => op.handle_timeout(match step >> 6 {
                0 => Wait::MarkGrace,
                1 => Wait::ReuseVerdict,
                _ => Wait::Explanation,
            }),
            _ => {
                let addr: SocketAddr = if step & 0x20 != 0 {
                    "[::1]:50000".parse().unwrap()
                } else {
                    "127.0.0.1:50000".parse().unwrap()
                };
                op.handle_listening(addr);
            }
        }
        w.check(&mut op);
    }
}

/// What the `opening` target has seen, to check the machine's actions
/// against.
struct OpeningWatch {
    terminal: u32,
    started: u32,
    connecting: bool,
    connected: bool,
    secured: bool,
    /// Passive commands pipelined behind the transfer command.
    ahead: u32,
    /// The first transfer command went out behind the passive command.
    early: bool,
    /// A transfer command was refused (`TransferFailed` fed).
    refused: bool,
    /// Pipelining asked for, in passive mode.
    pipeline: bool,
    private: bool,
    rest: u64,
    command: Command,
    route: crate::transfer::DataRoute,
    trust_reply: bool,
}

impl OpeningWatch {
    fn check(&mut self, op: &mut crate::transfer::Opening) {
        use crate::transfer::{DataAction, DataRoute, DataTarget};
        while let Some(action) = op.poll_action() {
            match action {
                DataAction::Send(c) => match c {
                    Command::Epsv(_) | Command::Pasv | Command::Eprt(_) | Command::Port(_) => {}
                    Command::Rest(n) => {
                        assert!(n == self.rest || n == 0, "REST {n} (offset {})", self.rest);
                    }
                    other => panic!("sent {other:?}"),
                },
                DataAction::Start(c) => {
                    assert_eq!(c, self.command);
                    self.started += 1;
                    // Again only after the one sent behind a passive
                    // command was refused.
                    assert!(
                        self.started == 1 || (self.started == 2 && self.early && self.refused),
                        "transfer command sent twice"
                    );
                }
                DataAction::StartAfterPassive(p, c) => {
                    assert!(
                        self.pipeline,
                        "sent behind a passive command without pipelining"
                    );
                    assert!(
                        matches!(p, Command::Epsv(_) | Command::Pasv),
                        "behind {p:?}"
                    );
                    assert_eq!(c, self.command);
                    assert_eq!(self.rest, 0, "a transfer command sent before REST");
                    self.started += 1;
                    self.early = true;
                    assert_eq!(self.started, 1, "transfer command sent twice");
                }
                DataAction::Ahead(c) => {
                    assert!(self.pipeline, "pipelined without being asked");
                    assert!(
                        matches!(c, Command::Epsv(_) | Command::Pasv),
                        "pipelined {c:?}"
                    );
                    self.ahead += 1;
                    assert_eq!(
                        self.ahead, self.started,
                        "pipelined other than once behind each transfer command"
                    );
                }
                DataAction::Connect(target) => {
                    self.connecting = true;
                    match (&self.route, target) {
                        (DataRoute::Direct(p), DataTarget::Address(addr)) => {
                            if !self.trust_reply {
                                assert_eq!(addr.ip(), *p, "a passive connection left the peer");
                            }
                        }
                        (DataRoute::Proxy(h), DataTarget::Host(host, _)) => {
                            if !self.trust_reply {
                                assert_eq!(&host, h);
                            }
                        }
                        (r, t) => panic!("target {t:?} on route {r:?}"),
                    }
                }
                DataAction::Accept => self.connecting = true,
                DataAction::Listen | DataAction::ArmTimer(..) => {}
                DataAction::StartTls => assert!(self.private, "TLS under PROT C"),
                DataAction::Ready(o) => {
                    self.terminal += 1;
                    if o.channel {
                        assert!(self.connected, "ready without a connection");
                        assert!(
                            !self.private || self.secured,
                            "ready without TLS under PROT P"
                        );
                    }
                }
                DataAction::Failed(_) => self.terminal += 1,
            }
            assert!(self.terminal <= 1, "more than one end");
        }
        if self.terminal == 1 {
            assert!(op.is_done());
        }
    }
}
