//! The TLS session store of one control connection: its ticket supply.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::client::{
    ClientSessionStore, Resumption, Tls12ClientSessionValue, Tls13ClientSessionValue,
};
use rustls::pki_types::ServerName;
use rustls::NamedGroup;

/// How many tickets are kept per origin (control, data).
const MAX_TICKETS: usize = 8;

/// Session store of one control connection and its data connections.
///
/// Servers that require session reuse accept a data connection only if it
/// resumes the control connection's session. On TLS 1.2 the control
/// connection's session is offered to every data connection. On TLS 1.3
/// that means a ticket, and each ticket is offered **once** (rustls hands a
/// value out of [`ClientSessionStore::take_tls13_ticket`] at most once; RFC
/// 8446 appendix C.4), so the store is a supply:
///
/// - tickets from the control connection first, oldest first, then
///   tickets that arrived on data connections;
/// - a ticket past its lifetime (less a margin) is dropped, never offered;
/// - when the supply is empty and the server has shown it uses tickets,
///   the client renews the control session before the next data
///   connection ([`ftpkit_control::resumption`] decides; the client does it).
///
/// A renewed session gets a new store: tickets never cross from one control
/// connection to another, nor between concurrent sessions to one host.
#[derive(Debug, Default)]
pub struct SessionStore {
    inner: Mutex<StoreInner>,
}

#[derive(Debug)]
struct Ticket {
    value: Tls13ClientSessionValue,
    /// When it stops being offered; `None` when the lifetime is unknown.
    stale_at: Option<Instant>,
}

#[derive(Debug, Default)]
struct StoreInner {
    kx_hint: Option<NamedGroup>,
    tls12: Option<Tls12ClientSessionValue>,
    control: VecDeque<Ticket>,
    data: VecDeque<Ticket>,
    counts: SessionStats,
}

/// Counters of a client's TLS sessions, for diagnostics. Through
/// `ftpkit::Client::tls_session_stats` they
/// cover every control connection the client has had (see
/// [`refreshes`](Self::refreshes)); the `*_held` fields are the current
/// connection's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionStats {
    /// TLS 1.3 tickets received on control connections.
    pub control_tickets_received: u64,
    /// TLS 1.3 tickets received on data connections.
    pub data_tickets_received: u64,
    /// Control-connection tickets on hand (unused, unexpired).
    pub control_tickets_held: usize,
    /// Data-connection tickets on hand (unused, unexpired).
    pub data_tickets_held: usize,
    /// Tickets offered to data connections (each at most once).
    pub tickets_offered: u64,
    /// Tickets dropped unoffered because their lifetime had passed.
    pub tickets_expired: u64,
    /// Data connections that resumed the control connection's session.
    pub resumed: u64,
    /// Data connections that made a full handshake instead of resuming.
    pub full_handshakes: u64,
    /// Control sessions renewed (new connection, login, state restored)
    /// because no ticket was left, or to recover from a refused reuse.
    pub refreshes: u64,
    /// Data commands sent again on a renewed session after the server
    /// refused a data connection for want of reuse.
    pub retries: u64,
}

impl SessionStats {
    /// Adds `other`'s counters (not its `*_held`) to these.
    pub fn absorb(&mut self, other: &SessionStats) {
        self.control_tickets_received += other.control_tickets_received;
        self.data_tickets_received += other.data_tickets_received;
        self.tickets_offered += other.tickets_offered;
        self.tickets_expired += other.tickets_expired;
        self.resumed += other.resumed;
        self.full_handshakes += other.full_handshakes;
        self.refreshes += other.refreshes;
        self.retries += other.retries;
    }
}

/// The lifetime the server gave a ticket (`ticket_lifetime` of its
/// NewSessionTicket), as rustls records it.
///
/// rustls keeps the lifetime private but prints it in the value's `Debug`
/// form (`lifetime_secs: N`); that is the only public view of it. If a
/// rustls release prints it differently, this returns `None`, the ticket
/// is offered without an age check, and a refused reuse is still recovered
/// from by renewing the session (the client's `open_data`). The test
/// `expired_tickets_are_dropped_and_the_session_renewed`
/// (crates/client/tests/client/resumption.rs) pins this against a real handshake.
pub(crate) fn ticket_lifetime(value: &Tls13ClientSessionValue) -> Option<Duration> {
    const KEY: &str = "lifetime_secs: ";
    let text = format!("{value:?}");
    let start = text.find(KEY)? + KEY.len();
    let digits: String = text
        .get(start..)?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse::<u64>().ok().map(Duration::from_secs)
}

/// When a ticket received now with `lifetime` stops being offered: a
/// margin before the end, for the round trips between the offer and the
/// server's check and for clock granularity (rustls and servers count whole
/// seconds).
fn stale_at(received: Instant, lifetime: Duration) -> Instant {
    let margin = (lifetime / 10).clamp(Duration::from_secs(1), Duration::from_secs(60));
    received + lifetime.saturating_sub(margin)
}

impl StoreInner {
    fn drop_stale(&mut self, now: Instant) {
        for q in [&mut self.control, &mut self.data] {
            let before = q.len();
            q.retain(|t| t.stale_at.is_none_or(|at| now < at));
            self.counts.tickets_expired += (before - q.len()) as u64;
        }
    }

    fn push(&mut self, from_control: bool, value: Tls13ClientSessionValue) {
        let stale_at = ticket_lifetime(&value).map(|l| stale_at(Instant::now(), l));
        let q = if from_control {
            self.counts.control_tickets_received += 1;
            &mut self.control
        } else {
            self.counts.data_tickets_received += 1;
            &mut self.data
        };
        if q.len() >= MAX_TICKETS {
            q.pop_front();
        }
        q.push_back(Ticket { value, stale_at });
    }

    fn take(&mut self) -> Option<Tls13ClientSessionValue> {
        self.drop_stale(Instant::now());
        let t = self.control.pop_front().or_else(|| self.data.pop_front())?;
        self.counts.tickets_offered += 1;
        Some(t.value)
    }
}

impl SessionStore {
    fn with<R>(&self, f: impl FnOnce(&mut StoreInner) -> R) -> R {
        let mut guard = match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut guard)
    }

    /// Unexpired tickets on hand, dropping the stale ones.
    pub fn usable(&self) -> usize {
        self.with(|s| {
            s.drop_stale(Instant::now());
            s.control.len() + s.data.len()
        })
    }

    /// Tickets the server issued on the control connection.
    pub fn control_tickets_received(&self) -> u64 {
        self.with(|s| s.counts.control_tickets_received)
    }

    /// All counters, with what is held now.
    pub fn stats(&self) -> SessionStats {
        self.with(|s| {
            s.drop_stale(Instant::now());
            SessionStats {
                control_tickets_held: s.control.len(),
                data_tickets_held: s.data.len(),
                ..s.counts
            }
        })
    }

    /// Counts how a data connection's handshake went.
    pub fn note_data_handshake(&self, resumed: bool) {
        self.with(|s| {
            if resumed {
                s.counts.resumed += 1;
            } else {
                s.counts.full_handshakes += 1;
            }
        });
    }
}

/// Which connection a [`View`] serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// The control connection: it stores what it learns and never resumes
    /// (each control connection starts with a full handshake).
    Control,
    /// A data connection: it resumes the control connection's session.
    Data,
}

/// The session store as one connection sees it.
#[derive(Debug)]
pub(crate) struct View {
    pub(crate) store: Arc<SessionStore>,
    pub(crate) role: Role,
}

impl View {
    /// rustls's resumption setting for `role`'s connections of a session.
    pub(crate) fn resumption(store: &Arc<SessionStore>, role: Role) -> Resumption {
        Resumption::store(Arc::new(View {
            store: store.clone(),
            role,
        }))
    }
}

impl ClientSessionStore for View {
    fn set_kx_hint(&self, _: ServerName<'static>, group: NamedGroup) {
        self.store.with(|s| s.kx_hint = Some(group));
    }
    fn kx_hint(&self, _: &ServerName<'_>) -> Option<NamedGroup> {
        self.store.with(|s| s.kx_hint)
    }
    fn set_tls12_session(&self, _: ServerName<'static>, value: Tls12ClientSessionValue) {
        // Data connections keep the control connection's session.
        if self.role == Role::Control {
            self.store.with(|s| s.tls12 = Some(value));
        }
    }
    fn tls12_session(&self, _: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        // TLS 1.2 session values are `Clone`: every data connection is
        // offered the control connection's session.
        match self.role {
            Role::Control => None,
            Role::Data => self.store.with(|s| s.tls12.clone()),
        }
    }
    fn remove_tls12_session(&self, _: &ServerName<'static>) {
        // A failed resumption of a data connection must not make every
        // later one fail too: the control session stays.
    }
    fn insert_tls13_ticket(&self, _: ServerName<'static>, value: Tls13ClientSessionValue) {
        let from_control = self.role == Role::Control;
        self.store.with(|s| s.push(from_control, value));
    }
    fn take_tls13_ticket(&self, _: &ServerName<'static>) -> Option<Tls13ClientSessionValue> {
        match self.role {
            Role::Control => None,
            Role::Data => self.store.with(StoreInner::take),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_margin_is_a_tenth_within_bounds() {
        let now = Instant::now();
        assert_eq!(
            stale_at(now, Duration::from_secs(3)),
            now + Duration::from_secs(2)
        );
        assert_eq!(
            stale_at(now, Duration::from_secs(7200)),
            now + Duration::from_secs(7140)
        );
        assert_eq!(
            stale_at(now, Duration::from_secs(100)),
            now + Duration::from_secs(90)
        );
        assert_eq!(stale_at(now, Duration::ZERO), now);
    }
}
