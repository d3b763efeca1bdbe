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

use std::{
    collections::{BTreeSet, VecDeque},
    sync::Arc,
    time::Duration,
};

use actix::{Actor, ActorContext, Addr, AsyncContext, Context, Handler, Message};
use tokio::sync::oneshot;

use super::hub::{Hub, Idle};
use super::registry::{Deliver, Registry};
use super::{Push, SessionRef};
use crate::clock::mono_ms;
use crate::config::Settings;
use crate::error::{Error, Result};
use crate::protocol::{MessageKind, ServerFrame};
use crate::store::{
    self, ConvRecord, DeliveredMark, Landed, MessageRecord, QueuedMessage, QueuedWrite, Store,
    Ticket,
};
use crate::views::conversation_view;

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
    /// Take a message back.
    Recall {
        /// Origin.
        session: SessionRef,
        /// Which.
        seq: u64,
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
    /// answered (a flooding socket waits for it, so its acks arrive before the close).
    Settle {
        /// Origin.
        session: SessionRef,
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
}

impl Command {
    /// The session a command came from, and the `ref` its errors carry.
    pub fn origin(&self) -> Option<(&SessionRef, String)> {
        match self {
            Command::Send { session, message } => Some((session, message.client_id.clone())),
            Command::Delivered { session, .. } => Some((session, "delivered".into())),
            Command::Read { session, .. } => Some((session, "read".into())),
            Command::Recall { session, .. } => Some((session, "recall".into())),
            Command::Typing { session } => Some((session, "typing".into())),
            Command::Refuse {
                session, reference, ..
            } => Some((session, reference.clone())),
            Command::ChangeMembers { .. } | Command::Settle { .. } => None,
        }
    }
}

/// Stop now (sent by the hub once it agreed the actor is idle).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Stop;

/// A barrier came back from the group commit (with where a queued message landed).
#[derive(Message)]
#[rtype(result = "()")]
struct Durable {
    id: u64,
    outcome: Result<Option<Landed>>,
}

/// What to do once a pending entry is durable.
enum Effect {
    /// Push one frame to one session (an ack).
    Frame(SessionRef, Arc<str>),
    /// Tell one session that what it sent before is answered.
    Settled(SessionRef),
    /// Fan out through the registry.
    Deliver(Deliver),
    /// Everything up to this seq is durable.
    DurableUpTo(u64),
    /// Send each of these users its view of the conversation.
    ConvUpdate(Vec<String>),
}

/// Who hears about a failure.
enum Waiter {
    Session(SessionRef, String),
    Http(oneshot::Sender<Result<()>>),
}

struct Pending {
    id: u64,
    outcome: Option<Result<()>>,
    effects: Vec<Effect>,
    waiter: Option<Waiter>,
    /// A message handed to the group commit, not answered yet.
    appending: bool,
}

/// What a pending entry waits for.
enum Barrier {
    /// A write this actor made itself.
    Write(Ticket),
    /// Whatever a read saw.
    Read,
    /// A message (or a `delivered`) the group commit writes, numbering messages.
    Append(QueuedWrite),
    /// Nothing of its own: only the entries queued before it.
    Queued,
}

/// Senders of the newest stored messages, as indexes into the member list: receipts
/// for `delivered` and `read` name the senders of a seq range, and reading that range
/// from the store would decode every message in it on the actor's thread.
#[derive(Default)]
struct RecentSenders {
    /// Seq of `senders[0]`.
    first: u64,
    senders: VecDeque<u32>,
}

impl RecentSenders {
    /// Most seqs remembered (4 bytes each).
    const KEEP: usize = 512;

    /// Records that message `seq` (the next after the last recorded) came from `sender`;
    /// `members` is the conversation's sorted member list.
    fn push(&mut self, seq: u64, sender: &str, members: &[String]) {
        let next = self.first + self.senders.len() as u64;
        // The member list is sorted (see `ConvRecord::has_member`).
        let index = members.binary_search_by(|m| m.as_str().cmp(sender)).ok();
        match index {
            Some(i) if self.senders.is_empty() || seq == next => {
                if self.senders.is_empty() {
                    self.first = seq;
                }
                self.senders.push_back(i as u32);
                if self.senders.len() > Self::KEEP {
                    self.senders.pop_front();
                    self.first += 1;
                }
            }
            _ => self.clear(),
        }
    }

    /// Forgets everything (the member list changed, or a seq was missed).
    fn clear(&mut self) {
        self.senders.clear();
    }

    /// The senders of seqs in (from, to], if all of them are remembered.
    fn senders(&self, from: u64, to: u64, members: &[String]) -> Option<BTreeSet<String>> {
        if from >= to {
            return Some(BTreeSet::new());
        }
        let end = self.first + self.senders.len() as u64;
        if self.senders.is_empty() || from + 1 < self.first || to >= end {
            return None;
        }
        let skip = (from + 1 - self.first) as usize;
        let take = (to - from) as usize;
        self.senders
            .iter()
            .skip(skip)
            .take(take)
            .map(|&i| members.get(i as usize).cloned())
            .collect()
    }
}

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
    hub: Addr<Hub>,
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
        hub: Addr<Hub>,
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
            hub,
            settings,
        }
    }

    /// Queues `effects` to run once `barrier` is durable.
    fn after(
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
    fn release(&mut self) {
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
                    tracing::error!(conv = self.conv, error = %e, "write not durable; not acked");
                    match p.waiter {
                        Some(Waiter::Session(s, reference)) => {
                            s.frame(ServerFrame::error(&e, Some(reference)).to_json().into())
                        }
                        Some(Waiter::Http(tx)) => {
                            let _ = tx.send(Err(e));
                        }
                        None => {}
                    }
                }
                None => {}
            }
        }
    }

    fn run(&mut self, effect: Effect) {
        match effect {
            Effect::Frame(session, frame) => session.frame(frame),
            Effect::Settled(session) => session.push(Push::Settled),
            Effect::Deliver(d) => self.registry.do_send(d),
            Effect::DurableUpTo(seq) => self.durable_seq = self.durable_seq.max(seq),
            Effect::ConvUpdate(users) => {
                for user in users {
                    let view =
                        self.store
                            .member_state(&user, self.conv)
                            .and_then(|state| match state {
                                Some(state) => conversation_view(
                                    &self.store,
                                    self.conv,
                                    &self.record,
                                    &state,
                                    &user,
                                    self.durable_seq,
                                )
                                .map(Some),
                                None => Ok(None),
                            });
                    match view {
                        Ok(Some(conversation)) => self.registry.do_send(Deliver {
                            users: vec![user].into(),
                            push: Push::Frame(
                                ServerFrame::conv_update(conversation).to_json().into(),
                            ),
                            except: None,
                        }),
                        Ok(None) => {}
                        Err(e) => tracing::warn!(error = %e, "conv_update view"),
                    }
                }
            }
        }
    }

    /// What follows once the write of pending entry `index` has landed: for a stored
    /// message the ack and the push to the members, for a retry the first copy's ack,
    /// for a `delivered` the receipts.
    fn landed(&mut self, index: usize, landed: Landed) -> Vec<Effect> {
        if let Landed::Delivered { user, before, upto } = landed {
            if upto <= before {
                return Vec::new();
            }
            return self
                .receipts(&user, before, upto, "delivered")
                .unwrap_or_else(|e| {
                    tracing::warn!(conv = self.conv, error = %e, "delivered receipts");
                    Vec::new()
                });
        }
        let Some(Waiter::Session(session, client_id)) =
            self.pending.get(index).and_then(|p| p.waiter.as_ref())
        else {
            return Vec::new();
        };
        let session = session.clone();
        let ack = |conv, seq, ts| {
            let frame = ServerFrame::Ack {
                client_id: client_id.clone(),
                conv,
                seq,
                ts,
            };
            Effect::Frame(session.clone(), frame.to_json().into())
        };
        match landed {
            Landed::Stored { seq, record } => {
                let ack = ack(self.conv, seq, record.ts);
                self.last_seq = self.last_seq.max(seq);
                self.recent.push(seq, &record.sender, &self.members);
                let message = ServerFrame::Message {
                    msg: record.view(self.conv, seq),
                };
                vec![
                    Effect::DurableUpTo(seq),
                    ack,
                    Effect::Deliver(Deliver {
                        users: self.members.clone(),
                        push: Push::Message {
                            conv: self.conv,
                            seq,
                            frame: message.to_json().into(),
                        },
                        except: Some(session.id),
                    }),
                ]
            }
            Landed::Duplicate { conv, seq, ts } => vec![ack(conv, seq, ts)],
            Landed::Delivered { .. } => Vec::new(),
        }
    }

    fn deliver_all(&self, frame: ServerFrame, except: Option<u64>) -> Effect {
        Effect::Deliver(Deliver {
            users: self.members.clone(),
            push: Push::Frame(frame.to_json().into()),
            except,
        })
    }

    fn send(
        &mut self,
        ctx: &mut Context<Self>,
        user: String,
        session: SessionRef,
        message: Outgoing,
    ) -> Result<()> {
        let Outgoing {
            client_id,
            kind,
            body,
            media_url,
        } = message;
        if let Some(url) = &media_url {
            self.check_media(&user, url)?;
        }
        let record = MessageRecord {
            sender: user,
            client_id: client_id.clone(),
            kind,
            body,
            media_url,
            ts: store::now_ms(),
            recalled: false,
        };
        let waiter = Some(Waiter::Session(session, client_id));
        let new = QueuedMessage {
            conv: self.conv,
            record,
            members: self.members.clone(),
        };
        self.after(
            ctx,
            Barrier::Append(QueuedWrite::Message(new)),
            Vec::new(),
            waiter,
        );
        Ok(())
    }

    /// A media link may point at the sender's own upload or at media already shared
    /// with the sender; anything else would leak another user's files.
    fn check_media(&self, user: &str, url: &str) -> Result<()> {
        if url.starts_with("https://") || url.starts_with("http://") {
            return Ok(());
        }
        let unknown = || Error::bad("media_url does not name media you may share");
        let id = store::media_id_of(url).ok_or_else(unknown)?;
        match self.store.media_visible_to(user, id)? {
            Some(_) => Ok(()),
            None => Err(unknown()),
        }
    }

    fn delivered(
        &mut self,
        ctx: &mut Context<Self>,
        user: String,
        session: SessionRef,
        seq: u64,
    ) -> Result<()> {
        let mark = DeliveredMark {
            user,
            conv: self.conv,
            upto: seq.min(self.durable_seq),
        };
        self.after(
            ctx,
            Barrier::Append(QueuedWrite::Delivered(mark)),
            Vec::new(),
            Some(Waiter::Session(session, "delivered".into())),
        );
        Ok(())
    }

    fn read(
        &mut self,
        ctx: &mut Context<Self>,
        user: String,
        session: SessionRef,
        seq: u64,
    ) -> Result<()> {
        let Some(state) = self.store.member_state(&user, self.conv)? else {
            return Err(Error::NoSuchConversation);
        };
        let upto = seq.min(self.durable_seq);
        if upto <= state.read_seq {
            return Ok(());
        }
        // Count the shorter range: what stays unread, or what was just read.
        let unread = if self.last_seq - upto <= upto - state.read_seq {
            self.store
                .count_unread(self.conv, &user, upto, self.last_seq)?
        } else {
            let just_read = self
                .store
                .count_unread(self.conv, &user, state.read_seq, upto)?;
            state.unread.saturating_sub(just_read)
        };
        let old = state.read_seq;
        let updated = self.store.update_member_state(&user, self.conv, |s| {
            s.read_seq = s.read_seq.max(upto);
            s.delivered_seq = s.delivered_seq.max(upto);
            s.unread = unread;
        })?;
        let Some((_, ticket)) = updated else {
            return Err(Error::NoSuchConversation);
        };
        let mut effects = self.receipts(&user, old, upto, "read")?;
        effects.push(Effect::Deliver(Deliver {
            users: vec![user].into(),
            push: Push::Frame(
                ServerFrame::Unread {
                    conv: self.conv,
                    count: unread,
                }
                .to_json()
                .into(),
            ),
            except: Some(session.id),
        }));
        self.after(
            ctx,
            Barrier::Write(ticket),
            effects,
            Some(Waiter::Session(session, "read".into())),
        );
        Ok(())
    }

    /// Receipts to the senders of messages in (from, to], other than `user`.
    fn receipts(
        &self,
        user: &str,
        from: u64,
        to: u64,
        status: &'static str,
    ) -> Result<Vec<Effect>> {
        let mut senders = match self.recent.senders(from, to, &self.members) {
            Some(senders) => senders,
            None => self.store.senders_between(self.conv, from, to)?,
        };
        senders.remove(user);
        senders.retain(|s| self.record.has_member(s));
        if senders.is_empty() {
            return Ok(Vec::new());
        }
        let frame = ServerFrame::Receipt {
            conv: self.conv,
            user: user.to_string(),
            status,
            seq: to,
        };
        Ok(vec![Effect::Deliver(Deliver {
            users: senders.into_iter().collect::<Vec<_>>().into(),
            push: Push::Frame(frame.to_json().into()),
            except: None,
        })])
    }

    fn recall(
        &mut self,
        ctx: &mut Context<Self>,
        user: String,
        session: SessionRef,
        seq: u64,
    ) -> Result<()> {
        if seq == 0 || seq > self.durable_seq {
            return Err(Error::bad("no such message"));
        }
        let msg = self
            .store
            .message(self.conv, seq)?
            .ok_or_else(|| Error::bad("no such message"))?;
        if msg.sender != user || msg.kind == MessageKind::System {
            return Err(Error::NotSender);
        }
        let window = self
            .settings
            .messages
            .recall_window_secs
            .saturating_mul(1000);
        if store::now_ms().saturating_sub(msg.ts) > window {
            return Err(Error::RecallWindowPassed);
        }
        let (changed, ticket) = self.store.recall(self.conv, seq, &self.members)?;
        let mut effects = vec![self.deliver_all(
            ServerFrame::Recalled {
                conv: self.conv,
                seq,
                by: user,
            },
            None,
        )];
        for (member, count) in changed {
            effects.push(Effect::Deliver(Deliver {
                users: vec![member].into(),
                push: Push::Frame(
                    ServerFrame::Unread {
                        conv: self.conv,
                        count,
                    }
                    .to_json()
                    .into(),
                ),
                except: None,
            }));
        }
        self.after(
            ctx,
            Barrier::Write(ticket),
            effects,
            Some(Waiter::Session(session, "recall".into())),
        );
        Ok(())
    }

    fn change_members(
        &mut self,
        ctx: &mut Context<Self>,
        user: String,
        add: Vec<String>,
        remove: Vec<String>,
        reply: oneshot::Sender<Result<()>>,
    ) {
        match self.plan_members(&user, &add, &remove) {
            Ok(Some((record, added, removed, body))) => {
                let seq = self.last_seq + 1;
                let message = MessageRecord {
                    sender: user,
                    client_id: String::new(),
                    kind: MessageKind::System,
                    body,
                    media_url: None,
                    ts: store::now_ms(),
                    recalled: false,
                };
                let change = store::MembershipChange {
                    conv: self.conv,
                    record: &record,
                    added: &added,
                    removed: &removed,
                    seq,
                    message: &message,
                };
                match self.store.change_members(&change) {
                    Ok(ticket) => {
                        let frame = ServerFrame::Message {
                            msg: message.view(self.conv, seq),
                        };
                        let mut audience: Vec<String> = self.members.to_vec();
                        audience.extend(added.iter().cloned());
                        self.last_seq = seq;
                        self.record = record;
                        self.members = self.record.members.clone().into();
                        self.recent.clear();
                        let effects = vec![
                            Effect::DurableUpTo(seq),
                            Effect::Deliver(Deliver {
                                users: audience.into(),
                                push: Push::Message {
                                    conv: self.conv,
                                    seq,
                                    frame: frame.to_json().into(),
                                },
                                except: None,
                            }),
                            Effect::ConvUpdate(self.members.to_vec()),
                        ];
                        self.after(
                            ctx,
                            Barrier::Write(ticket),
                            effects,
                            Some(Waiter::Http(reply)),
                        );
                    }
                    Err(e) => {
                        self.last_seq = self.store.last_seq(self.conv).unwrap_or(self.last_seq);
                        let _ = reply.send(Err(e));
                    }
                }
            }
            Ok(None) => self.after(ctx, Barrier::Read, Vec::new(), Some(Waiter::Http(reply))),
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        }
    }

    /// Checks a membership change; the new record, who joins, who leaves and the
    /// system message's text, or `None` if nothing would change.
    #[allow(clippy::type_complexity)]
    fn plan_members(
        &self,
        user: &str,
        add: &[String],
        remove: &[String],
    ) -> Result<Option<(ConvRecord, Vec<String>, Vec<String>, String)>> {
        if self.record.kind != crate::protocol::ConvKind::Group {
            return Err(Error::bad("a direct conversation has fixed members"));
        }
        let mut added: Vec<String> = add
            .iter()
            .filter(|u| !self.record.has_member(u))
            .cloned()
            .collect();
        added.sort();
        added.dedup();
        for u in &added {
            if self.store.user(u)?.is_none() {
                return Err(Error::bad(format!("no such user: {u}")));
            }
        }
        let mut removed: Vec<String> = remove
            .iter()
            .filter(|u| self.record.has_member(u))
            .cloned()
            .collect();
        removed.sort();
        removed.dedup();
        if removed.iter().any(|u| u != user) && self.record.creator != user {
            return Err(Error::Forbidden(
                "only the group's creator may remove others".into(),
            ));
        }
        removed.retain(|u| !added.contains(u));
        if added.is_empty() && removed.is_empty() {
            return Ok(None);
        }
        let mut record = self.record.clone();
        record.members.extend(added.iter().cloned());
        record.members.retain(|m| !removed.contains(m));
        record.members.sort();
        if record.members.len() > self.settings.limits.max_group_members {
            return Err(Error::bad("too many members"));
        }
        let mut parts = Vec::new();
        if !added.is_empty() {
            parts.push(format!("{user} added {}", added.join(", ")));
        }
        if removed.as_slice() == [user.to_string()] {
            parts.push(format!("{user} left"));
        } else if !removed.is_empty() {
            parts.push(format!("{user} removed {}", removed.join(", ")));
        }
        Ok(Some((record, added, removed, parts.join("; "))))
    }
}

impl Actor for Conversation {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(IDLE_AFTER / 5, |this, _| {
            if this.pending.is_empty()
                && this.deferred.is_empty()
                && mono_ms().saturating_sub(this.last_activity) > IDLE_AFTER.as_millis() as u64
            {
                this.hub.do_send(Idle {
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
            Command::Read { .. } | Command::ChangeMembers { .. } => {
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
                Command::Read { .. } | Command::ChangeMembers { .. }
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
            Command::Send { session, message } => self.send(ctx, user, session, message),
            Command::Delivered { session, seq } => self.delivered(ctx, user, session, seq),
            Command::Read { session, seq } => self.read(ctx, user, session, seq),
            Command::Recall { session, seq } => self.recall(ctx, user, session, seq),
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
            Command::Refuse { error, .. } => Err(error),
            Command::Settle { session } => {
                // answered behind every earlier entry: their acks and errors go out
                // first, to the same mailbox
                self.after(ctx, Barrier::Queued, vec![Effect::Settled(session)], None);
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

impl Handler<Stop> for Conversation {
    type Result = ();

    fn handle(&mut self, _: Stop, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_senders_answer_only_ranges_they_hold() {
        let members: Vec<String> = ["ann", "bob"].iter().map(|s| s.to_string()).collect();
        let mut recent = RecentSenders::default();
        for (seq, sender) in [(5, "ann"), (6, "bob"), (7, "ann")] {
            recent.push(seq, sender, &members);
        }
        let names = |set: Option<BTreeSet<String>>| set.map(|s| s.into_iter().collect::<Vec<_>>());
        assert_eq!(
            names(recent.senders(4, 5, &members)),
            Some(vec!["ann".into()])
        );
        assert_eq!(
            names(recent.senders(4, 7, &members)),
            Some(vec!["ann".into(), "bob".into()])
        );
        assert_eq!(names(recent.senders(7, 7, &members)), Some(vec![]));
        // outside what it holds: the caller reads the store
        assert_eq!(recent.senders(3, 6, &members), None);
        assert_eq!(recent.senders(5, 8, &members), None);
        // a missed seq or an unknown sender forgets everything
        recent.push(9, "ann", &members);
        assert_eq!(recent.senders(4, 5, &members), None);
        recent.push(10, "ann", &members);
        recent.push(11, "zed", &members);
        assert_eq!(recent.senders(9, 10, &members), None);
        // it keeps the newest KEEP seqs
        for seq in 1..=(RecentSenders::KEEP as u64 + 10) {
            recent.push(seq, "bob", &members);
        }
        assert_eq!(recent.senders(9, 11, &members), None);
        assert!(recent.senders(10, 12, &members).is_some());
    }
}
