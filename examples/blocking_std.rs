//! The sans-IO protocol core driven over blocking `std::net` sockets, with
//! no async runtime and no ftpkit client: the calling contracts of
//! `Session` (the control connection) and `transfer::Opening` (a data
//! connection) in about a hundred and fifty lines. The core is
//! `ftpkit::proto`, the `ftpkit-control` crate, which a program that wants
//! no tokio can depend on alone. Plain FTP only (a TLS driver would run a
//! handshake on `Event::StartTls` and on `DataAction::StartTls`).
//!
//! ```text
//! cargo run --example blocking_std -- HOST PORT USER PASS [PATH]
//! ```
//!
//! Logs in, prints PWD, lists PATH over a passive data connection (the
//! machine decides: EPSV, falling back to PASV, to the control peer), and
//! quits.
#![allow(clippy::print_stdout, missing_docs)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use ftpkit::proto::command::ProtectionLevel;
use ftpkit::proto::parse::parse_pwd;
use ftpkit::proto::transfer::{
    ChannelMode, DataAction, DataCommands, DataRoute, DataTarget, Opening, OpeningParams,
    PassiveAddress, Waits,
};
use ftpkit::proto::{Command, Credentials, Event, Reply, Session, SessionConfig};

type BoxError = Box<dyn std::error::Error>;

/// Writes what the session queued, then reads until it has an event.
fn next_event(s: &mut Session, sock: &mut TcpStream) -> Result<Event, BoxError> {
    let mut buf = [0u8; 4096];
    loop {
        while let Some(bytes) = s.poll_transmit() {
            sock.write_all(&bytes)?;
        }
        if let Some(ev) = s.poll_event() {
            return Ok(ev);
        }
        let n = sock.read(&mut buf)?; // the socket's read timeout is the deadline
        if n == 0 {
            s.handle_eof()?;
        } else {
            s.handle_input(buf.get(..n).unwrap_or_default())?;
        }
    }
}

/// Sends a one-reply command and returns the reply.
fn command(s: &mut Session, sock: &mut TcpStream, cmd: Command) -> Result<Reply, BoxError> {
    s.command(cmd)?;
    loop {
        if let Event::Reply(r) = next_event(s, sock)? {
            return Ok(r);
        }
    }
}

/// Performs what `op` asks for, one step at a time (a blocking driver can:
/// a connection is made at once, and a timer is the sockets' read
/// timeout), until the data connection is ready.
fn open_data(
    op: &mut Opening,
    s: &mut Session,
    sock: &mut TcpStream,
) -> Result<Option<TcpStream>, BoxError> {
    let mut data = None;
    loop {
        while let Some(action) = op.poll_action() {
            match action {
                DataAction::Send(cmd) => s.command(cmd)?,
                DataAction::Start(cmd) => s.transfer(cmd)?,
                DataAction::StartAfterPassive(p, cmd) => s.transfer_after_passive(p, cmd)?,
                DataAction::Ahead(cmd) => s.send_ahead(cmd)?,
                DataAction::Connect(DataTarget::Address(addr)) => {
                    match TcpStream::connect_timeout(&addr, Duration::from_secs(15)) {
                        Ok(d) => {
                            d.set_read_timeout(Some(Duration::from_secs(15)))?;
                            data = Some(d);
                            op.handle_connected();
                        }
                        Err(_) => op.handle_connect_failed(),
                    }
                }
                DataAction::Ready(opened) => return Ok(data.filter(|_| opened.channel)),
                DataAction::Failed(why) => return Err(format!("{why:?}").into()),
                other => return Err(format!("this driver cannot {other:?}").into()),
            }
        }
        if !op.wants_control() {
            return Err("the opening stalled".into());
        }
        op.handle_event(next_event(s, sock)?);
    }
}

fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [host, port, user, pass, rest @ ..] = args.as_slice() else {
        return Err("usage: blocking_std HOST PORT USER PASS [PATH]".into());
    };
    let mut sock = TcpStream::connect((host.as_str(), port.parse::<u16>()?))?;
    sock.set_read_timeout(Some(Duration::from_secs(15)))?;
    let peer = sock.peer_addr()?;

    let config = SessionConfig::new().credentials(Credentials::new(user.as_str(), pass.as_str()));
    let mut s = Session::new(config)?;
    loop {
        match next_event(&mut s, &mut sock)? {
            Event::Greeting(r) => println!("greeting: {r}"),
            Event::LoggedIn(r) => println!("logged in: {r}"),
            Event::Ready => break,
            Event::Rejected { step, reply } => {
                return Err(format!("{step:?} refused: {reply}").into())
            }
            _ => {}
        }
    }
    let pwd = command(&mut s, &mut sock, Command::Pwd)?;
    println!("PWD: {}", String::from_utf8_lossy(&parse_pwd(&pwd)?));

    // A passive data connection, every step decided by the machine.
    let mut op = Opening::new(
        OpeningParams {
            command: Command::List(rest.first().map(|p| p.as_str().into())),
            mode: ChannelMode::Passive,
            route: DataRoute::Direct(peer.ip()),
            passive_address: PassiveAddress::ControlPeer,
            protection: ProtectionLevel::Clear,
            rest: 0,
            waits: Waits::for_reply_timeout(Duration::from_secs(15)),
            // No TLS here: nothing to resume.
            session_on_hand: true,
            // One transfer: nothing to pipeline for.
            ahead: None,
            pipeline: false,
        },
        DataCommands::default(),
    );
    let data = open_data(&mut op, &mut s, &mut sock)?;
    let mut listing = Vec::new();
    if let Some(mut data) = data {
        data.read_to_end(&mut listing)?;
    }
    // The completion, unless it came during the opening.
    while s.in_transfer() {
        match next_event(&mut s, &mut sock)? {
            Event::TransferFailed(r) => return Err(format!("LIST failed: {r}").into()),
            _ => continue,
        }
    }
    print!("{}", String::from_utf8_lossy(&listing));

    s.quit()?;
    while !matches!(next_event(&mut s, &mut sock)?, Event::Closed(_)) {}
    println!("bye");
    Ok(())
}
