//! One actor per active conversation: the single writer that orders its messages.
//!
//! For every `send` it checks membership and hands the message to the group commit,
//! which numbers it (the conversation's next seq, in the order this actor queued its
//! messages), writes it and all it changes in one transaction with the other messages
//! of its group, and flushes. A retry of a stored (sender, client_id) takes no seq: it
//! comes back as the first copy's place. Once an answer is durable the actor queues
//! what follows: the `ack`, the push to every member session. Answers may come back in
//! any order, but the queue is released strictly from its head, so acks and pushes
//! leave in seq order. The actor itself never waits for the store on this path: sled
//! runs a batch's transaction under a process-wide lock, and a read here would stall
//! every conversation behind it.
//!
//! Commands that need the conversation at rest (`read` counts unread messages in the
//! store, a membership change takes a seq) wait until every message in flight is
//! written; commands behind them wait too, so each runs in arrival order.
//!
//! The actor's concerns, one file each: `queue` (entries waiting for their commit
//! barrier, released from the head), `fanout` (what runs once durable: acks, pushes,
//! `conv_update`), `send` (a message handed to the group commit), `read` (`delivered`,
//! `read` and their receipts), `events` (changes to stored messages), `members`
//! (group membership). This file holds the commands and their dispatch.

mod events;
mod fanout;
mod members;
mod queue;
mod read;
mod send;

use std::{collections::VecDeque, sync::Arc, time::Duration};

use actix::{Actor, ActorContext, Addr, AsyncContext, Context, Handler, Message, Recipient};
use tokio::sync::oneshot;

use super::registry::{Deliver, Registry};
use super::{Push, SessionRef};
use crate::clock::mono_ms;
use crate::config::Settings;
use crate::error::{Error, Result};
use crate::protocol::{MessageKind, ServerFrame};
use crate::store::{ConvRecord, Store};
use events::Change;
use fanout::Effect;
use queue::{Barrier, Pending, Waiter};
use read::RecentSenders;

/// How long a conversation actor lives without commands.
const IDLE_AFTER: Duration = Duration::from_secs(300);

/// A command for conversation `conv` from `user`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ConvCommand {
    /// Conversation.
    pub conv: u64,
    /// Acting user.
    pub user: String,
    /// What to do.
    pub cmd: Command,
}

/// What a member asks of a conversation.
pub enum Command {
    /// Store a message.
    Send {
        /// Where the ack goes.
        session: SessionRef,
        /// What to store.
        message: Outgoing,
    },
    /// Cumulative delivery confirmation.
    Delivered {
        /// Origin.
        session: SessionRef,
        /// Up to here.
        seq: u64,
    },
    /// Cumulative read confirmation.
    Read {
        /// Origin.
        session: SessionRef,
        /// Up to here.
        seq: u64,
    },
    /// Store a message sent over HTTP: the same path as [`Command::Send`], answered
    /// through `reply` instead of an `ack` frame.
    Post {
        /// What to store.
        message: Outgoing,
        /// Where it landed.
        reply: oneshot::Sender<Result<Posted>>,
    },
    /// Take a message back.
    Recall {
        /// Origin.
        session: SessionRef,
        /// Which.
        seq: u64,
    },
    /// Replace the text of one's own message.
    Edit {
        /// Origin.
        session: SessionRef,
        /// Which.
        seq: u64,
        /// The new text.
        body: String,
        /// Dedupe id.
        client_id: String,
    },
    /// Add or take back a reaction.
    React {
        /// Origin.
        session: SessionRef,
        /// Which.
        seq: u64,
        /// The emoji.
        emoji: String,
        /// Add or take back.
        on: bool,
        /// Dedupe id.
        client_id: String,
    },
    /// Relay "typing".
    Typing {
        /// Origin.
        session: SessionRef,
    },
    /// A frame naming this conversation that cannot be run: its origin gets `error`
    /// once membership is checked, so a non-member hears `no_such_conversation` first.
    Refuse {
        /// Origin.
        session: SessionRef,
        /// What a member is told.
        error: Error,
        /// The frame's `ref`.
        reference: String,
    },
    /// Answer [`Push::Settled`] once everything the session sent here before is
    /// answered and has taken effect: a `pong` waits for it (so a `read` before a
    /// `ping` has moved the member state when the pong comes), and so does a flooding
    /// socket's close (so its acks arrive before the close).
    Settle {
        /// Origin.
        session: SessionRef,
        /// The session's name for this barrier, echoed in [`Push::Settled`].
        token: u64,
    },
    /// Add and remove group members (HTTP); answered once durable.
    ChangeMembers {
        /// Usernames to add.
        add: Vec<String>,
        /// Usernames to remove.
        remove: Vec<String>,
        /// The outcome.
        reply: oneshot::Sender<Result<()>>,
    },
    /// Rename a group (HTTP; owner or admin); answered once durable.
    Rename {
        /// The new name, already checked (1-64 characters).
        name: String,
        /// The outcome.
        reply: oneshot::Sender<Result<()>>,
    },
    /// Make members admins or not (HTTP; owner only); answered once durable.
    SetAdmins {
        /// Members to make admins.
        add: Vec<String>,
        /// Admins to make members again.
        remove: Vec<String>,
        /// The outcome.
        reply: oneshot::Sender<Result<()>>,
    },
}

/// Where a message sent over HTTP landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    /// Conversation (of the first copy, for a retry).
    pub conv: u64,
    /// Its seq.
    pub seq: u64,
    /// Its server time.
    pub ts: u64,
    /// The sender's id for it.
    pub client_id: String,
    /// Stored now (false: a retry of a stored client_id).
    pub created: bool,
}

/// A message as the sender gave it, before it has a seq.
pub struct Outgoing {
    /// Dedupe id.
    pub client_id: String,
    /// Kind.
    pub kind: MessageKind,
    /// Body.
    pub body: String,
    /// Media link.
    pub media_url: Option<String>,
    /// The seq it answers.
    pub reply_to: Option<u64>,
    /// Usernames it mentions, as given (the actor keeps members only, at most 50).
    pub mentions: Vec<String>,
}

impl Command {
    /// The session a command came from, and the `ref` its errors carry.
    pub fn origin(&self) -> Option<(&SessionRef, String)> {
        match self {
            Command::Send { session, message } => Some((session, message.client_id.clone())),
            Command::Delivered { session, .. } => Some((session, "delivered".into())),
            Command::Read { session, .. } => Some((session, "read".into())),
            Command::Recall { session, .. } => Some((session, "recall".into())),
            Command::Edit {
                session, client_id, ..
            }
            | Command::React {
                session, client_id, ..
            } => Some((session, client_id.clone())),
            Command::Typing { session } => Some((session, "typing".into())),
            Command::Refuse {
                session, reference, ..
            } => Some((session, reference.clone())),
            Command::ChangeMembers { .. }
            | Command::Rename { .. }
            | Command::SetAdmins { .. }
            | Command::Post { .. }
            | Command::Settle { .. } => None,
        }
    }
}

/// Stop now (sent by the hub once it agreed the actor is idle).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Stop;

/// The actor of one conversation.
pub struct Conversation {
    conv: u64,
    record: ConvRecord,
    members: Arc<[String]>,
    /// Newest seq the store has answered for (exact when nothing is in flight).
    last_seq: u64,
    /// Last seq known durable: what readers and views may show.
    durable_seq: u64,
    pending: VecDeque<Pending>,
    /// Messages handed to the group commit and not answered yet.
    writing: usize,
    /// Commands waiting for the conversation to be at rest, in arrival order.
    deferred: VecDeque<ConvCommand>,
    /// Who sent the newest messages, for receipts without a store read.
    recent: RecentSenders,
    next_id: u64,
    handled: u64,
    last_activity: u64,
    store: Arc<Store>,
    registry: Addr<Registry>,
    /// Told when this actor has been idle (the hub then stops it).
    idle: Recipient<Idle>,
    settings: Arc<Settings>,
}

impl Conversation {
    /// The actor for `conv`, whose newest stored seq is `last_seq`.
    pub fn new(
        conv: u64,
        record: ConvRecord,
        last_seq: u64,
        store: Arc<Store>,
        registry: Addr<Registry>,
        idle: Recipient<Idle>,
        settings: Arc<Settings>,
    ) -> Self {
        Conversation {
            conv,
            members: record.members.clone().into(),
            record,
            last_seq,
            durable_seq: last_seq,
            pending: VecDeque::new(),
            writing: 0,
            deferred: VecDeque::new(),
            recent: RecentSenders::default(),
            next_id: 0,
            handled: 0,
            last_activity: mono_ms(),
            store,
            registry,
            idle,
            settings,
        }
    }
}

/// A conversation actor has been idle; it handled `handled` commands (to its owner, the
/// hub, which stops it unless a command is on its way).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Idle {
    /// Which conversation.
    pub conv: u64,
    /// Commands it handled so far.
    pub handled: u64,
}

impl Actor for Conversation {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(IDLE_AFTER / 5, |this, _| {
            if this.pending.is_empty()
                && this.deferred.is_empty()
                && mono_ms().saturating_sub(this.last_activity) > IDLE_AFTER.as_millis() as u64
            {
                this.idle.do_send(Idle {
                    conv: this.conv,
                    handled: this.handled,
                });
            }
        });
    }
}

impl Conversation {
    /// Whether `cmd` must wait behind what is in flight or deferred.
    fn must_wait(&self, cmd: &Command) -> bool {
        match cmd {
            Command::Typing { .. } => false,
            Command::Read { .. } | Command::ChangeMembers { .. } | Command::Rename { .. } => {
                self.writing > 0 || !self.deferred.is_empty()
            }
            _ => !self.deferred.is_empty(),
        }
    }

    /// Runs deferred commands in order until one has to wait again.
    fn resume(&mut self, ctx: &mut Context<Self>) {
        while let Some(front) = self.deferred.front() {
            let at_rest_needed = matches!(
                front.cmd,
                Command::Read { .. } | Command::ChangeMembers { .. } | Command::Rename { .. }
            );
            if at_rest_needed && self.writing > 0 {
                break;
            }
            if let Some(cmd) = self.deferred.pop_front() {
                self.execute(cmd, ctx);
            }
        }
    }

    fn execute(&mut self, msg: ConvCommand, ctx: &mut Context<Self>) {
        let ConvCommand { user, cmd, .. } = msg;
        if !self.record.has_member(&user) {
            return cmd.fail(Error::NoSuchConversation);
        }
        let origin = cmd.origin().map(|(s, r)| (s.clone(), r));
        let outcome = match cmd {
            Command::Send { session, message } => {
                let client_id = message.client_id.clone();
                self.prepare(user, message).map(|queued| {
                    self.send(ctx, queued, Waiter::Session(session, client_id));
                })
            }
            Command::Post { message, reply } => {
                let client_id = message.client_id.clone();
                match self.prepare(user, message) {
                    Ok(queued) => self.send(ctx, queued, Waiter::Post(client_id, reply)),
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                }
                Ok(())
            }
            Command::Delivered { session, seq } => self.delivered(ctx, user, session, seq),
            Command::Read { session, seq } => self.read(ctx, user, session, seq),
            Command::Recall { session, seq } => {
                let change = Change::new(MessageKind::Recall, seq, String::new(), None);
                self.change(ctx, user, session, change)
            }
            Command::Edit {
                session,
                seq,
                body,
                client_id,
            } => {
                let change = Change::new(MessageKind::Edit, seq, body, None);
                self.change(ctx, user, session, change.with_id(client_id))
            }
            Command::React {
                session,
                seq,
                emoji,
                on,
                client_id,
            } => {
                let change = Change::new(MessageKind::Reaction, seq, emoji, Some(on));
                self.change(ctx, user, session, change.with_id(client_id))
            }
            Command::Typing { session } => {
                let frame = ServerFrame::Typing {
                    conv: self.conv,
                    user: user.clone(),
                };
                let others: Vec<String> = self
                    .members
                    .iter()
                    .filter(|m| **m != user)
                    .cloned()
                    .collect();
                self.registry.do_send(Deliver {
                    users: others.into(),
                    push: Push::Frame(frame.to_json().into()),
                    except: Some(session.id),
                });
                Ok(())
            }
            Command::ChangeMembers { add, remove, reply } => {
                self.change_members(ctx, user, add, remove, reply);
                Ok(())
            }
            Command::Rename { name, reply } => {
                self.rename(ctx, user, name, reply);
                Ok(())
            }
            Command::SetAdmins { add, remove, reply } => {
                self.set_admins(ctx, user, add, remove, reply);
                Ok(())
            }
            Command::Refuse { error, .. } => Err(error),
            Command::Settle { session, token } => {
                // answered behind every earlier entry: their acks and errors go out
                // first, to the same mailbox
                let settled = vec![Effect::Settled(session, token)];
                self.after(ctx, Barrier::Queued, settled, None);
                Ok(())
            }
        };
        if let (Err(e), Some((session, reference))) = (outcome, origin) {
            session.frame(ServerFrame::error(&e, Some(reference)).to_json().into());
        }
    }
}

impl Handler<ConvCommand> for Conversation {
    type Result = ();

    fn handle(&mut self, msg: ConvCommand, ctx: &mut Context<Self>) {
        self.handled += 1;
        self.last_activity = mono_ms();
        if self.must_wait(&msg.cmd) {
            self.deferred.push_back(msg);
        } else {
            self.execute(msg, ctx);
        }
    }
}

impl Handler<Stop> for Conversation {
    type Result = ();

    fn handle(&mut self, _: Stop, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}
