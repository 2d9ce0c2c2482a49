//! The `ftpkit` command-line client: `ls`, `get`, `put`, `rm`, `mkdir`,
//! `rmdir`, `mv`, `stat`, `cert` and `quote` on `ftp://`, `ftpes://` and
//! `ftps://` URLs. See `ftpkit --help`.
//!
//! | file | holds |
//! |---|---|
//! | `args.rs` | the command line (clap) |
//! | `session.rs` | URL + options -> `Config`: credentials, TLS, data mode |
//! | `commands.rs` | the commands |
//! | `output.rs` | listings, JSON, times, replies, stdout |
//! | `progress.rs` | the progress bar |
//!
//! Errors end the program with status 1 and one line on stderr,
//! `ftpkit: <error>`, naming the server's reply when there was one and
//! never a password.

mod args;
mod commands;
mod output;
mod progress;
mod session;

use std::process::ExitCode;

use clap::Parser as _;

use crate::args::Cli;
use crate::output::StdoutClosed;
use crate::session::Ctx;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut ctx = Ctx::new(&cli.global);
    if cli.global.verbose {
        init_trace();
    }
    let result = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(commands::run(cli, &mut ctx)),
        Err(e) => Err(anyhow::Error::new(e).context("starting the runtime")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.downcast_ref::<StdoutClosed>().is_some() => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("ftpkit: {}", error_line(&e, &ctx));
            ExitCode::FAILURE
        }
    }
}

/// `-v`: the library's protocol trace (`> CMD`, `< reply`, PASS redacted)
/// on stderr.
fn init_trace() {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    use tracing_subscriber::Layer as _;

    let filter = tracing_subscriber::filter::Targets::new()
        .with_target("ftpkit::protocol", tracing::Level::DEBUG);
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(|| output::SafeStderr)
        .with_ansi(false)
        .without_time()
        .with_level(false)
        .with_target(false)
        .with_filter(filter);
    let _ = tracing_subscriber::registry().with(layer).try_init();
}

/// The error and its causes on one line, each cause once, with the
/// server's reply, control characters neutralized and passwords scrubbed.
fn error_line(e: &anyhow::Error, ctx: &Ctx) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if text.is_empty() || line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    let reply = e
        .chain()
        .find_map(|c| c.downcast_ref::<ftpkit::Error>())
        .and_then(|fe| fe.reply())
        .map(ToString::to_string);
    if let Some(r) = reply {
        if !line.contains(&r) {
            line.push_str(&format!(" (server reply: {r})"));
        }
    }
    let line: String = line
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    ctx.scrub(line.trim())
}
