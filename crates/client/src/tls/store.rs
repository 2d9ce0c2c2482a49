//! The TLS session store of one FTP session.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use rustls::client::{ClientSessionStore, Tls12ClientSessionValue, Tls13ClientSessionValue};
use rustls::pki_types::ServerName;
use rustls::NamedGroup;

/// How many tickets are kept per origin.
const MAX_TICKETS: usize = 8;

/// Session store of one FTP session.
///
/// Servers that require session reuse accept a data connection only if it
/// resumes the control connection's session. TLS 1.3 tickets the server
/// sends on the control connection do that. rustls treats tickets as
/// single-use, but servers hand out few (ProFTPD: two at login, none per
/// upload), so a long session would run out; with the vendored rustls patch
/// (`vendor/README.md`) this store offers an unused control ticket when it
/// has one and otherwise a copy of the newest control ticket, as OpenSSL
/// clients do with `SSL_set_session`. Tickets received on data connections
/// are used only by a session whose control connection never received one.
/// The TLS 1.2 session is always the control connection's.
#[derive(Debug, Default)]
pub(crate) struct FtpSessionStore {
    inner: Mutex<StoreInner>,
}

#[derive(Debug, Default)]
struct StoreInner {
    kx_hint: Option<NamedGroup>,
    tls12: Option<Tls12ClientSessionValue>,
    control_tickets: VecDeque<Tls13ClientSessionValue>,
    /// A copy of the newest control ticket, offered when none is unused.
    newest_control: Option<Tls13ClientSessionValue>,
    data_tickets: VecDeque<Tls13ClientSessionValue>,
    full_handshakes: u64,
    control_tickets_received: u64,
    data_tickets_received: u64,
    reused_tickets: u64,
}

/// Counters of a session's TLS session store, for diagnostics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionStats {
    /// TLS 1.3 tickets received on the control connection, in all.
    pub control_tickets_received: u64,
    /// TLS 1.3 tickets received on data connections, in all.
    pub data_tickets_received: u64,
    /// Control-connection tickets on hand (unused).
    pub control_tickets_held: usize,
    /// Data-connection tickets on hand (unused).
    pub data_tickets_held: usize,
    /// Data connections that made a full handshake instead of resuming.
    pub full_handshakes: u64,
    /// Data connections offered a copy of an already used control ticket.
    pub reused_tickets: u64,
}

impl FtpSessionStore {
    fn with<R>(&self, f: impl FnOnce(&mut StoreInner) -> R) -> R {
        let mut guard = match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut guard)
    }

    /// Tickets on hand: (from control, from data connections).
    pub(crate) fn ticket_counts(&self) -> (usize, usize) {
        self.with(|s| (s.control_tickets.len(), s.data_tickets.len()))
    }

    /// All counters.
    pub(crate) fn stats(&self) -> SessionStats {
        self.with(|s| SessionStats {
            control_tickets_received: s.control_tickets_received,
            data_tickets_received: s.data_tickets_received,
            control_tickets_held: s.control_tickets.len(),
            data_tickets_held: s.data_tickets.len(),
            full_handshakes: s.full_handshakes,
            reused_tickets: s.reused_tickets,
        })
    }

    /// Counts a data connection that could not resume.
    pub(crate) fn note_full_handshake(&self) {
        self.with(|s| s.full_handshakes += 1);
    }
}

fn push_bounded(q: &mut VecDeque<Tls13ClientSessionValue>, v: Tls13ClientSessionValue) {
    if q.len() >= MAX_TICKETS {
        q.pop_front();
    }
    q.push_back(v);
}

/// The control connection's view: it stores what it learns; it never
/// resumes (each FTP session starts with a full handshake).
#[derive(Debug)]
pub(crate) struct ControlView(pub(crate) Arc<FtpSessionStore>);

impl ClientSessionStore for ControlView {
    fn set_kx_hint(&self, _: ServerName<'static>, group: NamedGroup) {
        self.0.with(|s| s.kx_hint = Some(group));
    }
    fn kx_hint(&self, _: &ServerName<'_>) -> Option<NamedGroup> {
        self.0.with(|s| s.kx_hint)
    }
    fn set_tls12_session(&self, _: ServerName<'static>, value: Tls12ClientSessionValue) {
        self.0.with(|s| s.tls12 = Some(value));
    }
    fn tls12_session(&self, _: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        None
    }
    fn remove_tls12_session(&self, _: &ServerName<'static>) {}
    fn insert_tls13_ticket(&self, _: ServerName<'static>, value: Tls13ClientSessionValue) {
        self.0.with(|s| {
            s.control_tickets_received += 1;
            s.newest_control = Some(value.clone());
            push_bounded(&mut s.control_tickets, value);
        });
    }
    fn take_tls13_ticket(&self, _: &ServerName<'static>) -> Option<Tls13ClientSessionValue> {
        None
    }
}

/// The data connections' view: resume the control session.
#[derive(Debug)]
pub(crate) struct DataView(pub(crate) Arc<FtpSessionStore>);

impl ClientSessionStore for DataView {
    fn set_kx_hint(&self, _: ServerName<'static>, group: NamedGroup) {
        self.0.with(|s| s.kx_hint = Some(group));
    }
    fn kx_hint(&self, _: &ServerName<'_>) -> Option<NamedGroup> {
        self.0.with(|s| s.kx_hint)
    }
    fn set_tls12_session(&self, _: ServerName<'static>, _: Tls12ClientSessionValue) {
        // Keep the control connection's session.
    }
    fn tls12_session(&self, _: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        self.0.with(|s| s.tls12.clone())
    }
    fn remove_tls12_session(&self, _: &ServerName<'static>) {
        // A failed resumption of a data connection must not make every
        // later one fail too: the control session stays.
    }
    fn insert_tls13_ticket(&self, _: ServerName<'static>, value: Tls13ClientSessionValue) {
        self.0.with(|s| {
            s.data_tickets_received += 1;
            push_bounded(&mut s.data_tickets, value);
        });
    }
    fn take_tls13_ticket(&self, _: &ServerName<'static>) -> Option<Tls13ClientSessionValue> {
        self.0.with(|s| {
            if let Some(t) = s.control_tickets.pop_back() {
                return Some(t);
            }
            if let Some(t) = &s.newest_control {
                s.reused_tickets += 1;
                return Some(t.clone());
            }
            s.data_tickets.pop_back()
        })
    }
}
