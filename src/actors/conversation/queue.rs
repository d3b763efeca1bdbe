//! The ordering queue: entries wait for their barrier (a write, a read, a queued
//! message) and run strictly from the head, so acks and pushes leave in seq order.

use actix::{AsyncContext, Context, Handler, Message};
use tokio::sync::oneshot;

use super::fanout::Effect;
use super::{Conversation, Posted, SessionRef};
use crate::error::{Error, Result};
use crate::protocol::ServerFrame;
use crate::store::{Landed, QueuedWrite, Ticket};

/// A barrier came back from the group commit (with where a queued message landed).
#[derive(Message)]
#[rtype(result = "()")]
pub(super) struct Durable {
    id: u64,
    outcome: Result<Option<Landed>>,
}

/// Who hears about the outcome.
pub(super) enum Waiter {
    /// A session, with the `ref` its error carries (the client_id of a send).
    Session(SessionRef, String),
    /// An HTTP request waiting for a change to be durable.
    Http(oneshot::Sender<Result<()>>),
    /// An HTTP send (with its client_id), waiting for where it landed.
    Post(String, oneshot::Sender<Result<Posted>>),
}

pub(super) struct Pending {
    pub(super) id: u64,
    pub(super) outcome: Option<Result<()>>,
    pub(super) effects: Vec<Effect>,
    pub(super) waiter: Option<Waiter>,
    /// A message handed to the group commit, not answered yet.
    pub(super) appending: bool,
}

/// What a pending entry waits for.
// Most entries carry a message; boxing it would add an allocation per send.
#[allow(clippy::large_enum_variant)]
pub(super) enum Barrier {
    /// A write this actor made itself.
    Write(Ticket),
    /// Whatever a read saw.
    Read,
    /// A message (or a `delivered`) the group commit writes, numbering messages.
    Append(QueuedWrite),
    /// Nothing of its own: only the entries queued before it.
    Queued,
}

impl Conversation {
    /// Queues `effects` to run once `barrier` is durable.
    pub(super) fn after(
        &mut self,
        ctx: &mut Context<Self>,
        barrier: Barrier,
        effects: Vec<Effect>,
        waiter: Option<Waiter>,
    ) {
        let id = self.next_id;
        self.next_id += 1;
        let me = ctx.address();
        let answer = move |outcome: Result<Option<Landed>>| me.do_send(Durable { id, outcome });
        let mut pending = Pending {
            id,
            outcome: None,
            effects,
            waiter,
            appending: false,
        };
        match barrier {
            Barrier::Write(t) => {
                self.pending.push_back(pending);
                let done = Box::new(move |o: Result<()>| answer(o.map(|()| None)));
                self.store.commit().after_write(t, done);
            }
            Barrier::Read => {
                self.pending.push_back(pending);
                let done = Box::new(move |o: Result<()>| answer(o.map(|()| None)));
                self.store.commit().after_read(done);
            }
            Barrier::Append(write) => {
                self.writing += 1;
                pending.appending = true;
                self.pending.push_back(pending);
                self.store
                    .queue(write, Box::new(move |o| answer(o.map(Some))));
            }
            Barrier::Queued => {
                pending.outcome = Some(Ok(()));
                self.pending.push_back(pending);
                self.release();
            }
        }
    }

    /// Runs the head of the queue while it is resolved.
    pub(super) fn release(&mut self) {
        while self.pending.front().is_some_and(|p| p.outcome.is_some()) {
            let Some(p) = self.pending.pop_front() else {
                break;
            };
            match p.outcome {
                Some(Ok(())) => {
                    for effect in p.effects {
                        self.run(effect);
                    }
                    if let Some(Waiter::Http(tx)) = p.waiter {
                        let _ = tx.send(Ok(()));
                    }
                }
                Some(Err(e)) => {
                    if let Error::Internal(_) = e {
                        tracing::error!(conv = self.conv, error = %e, "write not durable; not acked");
                    }
                    match p.waiter {
                        Some(Waiter::Session(s, reference)) => {
                            s.frame(ServerFrame::error(&e, Some(reference)).to_json().into())
                        }
                        Some(Waiter::Http(tx)) => {
                            let _ = tx.send(Err(e));
                        }
                        Some(Waiter::Post(_, tx)) => {
                            let _ = tx.send(Err(e));
                        }
                        None => {}
                    }
                }
                None => {}
            }
        }
    }
}

impl Handler<Durable> for Conversation {
    type Result = ();

    fn handle(&mut self, msg: Durable, ctx: &mut Context<Self>) {
        let Some(head) = self.pending.front().map(|p| p.id) else {
            return;
        };
        let Some(index) = msg.id.checked_sub(head) else {
            return;
        };
        let (outcome, effects) = match msg.outcome {
            Ok(None) => (Ok(()), Vec::new()),
            Ok(Some(landed)) => (Ok(()), self.landed(index as usize, landed)),
            Err(e) => (Err(e), Vec::new()),
        };
        let Some(p) = self.pending.get_mut(index as usize) else {
            return;
        };
        if std::mem::take(&mut p.appending) {
            self.writing -= 1;
        }
        p.effects.extend(effects);
        p.outcome = Some(outcome);
        self.release();
        self.resume(ctx);
    }
}
