//! The supervisor: one timer for all sockets. Each sweep closes the sessions that have
//! been silent longer than the heartbeat timeout (4000) and those that never
//! authenticated in time (4001). Sessions only store a timestamp on each frame.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use actix::{Actor, AsyncContext, Context, Handler, Message, Recipient};

use super::{Push, SessionId};
use crate::clock::mono_ms;

/// What a session shares with the supervisor.
#[derive(Debug, Clone, Default)]
pub struct Liveness {
    /// [`mono_ms`] of the last frame received.
    pub last_seen: Arc<AtomicU64>,
    /// Set once the session authenticated.
    pub authed: Arc<AtomicBool>,
}

impl Liveness {
    /// Fresh liveness, seen now.
    pub fn now() -> Self {
        let l = Liveness::default();
        l.touch();
        l
    }

    /// Records a sign of life.
    pub fn touch(&self) {
        self.last_seen.store(mono_ms(), Ordering::Relaxed);
    }
}

struct Watched {
    liveness: Liveness,
    opened: u64,
    recipient: Recipient<Push>,
}

/// Watches every open socket.
pub struct Supervisor {
    heartbeat_timeout_ms: u64,
    auth_timeout_ms: u64,
    sessions: HashMap<SessionId, Watched>,
    /// Set by [`CloseAll`]: a socket that registers afterwards (accepted just before the
    /// listeners paused) is closed with this code at once instead of being served.
    closing: Option<u16>,
}

impl Supervisor {
    /// A supervisor with the given timeouts.
    pub fn new(heartbeat_timeout: Duration, auth_timeout: Duration) -> Self {
        Supervisor {
            heartbeat_timeout_ms: heartbeat_timeout.as_millis() as u64,
            auth_timeout_ms: auth_timeout.as_millis() as u64,
            sessions: HashMap::new(),
            closing: None,
        }
    }

    /// Closes the sockets that are due; O(open sockets).
    fn sweep(&mut self) {
        let now = mono_ms();
        let (hb, auth) = (self.heartbeat_timeout_ms, self.auth_timeout_ms);
        self.sessions.retain(|_, w| {
            let close = if !w.liveness.authed.load(Ordering::Relaxed)
                && now.saturating_sub(w.opened) > auth
            {
                Some((4001, "authentication timeout"))
            } else if now.saturating_sub(w.liveness.last_seen.load(Ordering::Relaxed)) > hb {
                Some((4000, "heartbeat timeout"))
            } else {
                None
            };
            match close {
                Some((code, reason)) => {
                    w.recipient.do_send(Push::Close { code, reason });
                    false
                }
                None => true,
            }
        });
    }
}

impl Actor for Supervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let shortest = self.heartbeat_timeout_ms.min(self.auth_timeout_ms);
        let every = Duration::from_millis((shortest / 4).clamp(100, 5_000));
        ctx.run_interval(every, |this, _| this.sweep());
    }
}

/// Watch a new socket.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Watch {
    /// The session.
    pub id: SessionId,
    /// Its shared liveness.
    pub liveness: Liveness,
    /// Where to send `Close`.
    pub recipient: Recipient<Push>,
}

impl Handler<Watch> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: Watch, _: &mut Context<Self>) {
        if let Some(code) = self.closing {
            msg.recipient.do_send(Push::Close {
                code,
                reason: "node shutting down",
            });
            return;
        }
        self.sessions.insert(
            msg.id,
            Watched {
                liveness: msg.liveness,
                opened: mono_ms(),
                recipient: msg.recipient,
            },
        );
    }
}

/// Stop watching a closed socket.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Unwatch(pub SessionId);

impl Handler<Unwatch> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: Unwatch, _: &mut Context<Self>) {
        self.sessions.remove(&msg.0);
    }
}

/// Close every socket (shutdown: 1001), and every one that registers from now on;
/// answers how many were open.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct CloseAll {
    /// Close code.
    pub code: u16,
}

impl Handler<CloseAll> for Supervisor {
    type Result = usize;

    fn handle(&mut self, msg: CloseAll, _: &mut Context<Self>) -> usize {
        self.closing = Some(msg.code);
        let n = self.sessions.len();
        for (_, w) in self.sessions.drain() {
            w.recipient.do_send(Push::Close {
                code: msg.code,
                reason: "node shutting down",
            });
        }
        n
    }
}
