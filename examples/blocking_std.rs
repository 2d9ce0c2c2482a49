//! The sans-IO control core driven over blocking `std::net` sockets, with no
//! async runtime and no ftpkit client: the calling contract of
//! `ftpkit_control::Session` in about a hundred lines. Plain FTP only (a
//! TLS driver would run a handshake on `Event::StartTls`).
//!
//! ```text
//! cargo run --example blocking_std -- HOST PORT USER PASS [PATH]
//! ```
//!
//! Logs in, prints PWD, lists PATH over a passive data connection (EPSV,
//! falling back to PASV), and quits.
#![allow(clippy::print_stdout, missing_docs)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use ftpkit_control::parse::{parse_epsv, parse_pasv, parse_pwd};
use ftpkit_control::{Command, Credentials, Event, Reply, Session, SessionConfig};

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

    // Passive data connection to the control peer.
    let r = command(&mut s, &mut sock, Command::Epsv(None))?;
    let data_port = match parse_epsv(&r) {
        Ok(p) => p,
        Err(_) => parse_pasv(&command(&mut s, &mut sock, Command::Pasv)?)?.port(),
    };
    let mut data = TcpStream::connect(SocketAddr::new(peer.ip(), data_port))?;
    data.set_read_timeout(Some(Duration::from_secs(15)))?;
    s.transfer(Command::List(rest.first().map(|p| p.as_str().into())))?;
    let mut listing = Vec::new();
    loop {
        match next_event(&mut s, &mut sock)? {
            Event::TransferStarted(_) => {
                data.read_to_end(&mut listing)?;
            }
            Event::TransferCompleted(_) => break,
            Event::TransferFailed(r) => return Err(format!("LIST failed: {r}").into()),
            _ => {}
        }
    }
    print!("{}", String::from_utf8_lossy(&listing));

    s.quit()?;
    while !matches!(next_event(&mut s, &mut sock)?, Event::Closed(_)) {}
    println!("bye");
    Ok(())
}
