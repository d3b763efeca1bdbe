//! The registry: which sessions each user has, fan-out to them, and presence.

use std::{collections::HashMap, sync::Arc};

use actix::{Actor, Context, Handler, Message};

use super::{Push, SessionId, SessionRef};
use crate::protocol::ServerFrame;
use crate::push::{Offer, PushHandle};
use crate::store::Store;

/// Sends each member its view of a new conversation (`conv_update`): a conversation
/// made over HTTP or by a session's first `send` with `to` appears on every socket.
pub fn announce(
    store: &Store,
    registry: &actix::Addr<Registry>,
    conv: u64,
    members: &[String],
) -> crate::error::Result<()> {
    for member in members {
        if let Some(conversation) = crate::views::current_view(store, conv, member)? {
            registry.do_send(Deliver {
                users: vec![member.clone()].into(),
                push: Push::Frame(ServerFrame::conv_update(conversation).to_json().into()),
                except: None,
            });
        }
    }
    Ok(())
}

/// Knows every authenticated session by user.
pub struct Registry {
    store: Arc<Store>,
    max_sessions_per_user: usize,
    users: HashMap<String, Vec<(SessionRef, [u8; 32])>>,
    push: PushHandle,
}

impl Registry {
    /// An empty registry allowing `max_sessions_per_user` sockets per user.
    pub fn new(store: Arc<Store>, max_sessions_per_user: usize) -> Self {
        Registry {
            store,
            max_sessions_per_user,
            users: HashMap::new(),
            push: PushHandle::disabled(),
        }
    }

    /// The same registry, offering pushes for offline members to `push`.
    pub fn with_push(mut self, push: PushHandle) -> Self {
        self.push = push;
        self
    }

    /// Users who share a conversation with `user`.
    fn peers(&self, user: &str) -> Vec<String> {
        let mut peers = Vec::new();
        let convs = match self.store.user_conversations(user) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "presence: cannot list conversations");
                return peers;
            }
        };
        for (conv, _) in convs {
            if let Ok(Some(rec)) = self.store.conversation(conv) {
                peers.extend(rec.members.into_iter().filter(|m| m != user));
            }
        }
        peers.sort();
        peers.dedup();
        peers
    }

    fn presence(&self, user: &str, online: bool) {
        let frame: Arc<str> = ServerFrame::Presence {
            user: user.to_string(),
            online,
        }
        .to_json()
        .into();
        for peer in self.peers(user) {
            self.push_user(&peer, &Push::Frame(frame.clone()), None);
        }
    }

    fn push_user(&self, user: &str, push: &Push, except: Option<SessionId>) {
        if let Some(sessions) = self.users.get(user) {
            for (s, _) in sessions {
                if Some(s.id) != except {
                    s.push(push.clone());
                }
            }
        }
    }
}

impl Actor for Registry {
    type Context = Context<Self>;
}

/// A session authenticated as `user` (with the token whose hash is `token_hash`);
/// answers `false` if the user already has `limits.max_sessions_per_user` sockets.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct Connect {
    /// Username.
    pub user: String,
    /// The session.
    pub session: SessionRef,
    /// Hash of the token it used (for logout).
    pub token_hash: [u8; 32],
}

impl Handler<Connect> for Registry {
    type Result = bool;

    fn handle(&mut self, msg: Connect, _: &mut Context<Self>) -> bool {
        // The token may have been revoked between the session's check and now: then
        // the revocation's close has passed already, and this session gets its own.
        if !matches!(self.store.token(&msg.token_hash), Ok(Some(_))) {
            close_unauthorized(&msg.session, "token revoked");
            return true;
        }
        let sessions = self.users.entry(msg.user.clone()).or_default();
        if sessions.len() >= self.max_sessions_per_user {
            return false;
        }
        let first = sessions.is_empty();
        sessions.push((msg.session, msg.token_hash));
        if first {
            self.presence(&msg.user, true);
        }
        true
    }
}

/// A session ended.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Disconnect {
    /// Username.
    pub user: String,
    /// The session.
    pub session: SessionId,
}

impl Handler<Disconnect> for Registry {
    type Result = ();

    fn handle(&mut self, msg: Disconnect, _: &mut Context<Self>) {
        let Some(sessions) = self.users.get_mut(&msg.user) else {
            return;
        };
        sessions.retain(|(s, _)| s.id != msg.session);
        if sessions.is_empty() {
            self.users.remove(&msg.user);
            self.presence(&msg.user, false);
        }
    }
}

/// Push to every session of `users`, except one.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Deliver {
    /// Recipients.
    pub users: Arc<[String]>,
    /// What to push.
    pub push: Push,
    /// A session to leave out (the one the action came from).
    pub except: Option<SessionId>,
}

impl Handler<Deliver> for Registry {
    type Result = ();

    fn handle(&mut self, msg: Deliver, _: &mut Context<Self>) {
        for user in msg.users.iter() {
            self.push_user(user, &msg.push, msg.except);
        }
    }
}

/// Close every socket that authenticated with this token (logout).
#[derive(Message)]
#[rtype(result = "()")]
pub struct CloseToken {
    /// Owner.
    pub user: String,
    /// The token's hash.
    pub token_hash: [u8; 32],
}

impl Handler<CloseToken> for Registry {
    type Result = ();

    fn handle(&mut self, msg: CloseToken, _: &mut Context<Self>) {
        if let Some(sessions) = self.users.get(&msg.user) {
            for (s, hash) in sessions {
                if *hash == msg.token_hash {
                    close_unauthorized(s, "logged out");
                }
            }
        }
    }
}

/// `unauthorized`, then close 4001.
fn close_unauthorized(session: &SessionRef, reason: &'static str) {
    session.frame(
        ServerFrame::error(&crate::error::Error::Unauthorized, None)
            .to_json()
            .into(),
    );
    session.push(Push::Close { code: 4001, reason });
}

/// Close every socket of `user` (with `unauthorized` and 4001) but those that
/// authenticated with `keep`: its tokens were revoked (password change, disabled,
/// deleted).
#[derive(Message)]
#[rtype(result = "()")]
pub struct CloseUser {
    /// Whose.
    pub user: String,
    /// A token whose sockets stay open.
    pub keep: Option<[u8; 32]>,
}

impl Handler<CloseUser> for Registry {
    type Result = ();

    fn handle(&mut self, msg: CloseUser, _: &mut Context<Self>) {
        if let Some(sessions) = self.users.get(&msg.user) {
            for (s, hash) in sessions {
                if Some(*hash) != msg.keep {
                    close_unauthorized(s, "signed out");
                }
            }
        }
    }
}

/// Which of the users who share a conversation with `user` are online now: presence
/// frames only tell of changes, so a client that just connected asks this once
/// (`GET /api/presence`).
#[derive(Message)]
#[rtype(result = "Vec<String>")]
pub struct OnlinePeers {
    /// Whose peers.
    pub user: String,
}

impl Handler<OnlinePeers> for Registry {
    type Result = Vec<String>;

    fn handle(&mut self, msg: OnlinePeers, _: &mut Context<Self>) -> Vec<String> {
        let mut online = self.peers(&msg.user);
        online.retain(|peer| self.users.contains_key(peer));
        online
    }
}

/// How many users and sessions are online (for /metrics).
#[derive(Message)]
#[rtype(result = "OnlineCounts")]
pub struct Counts;

/// Users and sessions online.
#[derive(Debug, Clone, Copy, Default, actix::MessageResponse)]
pub struct OnlineCounts {
    /// Users with at least one session.
    pub users: usize,
    /// Authenticated sessions.
    pub sessions: usize,
}

impl Handler<Counts> for Registry {
    type Result = OnlineCounts;

    fn handle(&mut self, _: Counts, _: &mut Context<Self>) -> OnlineCounts {
        OnlineCounts {
            users: self.users.len(),
            sessions: self.users.values().map(Vec::len).sum(),
        }
    }
}

/// A message is durable: offer a push to the members with no socket open (the sender
/// left out). Sent by the conversation actor; never waits on anything.
#[derive(Message)]
#[rtype(result = "()")]
pub struct OfflinePush {
    /// Conversation.
    pub conv: u64,
    /// Seq.
    pub seq: u64,
    /// When it was stored, ms.
    pub ts: u64,
    /// Who sent it.
    pub sender: String,
    /// What it is (system messages and events wake no device).
    pub kind: crate::store::records::StoredKind,
    /// The conversation's members.
    pub members: Arc<[String]>,
}

impl Handler<OfflinePush> for Registry {
    type Result = ();

    fn handle(&mut self, msg: OfflinePush, _: &mut Context<Self>) {
        if !self.push.enabled() || !crate::push::worth_a_push(msg.kind) {
            return;
        }
        let users: Vec<String> = msg
            .members
            .iter()
            .filter(|m| **m != msg.sender && !self.users.contains_key(m.as_str()))
            .cloned()
            .collect();
        if !users.is_empty() {
            self.push.offer(Offer {
                conv: msg.conv,
                seq: msg.seq,
                ts: msg.ts,
                users,
            });
        }
    }
}

/// Whether `user` has an authenticated socket open (the push worker asks before it sends).
#[derive(Message)]
#[rtype(result = "bool")]
pub struct AnyOnline {
    /// Who.
    pub user: String,
}

impl Handler<AnyOnline> for Registry {
    type Result = bool;

    fn handle(&mut self, msg: AnyOnline, _: &mut Context<Self>) -> bool {
        self.users.contains_key(&msg.user)
    }
}
