//! Settle barriers: a `pong`, or the close of a flooding socket, waits until every
//! conversation this socket sent frames to has answered them and they have taken
//! effect. A conversation runs a socket's frames in order, and answers a
//! [`Command::Settle`] behind them, so once each has answered, every `send` before it
//! is acked (or refused) and every `read` and `delivered` before it is written and
//! durable. A client that marks its chats read, pings and closes on the pong has
//! moved its member states, however busy the node was (issue 26).

use std::collections::BTreeMap;

use serde_json::Number;

use super::{Ctx, Session};
use crate::actors::conversation::{Command, ConvCommand};
use crate::protocol::ServerFrame;

/// Barriers a session's pings keep under way at most. A ping past them does not start
/// one of its own: its pong waits for the next one, started once an earlier barrier is
/// answered, which covers it too (issue 19.3: dropping those pings left a fast client
/// without the pong it reads up to).
const MAX_PING_BARRIERS: usize = 64;

/// Pongs held at most (a few bytes each); a client that pings this far ahead of its
/// conversations' answers gets `rate_limited` for the ones past it (and counts toward
/// the flood close).
const MAX_HELD_PONGS: usize = 8192;

/// The barriers of one session.
#[derive(Default)]
pub(super) struct Barriers {
    next_token: u64,
    /// Barriers not yet answered: token -> conversations still to answer.
    waiting: BTreeMap<u64, usize>,
    /// Pongs held until their barrier is answered, oldest first; one is sent only after
    /// every pong before it. `None`: waits for the next barrier, not started yet.
    pongs: std::collections::VecDeque<(Option<u64>, Number)>,
    /// Barriers started for pings and not yet answered.
    ping_barriers: usize,
}

impl Barriers {
    /// Whether the barrier `token` has been answered.
    pub(super) fn done(&self, token: u64) -> bool {
        !self.waiting.contains_key(&token)
    }
}

impl Session {
    /// Asks every conversation this socket sent to since the last barrier to answer
    /// once what it sent has taken effect; the barrier's token.
    pub(super) fn settle(&mut self, ctx: &mut Ctx) -> u64 {
        let token = self.barriers.next_token;
        self.barriers.next_token += 1;
        let asked = std::mem::take(&mut self.asked);
        let Some(user) = self.user().map(str::to_owned) else {
            return token;
        };
        if asked.is_empty() {
            return token;
        }
        let session = self.me(ctx);
        self.barriers.waiting.insert(token, asked.len());
        for conv in asked {
            let cmd = Command::Settle {
                session: session.clone(),
                token,
            };
            self.env.hub.do_send(ConvCommand {
                conv,
                user: user.clone(),
                cmd,
            });
        }
        token
    }

    /// A `ping`: its `pong` goes out once every frame before it has taken effect.
    pub(super) fn ping(&mut self, ctx: &mut Ctx, ts: Number) {
        if self.barriers.pongs.len() >= MAX_HELD_PONGS {
            return self.rate_limited(ctx, "ping".into());
        }
        if self.barriers.ping_barriers >= MAX_PING_BARRIERS {
            // the barrier started once one of those is answered covers this ping too
            self.barriers.pongs.push_back((None, ts));
            return;
        }
        let token = self.ping_barrier(ctx);
        if self.barriers.pongs.is_empty() && self.barriers.done(token) {
            return Self::send_frame(ctx, &ServerFrame::Pong { ts });
        }
        self.barriers.pongs.push_back((Some(token), ts));
        self.release_pongs(ctx);
    }

    /// Starts a barrier for pings; the held pongs waiting for one wait for it.
    fn ping_barrier(&mut self, ctx: &mut Ctx) -> u64 {
        let token = self.settle(ctx);
        if !self.barriers.done(token) {
            self.barriers.ping_barriers += 1;
        }
        for (waits_for, _) in self.barriers.pongs.iter_mut() {
            waits_for.get_or_insert(token);
        }
        token
    }

    /// One conversation answered barrier `token`.
    pub(super) fn settled(&mut self, ctx: &mut Ctx, token: u64) {
        if let Some(left) = self.barriers.waiting.get_mut(&token) {
            *left = left.saturating_sub(1);
            if *left == 0 {
                self.barriers.waiting.remove(&token);
                if self.barriers.pongs.iter().any(|(t, _)| *t == Some(token)) {
                    self.barriers.ping_barriers = self.barriers.ping_barriers.saturating_sub(1);
                }
            }
        }
        let unstarted = self.barriers.pongs.iter().any(|(t, _)| t.is_none());
        if unstarted && self.barriers.ping_barriers < MAX_PING_BARRIERS && !self.closing {
            self.ping_barrier(ctx);
        }
        self.release_pongs(ctx);
        self.flood_settled(ctx);
    }

    /// Sends the held pongs whose barriers are answered, from the oldest, stopping at the
    /// first that still waits.
    fn release_pongs(&mut self, ctx: &mut Ctx) {
        while let Some((Some(token), _)) = self.barriers.pongs.front() {
            if !self.barriers.done(*token) {
                break;
            }
            if let Some((_, ts)) = self.barriers.pongs.pop_front() {
                Self::send_frame(ctx, &ServerFrame::Pong { ts });
            }
        }
    }
}
