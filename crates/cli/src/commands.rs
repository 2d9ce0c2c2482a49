//! The commands: connect, do one thing, QUIT.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use ftpkit::ListLine;
use ftpkit::{Client, EntryKind, FtpUrl, TransferType};
use ftpkit_control::command::forbidden_byte_name;
use ftpkit_control::Arg;
use futures::StreamExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use crate::args::{Cli, Cmd};
use crate::output::{self, Out};
use crate::progress::Progress;
use crate::session::{prepare, Ctx, Purpose};

/// Buffer of the copy loops.
const BUFFER: usize = 256 * 1024;

/// Runs the command line.
pub(crate) async fn run(cli: Cli, ctx: &mut Ctx) -> anyhow::Result<()> {
    let purpose = match cli.command {
        Cmd::Cert { .. } => Purpose::Inspect,
        _ => Purpose::Login,
    };
    let url = FtpUrl::parse(cli.command.url())?;
    // Arguments are checked before asking for a password or connecting.
    check_args(&cli, &url)?;
    let config = prepare(&cli.global, &url, purpose, ctx)?;
    let mut client = Client::connect(config).await?;
    let result = match &cli.command {
        Cmd::Ls { long, json, .. } => ls(&mut client, &url, *long, *json, ctx).await,
        Cmd::Get { local, resume, .. } => {
            match (download_target(&url, local.as_deref()), cli.global.segments) {
                (Ok(Some(file)), Some(n)) if n > 1 => {
                    segmented(&mut client, &url, &file, usize::from(n), ctx).await
                }
                (Ok(Some(file)), None) if !*resume && may_segment(&client, &url) => {
                    segmented(&mut client, &url, &file, 0, ctx).await
                }
                (Ok(target), _) => get(&mut client, &url, target.as_deref(), *resume, ctx).await,
                (Err(e), _) => Err(e),
            }
        }
        Cmd::Put {
            local,
            resume,
            append,
            atomic,
            ..
        } => {
            let mode = match (*resume, *append, *atomic) {
                (true, _, _) => PutMode::Resume,
                (_, true, _) => PutMode::Append,
                (_, _, true) => PutMode::Atomic,
                _ => PutMode::Replace,
            };
            put(&mut client, &url, local, mode, ctx).await
        }
        Cmd::Rm { .. } => client
            .delete(url.path())
            .await
            .with_context(|| format!("rm {}", shown(url.path()))),
        Cmd::Mkdir { parents, .. } => mkdir(&mut client, url.path(), *parents).await,
        Cmd::Rmdir { .. } => client
            .rmdir(url.path())
            .await
            .with_context(|| format!("rmdir {}", shown(url.path()))),
        Cmd::Mv { new_path, .. } => {
            let to = os_bytes(new_path)?;
            client
                .rename(url.path(), to)
                .await
                .with_context(|| format!("mv {}", shown(url.path())))
        }
        Cmd::Stat { .. } => stat(&mut client, url.path()).await,
        Cmd::Cert { .. } => cert(&client),
        Cmd::Quote { command, .. } => quote(&mut client, command).await,
        Cmd::Mirror {
            first,
            second,
            reverse,
            parallel,
            retries,
            include,
            exclude,
            dry_run,
            delete,
            max_depth,
            max_files,
            max_bytes,
        } => {
            let local = if *reverse { first } else { second };
            let opts = ftpkit::ops::MirrorOptions {
                // 0: the library chooses from the round-trip time.
                parallelism: parallel.map_or(0, usize::from),
                retries: *retries,
                include: include.clone(),
                exclude: exclude.clone(),
                dry_run: *dry_run,
                delete: *delete,
                max_depth: *max_depth,
                max_files: *max_files,
                max_bytes: *max_bytes,
                progress: crate::progress::mirror_callback(ctx.progress),
                ..ftpkit::ops::MirrorOptions::default()
            };
            mirror(&mut client, &url, Path::new(local), *reverse, &opts, ctx).await
        }
    };
    // The command's outcome matters, not the goodbye.
    if let Err(e) = client.quit().await {
        tracing::debug!(error = %e, "QUIT failed");
    }
    result
}

/// Checks what can be checked before connecting.
fn check_args(cli: &Cli, url: &FtpUrl) -> anyhow::Result<()> {
    let cmd = &cli.command;
    let needs_path = matches!(
        cmd,
        Cmd::Rm { .. } | Cmd::Mkdir { .. } | Cmd::Rmdir { .. } | Cmd::Mv { .. } | Cmd::Stat { .. }
    );
    if needs_path && url.path().is_empty() {
        bail!("the URL has no path");
    }
    if let Cmd::Get { local, .. } = cmd {
        if url.path().is_empty() {
            bail!("the URL names no file");
        }
        if local.is_none() && url.file_name().is_none() {
            bail!("the URL ends in no file name: give LOCAL");
        }
    }
    match cmd {
        Cmd::Get { resume: true, .. } | Cmd::Put { resume: true, .. }
            if url.transfer_type() == Some(TransferType::Ascii) =>
        {
            bail!("--resume needs a binary transfer, not ;type=a");
        }
        Cmd::Get {
            local,
            resume: true,
            ..
        } if local.as_deref() == Some(Path::new("-")) => {
            bail!("--resume needs a local file, not stdout");
        }
        Cmd::Get { local, .. }
            if local.as_deref() == Some(Path::new("-"))
                && cli.global.segments.is_some_and(|n| n > 1) =>
        {
            bail!("--segments writes into a file, not to stdout");
        }
        Cmd::Put {
            local,
            resume: true,
            ..
        } if local == Path::new("-") => {
            bail!("--resume needs a local file, not stdin");
        }
        Cmd::Mv { new_path, .. } => {
            let to = os_bytes(new_path)?;
            if to.is_empty() {
                bail!("mv: NEWPATH is empty");
            }
            if let Some(c) = forbidden_byte_name(&to) {
                bail!("mv: NEWPATH contains {c}");
            }
        }
        Cmd::Quote { command, .. } if command.trim().is_empty() => {
            bail!("quote: the command is empty");
        }
        Cmd::Quote { command, .. } => {
            if let Some(c) = forbidden_byte_name(command.as_bytes()) {
                bail!("quote: the command contains {c} (one command per call)");
            }
        }
        _ => {}
    }
    Ok(())
}

/// A path for messages: lossy, control characters as `?`.
fn shown(path: &[u8]) -> String {
    output::terminal_safe(&String::from_utf8_lossy(path)).into_owned()
}

#[cfg(unix)]
fn os_bytes(s: &std::ffi::OsStr) -> anyhow::Result<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    Ok(s.as_bytes().to_vec())
}

#[cfg(not(unix))]
fn os_bytes(s: &std::ffi::OsStr) -> anyhow::Result<Vec<u8>> {
    s.to_str()
        .map(|s| s.as_bytes().to_vec())
        .ok_or_else(|| anyhow::anyhow!("{} is not valid Unicode", s.to_string_lossy()))
}

#[cfg(unix)]
fn bytes_path(b: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    PathBuf::from(std::ffi::OsStr::from_bytes(b))
}

#[cfg(not(unix))]
fn bytes_path(b: &[u8]) -> PathBuf {
    PathBuf::from(String::from_utf8_lossy(b).into_owned())
}

/// Whether an error is the server saying the command is not implemented
/// (500, 502, 504).
fn not_implemented(e: &ftpkit::Error) -> bool {
    e.reply()
        .is_some_and(|r| matches!(r.code().as_u16(), 500 | 502 | 504))
}

// ----- ls ---------------------------------------------------------------------

async fn ls(
    client: &mut Client,
    url: &FtpUrl,
    long: bool,
    json: bool,
    ctx: &Ctx,
) -> anyhow::Result<()> {
    let path = url.path();
    let arg = (!path.is_empty()).then(|| Arg::new(path.to_vec()));
    let context = || match path {
        [] => "ls of the login directory".to_owned(),
        p => format!("ls {}", shown(p)),
    };
    let mut out = Out::new();
    let mut unparsed = 0usize;
    // The library's one listing routine, printed as it arrives: memory
    // stays one buffer whatever the listing's size.
    let mut rows = Box::pin(ftpkit::ops::list_stream_arg(client, arg));
    while let Some(row) = rows.next().await {
        match row.with_context(context)? {
            ListLine::Entry(e)
                if matches!(e.kind, EntryKind::CurrentDir | EntryKind::ParentDir)
                    || matches!(e.name.as_bytes(), b"." | b"..") => {}
            ListLine::Entry(e) if json => {
                let line = serde_json::to_string(&output::JsonEntry::new(&e))?;
                out.line(&line)?;
            }
            ListLine::Entry(e) if long => {
                let (prefix, name) = output::long_line(&e);
                out.raw_line(&[prefix.as_bytes(), &name])?;
            }
            ListLine::Entry(e) => out.raw_line(&[e.name.as_bytes()])?,
            // Never shown as a file (an `ls` error message, say).
            ListLine::Unparsed(raw) => {
                unparsed += 1;
                ctx.note(&format!(
                    "listing row not understood: {}",
                    String::from_utf8_lossy(&raw)
                ));
            }
            ListLine::Skip => {}
        }
    }
    out.flush()?;
    if unparsed > 0 {
        bail!(
            "{} not understood (shown above)",
            output::count(unparsed, "listing row", "listing rows")
        );
    }
    Ok(())
}

// ----- get --------------------------------------------------------------------

/// Where `get` writes: `None` for stdout (`-`), else LOCAL, the URL's
/// file name inside LOCAL when that is a directory, or the URL's file name
/// in the current directory.
fn download_target(url: &FtpUrl, local: Option<&Path>) -> anyhow::Result<Option<PathBuf>> {
    let name = url.file_name().map(bytes_path);
    let file = match local {
        Some(p) if p == Path::new("-") => return Ok(None),
        Some(p) if p.is_dir() => {
            p.join(name.ok_or_else(|| {
                anyhow::anyhow!("the URL names no file to put in {}", p.display())
            })?)
        }
        Some(p) => p.to_path_buf(),
        None => name.ok_or_else(|| anyhow::anyhow!("the URL names no file name; give LOCAL"))?,
    };
    Ok(Some(file))
}

/// `get` into `target` (`None`: stdout).
async fn get(
    client: &mut Client,
    url: &FtpUrl,
    target: Option<&Path>,
    resume: bool,
    ctx: &Ctx,
) -> anyhow::Result<()> {
    let path = url.path();
    let what = || format!("get {}", shown(path));
    let label = shown(url.file_name().unwrap_or(path));
    // The library's one download routine: a temporary file renamed onto
    // the target once complete, the byte count checked against every size
    // known (SIZE when the server has it, the 150 reply's).
    let opts = ftpkit::ops::FileOptions::new()
        .resume(resume)
        .verify(ftpkit::ops::Verify::SizeWhenKnown)
        .progress(crate::progress::callback(ctx.progress, &label));
    let report = match target {
        None => ftpkit::ops::download_to_writer(client, path, Box::new(std::io::stdout()), &opts)
            .await
            .map_err(|e| match output::broken_pipe(&e) {
                true => anyhow::Error::new(output::StdoutClosed),
                false => anyhow::Error::new(e).context(what()),
            })?,
        Some(t) => {
            if resume {
                // A target cut short by another tool is the start of the file.
                ftpkit::ops::adopt_partial(t)
                    .await
                    .context("get --resume")?;
            }
            match ftpkit::ops::download_file(client, path, t, &opts).await {
                Ok(r) => r,
                Err(e) => return Err(kept_note(anyhow::Error::new(e).context(what()), t)),
            }
        }
    };
    file_notes(ctx, &report, resume, get_unchecked(url));
    Ok(())
}

/// The note of a `get` whose byte count nobody could check, with one `{}`
/// for it.
fn get_unchecked(url: &FtpUrl) -> &'static str {
    if url.transfer_type() == Some(TransferType::Ascii) {
        "received {} in ASCII mode: line ends changed, so the server's size was not compared"
    } else {
        "received {}; the server gave no size to check them against"
    }
}

/// Notes that `bytes` went unchecked, in the words of `unchecked` (one
/// `{}` for the byte count).
fn note_unchecked(ctx: &Ctx, unchecked: &str, bytes: u64) {
    let bytes = output::count(bytes, "byte", "bytes");
    ctx.note(&unchecked.replacen("{}", &bytes, 1));
}

/// `e`, with a note on the bytes a failed download of `target` left in
/// its partial file for `get --resume`.
fn kept_note(e: anyhow::Error, target: &Path) -> anyhow::Error {
    let part = ftpkit::ops::part_path(target);
    match std::fs::metadata(&part).map_or(0, |m| m.len()) {
        0 => e,
        kept => e.context(format!(
            "{kept} bytes kept in {} (get --resume continues them)",
            part.display()
        )),
    }
}

/// The notes after a whole-file transfer: a resume that found nothing to
/// do, and a size nobody could check (`unchecked` has one `{}` for the
/// byte count).
fn file_notes(ctx: &Ctx, report: &ftpkit::ops::FileReport, resume: bool, unchecked: &str) {
    if resume && report.transferred == 0 && report.resumed_from > 0 {
        ctx.note("already complete");
    }
    if report.expected_size.is_none() {
        note_unchecked(ctx, unchecked, report.transferred);
    }
}

// ----- put --------------------------------------------------------------------

async fn put(
    client: &mut Client,
    url: &FtpUrl,
    local: &Path,
    mode: PutMode,
    ctx: &Ctx,
) -> anyhow::Result<()> {
    // `None`: stdin.
    let file = Some(local).filter(|p| *p != Path::new("-"));
    let mut remote = url.path().to_vec();
    if remote.is_empty() || remote.ends_with(b"/") {
        let Some(name) = file.and_then(Path::file_name) else {
            bail!("the URL names no remote file");
        };
        remote.extend_from_slice(&os_bytes(name)?);
    }
    match (file, mode) {
        (Some(path), PutMode::Replace | PutMode::Resume | PutMode::Atomic) => {
            put_file(client, &remote, path, mode, ctx).await
        }
        (_, PutMode::Append) => put_to(client, &remote, file, true, ctx).await,
        (None, PutMode::Replace | PutMode::Resume) => {
            put_to(client, &remote, None, false, ctx).await
        }
        (None, PutMode::Atomic) => put_stdin_atomic(client, &remote, ctx).await,
    }
}

/// `put --atomic` from stdin: stored under a temporary name beside the
/// target, checked, then renamed onto it, so that the target never holds a
/// partial file.
async fn put_stdin_atomic(client: &mut Client, remote: &[u8], ctx: &Ctx) -> anyhow::Result<()> {
    let temp = ftpkit::ops::atomic_upload_name(remote);
    let r = match put_to(client, &temp, None, false, ctx).await {
        Ok(()) => client
            .rename(temp.clone(), remote.to_vec())
            .await
            .with_context(|| format!("put {}: renaming the upload into place", shown(remote))),
        Err(e) => Err(e),
    };
    if r.is_err() {
        let _ = client.delete(temp).await;
    }
    r
}

/// How `put` stores the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PutMode {
    /// STOR: replace.
    Replace,
    /// Continue from the server's size.
    Resume,
    /// APPE.
    Append,
    /// STOR under a temporary name, then RNFR/RNTO.
    Atomic,
}

/// `put` of a local file: the library's [`ftpkit::ops::upload_file`], which
/// resumes, checks that the file did not change while read, stores
/// atomically when asked, and compares the server's `SIZE` afterwards.
async fn put_file(
    client: &mut Client,
    remote: &[u8],
    local: &Path,
    mode: PutMode,
    ctx: &Ctx,
) -> anyhow::Result<()> {
    let label = shown(
        local
            .file_name()
            .map_or(b"".as_slice(), |n| n.as_encoded_bytes()),
    );
    let opts = ftpkit::ops::FileOptions::new()
        .resume(mode == PutMode::Resume)
        .atomic(mode == PutMode::Atomic)
        .verify(ftpkit::ops::Verify::SizeWhenKnown)
        .progress(crate::progress::callback(ctx.progress, &label));
    let report = ftpkit::ops::upload_file(client, local, remote.to_vec(), &opts)
        .await
        .with_context(|| format!("put {}", shown(remote)))?;
    file_notes(
        ctx,
        &report,
        mode == PutMode::Resume,
        "sent {}; the server cannot tell its size, so the upload is not verified",
    );
    Ok(())
}

/// `put` from stdin (`local` is `None`), or `--append` (APPE): the data
/// as it comes, then the server's `SIZE` compared with what was meant to
/// be stored.
async fn put_to(
    client: &mut Client,
    remote: &[u8],
    local: Option<&Path>,
    append: bool,
    ctx: &Ctx,
) -> anyhow::Result<()> {
    let remote = remote.to_vec();
    let (mut source, local_stamp): (
        Box<dyn AsyncRead + Unpin + Send>,
        Option<ftpkit::ops::LocalStamp>,
    ) = match local {
        None => (Box::new(tokio::io::stdin()), None),
        Some(path) => {
            // Read ahead on a thread of its own (no blocking-pool hop per read).
            let stamp = ftpkit::ops::LocalStamp::of(path)?;
            let f = ftpkit::ops::FileSource::open(path, 0)
                .with_context(|| format!("opening {}", path.display()))?;
            (Box::new(f), Some(stamp))
        }
    };
    let source_name = local.map_or_else(|| "stdin".into(), Path::to_string_lossy);
    let local_len = local_stamp.map(|s| s.len());
    let what = || format!("put {}", shown(&remote));
    // What the server's file should hold at the end: for APPE, what it
    // held before plus what is sent.
    let base = if append {
        remote_size(client, &remote).await?.unwrap_or(0)
    } else {
        0
    };
    let mut up = if append {
        client.appe(remote.clone()).await
    } else {
        client.stor(remote.clone()).await
    }
    .with_context(what)?;
    let label = shown(
        local
            .and_then(Path::file_name)
            .map_or(b"stdin".as_slice(), |n| n.as_encoded_bytes()),
    );
    let progress = Progress::new(ctx.progress, &label, local_len, 0);
    let mut buf = vec![0u8; BUFFER];
    let mut sent = 0u64;
    loop {
        let n = source
            .read(&mut buf)
            .await
            .with_context(|| format!("reading {source_name}"))?;
        if n == 0 {
            break;
        }
        up.write_all(buf.get(..n).unwrap_or_default())
            .await
            .map_err(ftpkit::Error::from_io_error)
            .with_context(what)?;
        sent += n as u64;
        progress.inc(n as u64);
    }
    up.finish().await.with_context(what)?;
    progress.finish();
    if let (Some(stamp), Some(path)) = (&local_stamp, local) {
        stamp.check_unchanged(path, 0, sent)?;
    }
    // The server's word (226) is not the only evidence: its SIZE must be
    // what was meant to be stored.
    if let Some(theirs) = remote_size(client, &remote).await? {
        let want = base + sent;
        if theirs != want {
            bail!("{}: the server's SIZE is {theirs} after the upload, {want} bytes were meant to be stored", what());
        }
    }
    Ok(())
}

/// `SIZE`: `None` when the server cannot tell (no `SIZE` command, no such
/// file yet).
async fn remote_size(client: &mut Client, remote: &[u8]) -> anyhow::Result<Option<u64>> {
    client
        .size_if_known(remote.to_vec())
        .await
        .context("the server's size of the file (SIZE)")
}

// ----- mkdir ------------------------------------------------------------------

async fn mkdir(client: &mut Client, path: &[u8], parents: bool) -> anyhow::Result<()> {
    let what = || format!("mkdir {}", shown(path));
    if !parents {
        client.mkdir(path).await.with_context(what)?;
        return Ok(());
    }
    if !path
        .split(|b| *b == b'/')
        .any(|c| !c.is_empty() && c != b".")
    {
        bail!("mkdir: no directory in the path");
    }
    // One routine for `mkdir -p`: the library's (MKD per component; a
    // refusal is fine only for an existing directory).
    client.mkdir_all(path).await.with_context(what)
}

// ----- stat -------------------------------------------------------------------

async fn stat(client: &mut Client, path: &[u8]) -> anyhow::Result<()> {
    let what = || format!("stat {}", shown(path));
    let size = match client.size(path).await {
        Ok(s) => Some(s),
        Err(e) if not_implemented(&e) => None,
        Err(e) => return Err(e).with_context(what),
    };
    let modified = match client.modified(path).await {
        Ok(m) => Some(m),
        Err(e) if not_implemented(&e) => None,
        Err(e) => return Err(e).with_context(what),
    };
    let mut out = Out::new();
    out.line(&format!(
        "size: {}",
        size.map_or_else(|| "unknown".to_owned(), |s| s.to_string())
    ))?;
    out.line(&format!(
        "modified: {}",
        modified
            .as_ref()
            .map_or_else(|| "unknown".to_owned(), output::rfc3339)
    ))?;
    out.flush()
}

// ----- cert -------------------------------------------------------------------

/// A certificate's subject, issuer, validity, names and fingerprint, one
/// indented line each.
fn certificate_lines(out: &mut Out, c: &ftpkit::tls::CertificateInfo) -> anyhow::Result<()> {
    out.line(&format!(
        "  subject:     {}",
        output::terminal_safe(&c.subject)
    ))?;
    out.line(&format!(
        "  issuer:      {}",
        output::terminal_safe(&c.issuer)
    ))?;
    out.line(&format!(
        "  not before:  {}",
        output::system_time(c.not_before)
    ))?;
    out.line(&format!(
        "  not after:   {}",
        output::system_time(c.not_after)
    ))?;
    if !c.subject_alt_names.is_empty() {
        let names = c.subject_alt_names.join(", ");
        out.line(&format!("  names:       {}", output::terminal_safe(&names)))?;
    }
    out.line(&format!("  sha256:      {}", c.fingerprint()))?;
    Ok(())
}

/// The client certificate presented, and the token that holds its key.
fn client_certificate(out: &mut Out, id: &ftpkit::tls::ClientIdentity) -> anyhow::Result<()> {
    if let Some(c) = id
        .certificate()
        .and_then(|c| ftpkit::tls::CertificateInfo::parse(c.as_ref()).ok())
    {
        out.line("client certificate:")?;
        certificate_lines(out, &c)?;
    }
    if let Some(t) = id.token_info() {
        out.line(&format!(
            "  token:       {} (serial {}, module {})",
            output::terminal_safe(&t.token_label),
            output::terminal_safe(&t.token_serial),
            t.module.display()
        ))?;
        out.line(&format!(
            "  key:         {} {} (id {}), signatures made: {}",
            t.key_type,
            output::terminal_safe(&format!("{:?}", t.key_label)),
            t.key_id
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>(),
            t.signatures
        ))?;
    }
    Ok(())
}

fn cert(client: &Client) -> anyhow::Result<()> {
    let Some(tls) = client.tls_info() else {
        bail!("the connection is not secured");
    };
    let mut out = Out::new();
    for (i, c) in tls.peer_certificates.iter().enumerate() {
        out.line(&format!("certificate {i}:"))?;
        certificate_lines(&mut out, c)?;
    }
    let version = match tls.version {
        Some(ftpkit::tls::ProtocolVersion::TLSv1_2) => "TLS 1.2".to_owned(),
        Some(ftpkit::tls::ProtocolVersion::TLSv1_3) => "TLS 1.3".to_owned(),
        Some(other) => format!("{other:?}"),
        None => "unknown".to_owned(),
    };
    out.line(&format!("tls version:  {version}"))?;
    let suite = tls
        .cipher_suite
        .map_or_else(|| "unknown".to_owned(), |s| format!("{s:?}"));
    out.line(&format!("cipher suite: {suite}"))?;
    if let Some(id) = &client.config().tls.client_identity {
        client_certificate(&mut out, id)?;
    }
    out.flush()
}

// ----- quote ------------------------------------------------------------------

async fn quote(client: &mut Client, command: &str) -> anyhow::Result<()> {
    let verb = command
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase();
    let reply = client
        .quote(command)
        .await
        .with_context(|| format!("quote {}", output::terminal_safe(&verb)))?;
    let mut out = Out::new();
    for l in output::reply_lines(&reply) {
        out.line(&output::terminal_safe(&l))?;
    }
    out.flush()?;
    if reply.code().is_negative() {
        bail!("{}: {reply}", output::terminal_safe(&verb));
    }
    Ok(())
}

/// `mirror`: the whole tree, in either direction.
async fn mirror(
    client: &mut Client,
    url: &FtpUrl,
    local: &Path,
    reverse: bool,
    opts: &ftpkit::ops::MirrorOptions,
    ctx: &Ctx,
) -> anyhow::Result<()> {
    let remote = String::from_utf8(url.path().to_vec())
        .map_err(|_| anyhow::anyhow!("mirror needs a UTF-8 remote directory"))?;
    let remote = if remote.is_empty() {
        ".".to_owned()
    } else {
        remote
    };
    let report = if reverse {
        ftpkit::ops::mirror_up(client, local, &remote, opts).await
    } else {
        ftpkit::ops::mirror_down(client, &remote, local, opts).await
    }
    .with_context(|| format!("mirror {remote}"))?;
    if opts.dry_run {
        let mut out = Out::new();
        for p in &report.planned {
            let size = p.size.map(|n| format!(" ({n} bytes)")).unwrap_or_default();
            let line = if reverse {
                format!("put {} -> {}{size}", p.local.display(), p.remote)
            } else {
                format!("get {} -> {}{size}", p.remote, p.local.display())
            };
            out.line(&output::terminal_safe(&line))?;
        }
        for d in &report.deleted {
            out.line(&output::terminal_safe(&format!("delete {d}")))?;
        }
        out.flush()?;
    }
    for (name, why) in &report.refused {
        ctx.note(&format!("refused {:?}: {why}", name.to_string_lossy()));
    }
    for (what, why) in &report.skipped_other {
        ctx.note(&format!("skipped {what}: {why}"));
    }
    if !opts.dry_run {
        for d in &report.deleted {
            ctx.note(&format!("deleted {d}"));
        }
    }
    for e in &report.errors {
        ctx.note(&format!("{}: {}", e.path, e.error));
    }
    let done = if opts.dry_run {
        format!(
            "dry run: {} to transfer, {} to delete",
            output::count(report.planned.len(), "file", "files"),
            report.deleted.len()
        )
    } else {
        format!(
            "{} ({}) transferred, {} deleted",
            output::count(report.files_transferred, "file", "files"),
            output::count(report.bytes, "byte", "bytes"),
            report.deleted.len()
        )
    };
    ctx.note(&format!(
        "{done}, {} unchanged, {} refused, {}; {}, {}",
        report.skipped_unchanged,
        report.refused.len(),
        output::count(report.errors.len(), "error", "errors"),
        output::count(report.parallelism, "session", "sessions"),
        output::count(report.round_trips, "round trip", "round trips")
    ));
    if !report.errors.is_empty() {
        bail!("{}", output::count(report.errors.len(), "error", "errors"));
    }
    Ok(())
}

/// Whether `get` to a file without `--segments` may split the file: only
/// in binary mode and on a link long enough for
/// [`ftpkit::ops::auto_segments`] to choose segments for a large file (it
/// then chooses from the file's size, asked with the `SIZE` a download
/// asks anyway).
fn may_segment(client: &Client, url: &FtpUrl) -> bool {
    url.transfer_type() != Some(TransferType::Ascii)
        && ftpkit::ops::auto_segments(u64::MAX, client.round_trip_time()) > 1
}

/// `get --segments N` (0: chosen by the library): one file over N sessions.
async fn segmented(
    client: &mut Client,
    url: &FtpUrl,
    target: &Path,
    sessions: usize,
    ctx: &Ctx,
) -> anyhow::Result<()> {
    let path = url.path();
    let label = shown(url.file_name().unwrap_or(path));
    let opts = ftpkit::ops::SegmentOptions {
        sessions,
        // Chosen for the user: the checks of a plain `get`.
        verify: match sessions {
            0 => ftpkit::ops::Verify::SizeWhenKnown,
            _ => ftpkit::ops::Verify::Size,
        },
        progress: crate::progress::callback(ctx.progress, &label),
        ..ftpkit::ops::SegmentOptions::default()
    };
    let report = ftpkit::ops::segmented_download(client, path, target, &opts)
        .await
        .map_err(|e| {
            kept_note(
                anyhow::Error::new(e).context(format!("get {}", shown(path))),
                target,
            )
        })?;
    match (report.expected_size, report.segments.len()) {
        (None, _) => note_unchecked(ctx, get_unchecked(url), report.size),
        (Some(_), 1) if sessions == 0 => {}
        (Some(_), n) => ctx.note(&format!(
            "{} in {} to {}",
            output::count(report.size, "byte", "bytes"),
            output::count(n, "segment", "segments"),
            target.display()
        )),
    }
    Ok(())
}
