//! One actor per WebSocket. This is the only module that uses actix-web-actors
//! (deprecated upstream, but the chosen glue between actix-web and actix actors).
//!
//! The session decodes and checks frames, rate-limits them, and hands conversation
//! work to the hub. After `auth_ok` it drains the user's offline queue; while it
//! catches up (the drain, or a `sync`) live `message` pushes are held back and then
//! released without the ones already sent, so every conversation arrives in seq order.

use std::{
    collections::{BTreeMap, HashMap, HashSet, VecDeque},
    sync::{atomic::Ordering, Arc},
    time::Duration,
};

use actix::{
    Actor, ActorContext, ActorFutureExt, AsyncContext, Handler, StreamHandler, WrapFuture,
};
use actix_http::{
    error::PayloadError,
    ws::{CloseCode, CloseReason, Codec, Item},
};
use actix_web::web::{self, Bytes};
use actix_web_actors::ws;
use futures_util::Stream;

use super::conversation::{Command, ConvCommand, Outgoing};
use super::registry::{Connect, Disconnect};
use super::supervisor::{Liveness, Unwatch, Watch};
use super::{Backlog, Push, SessionId, SessionRef};
use crate::auth;
use crate::error::{Error, Result};
use crate::limits::TokenBucket;
use crate::metrics::inc;
use crate::node::{ConnectionSlot, Node};
use crate::protocol::{
    decode_client_frame, parse_conv_key, valid_username, ClientFrame, MessageView, SendFrame,
    ServerFrame,
};
use crate::store::{now_ms, OfflineCursor, Page};

/// Messages read per step of an offline drain (one frame each).
const DRAIN_PAGE: usize = 200;
/// Live messages held back while catching up; past this the socket is closed.
const MAX_HELD: usize = 20_000;
/// Why a session that fell too far behind its pushes is closed.
const TOO_FAR_BEHIND: &str = "too far behind; reconnect and sync";
/// Frames queued behind a direct-chat lookup.
const MAX_DEFERRED: usize = 256;
/// Conversations read per step of a `sync`.
const SYNC_STEP: usize = 16;
/// Longest a flooding socket is kept, reading nothing more, before its 4008 close. It
/// closes as soon as every conversation it sent to has answered what it sent (so a
/// client that counts acks against the history finds every stored message acked);
/// this bounds the wait if a commit stalls.
const FLOOD_GRACE: Duration = Duration::from_secs(5);

/// How the socket's handshake went.
pub enum Handshake {
    /// A valid token came with the upgrade.
    Authed {
        /// Owner.
        user: String,
        /// The token's hash.
        token_hash: [u8; 32],
    },
    /// A token came with the upgrade and was wrong or expired.
    BadToken,
    /// No token yet: an `auth` frame must come first.
    NoToken,
}

/// Runs a new session on `incoming`, the socket's bytes after the handshake; what the
/// session writes comes out of the returned stream, for the caller to put on the socket.
pub fn run<S>(
    node: Node,
    slot: ConnectionSlot,
    handshake: Handshake,
    incoming: S,
) -> impl Stream<Item = Result<Bytes, actix_web::Error>>
where
    S: Stream<Item = Result<Bytes, PayloadError>> + 'static,
{
    let codec = Codec::new().max_size(node.settings.session.max_frame_bytes);
    ws::WebsocketContext::with_codec(Session::new(node, slot, handshake), incoming, codec)
}

enum AuthState {
    Waiting,
    Authed { user: String },
    Closed,
}

/// Catching up: live messages held back.
#[derive(Default)]
struct CatchUp {
    held: Vec<(u64, u64, Arc<str>)>,
}

/// One WebSocket connection.
pub struct Session {
    id: SessionId,
    node: Node,
    handshake: Option<Handshake>,
    auth: AuthState,
    liveness: Liveness,
    messages: TokenBucket,
    frames: TokenBucket,
    strikes: u32,
    strike_window: u64,
    catch_up: Option<CatchUp>,
    /// Highest seq of each conversation this socket has sent, by any path (drain, sync,
    /// live). A live push at or below it is a copy the socket already sent: the push
    /// may reach the session after a drain or sync that read the message from the store.
    sent: HashMap<u64, u64>,
    queued_syncs: VecDeque<(BTreeMap<String, u64>, Option<u32>)>,
    resolving: bool,
    deferred: VecDeque<ClientFrame>,
    directs: HashMap<String, u64>,
    fragments: Option<Vec<u8>>,
    /// Closing for flooding: frames are no longer read, the 4008 follows.
    closing: bool,
    /// Conversations this socket sent a `send` to (or a refused frame naming one): a
    /// flood close waits until each of them has answered.
    asked: HashSet<u64>,
    /// Of those, how many have not answered yet while closing.
    unsettled: usize,
    registered_user: Option<String>,
    backlog: Arc<Backlog>,
    _slot: ConnectionSlot,
}

type Ctx = ws::WebsocketContext<Session>;

impl Session {
    fn new(node: Node, slot: ConnectionSlot, handshake: Handshake) -> Self {
        let rate = node.settings.limits.messages_per_sec;
        Session {
            id: node.next_session.fetch_add(1, Ordering::Relaxed),
            handshake: Some(handshake),
            auth: AuthState::Waiting,
            liveness: Liveness::now(),
            messages: TokenBucket::new(rate, rate),
            frames: TokenBucket::new(rate.saturating_mul(10), rate.saturating_mul(10)),
            strikes: 0,
            strike_window: 0,
            catch_up: None,
            sent: HashMap::new(),
            queued_syncs: VecDeque::new(),
            resolving: false,
            deferred: VecDeque::new(),
            directs: HashMap::new(),
            fragments: None,
            closing: false,
            asked: HashSet::new(),
            unsettled: 0,
            registered_user: None,
            backlog: Arc::new(Backlog::new(node.settings.session.max_backlog_bytes)),
            _slot: slot,
            node,
        }
    }

    fn me(&self, ctx: &Ctx) -> SessionRef {
        SessionRef {
            id: self.id,
            recipient: ctx.address().recipient(),
            backlog: self.backlog.clone(),
        }
    }

    fn user(&self) -> Option<&str> {
        match &self.auth {
            AuthState::Authed { user } => Some(user),
            _ => None,
        }
    }

    fn send_frame(ctx: &mut Ctx, frame: &ServerFrame) {
        ctx.text(frame.to_json());
    }

    fn error(&self, ctx: &mut Ctx, err: &Error, reference: Option<String>) {
        if matches!(err, Error::BadRequest(_)) {
            inc(&self.node.metrics.bad_frames);
        }
        Self::send_frame(ctx, &ServerFrame::error(err, reference));
    }

    fn close(&mut self, ctx: &mut Ctx, code: u16, reason: &str) {
        self.auth = AuthState::Closed;
        ctx.close(Some(CloseReason {
            code: CloseCode::from(code),
            description: Some(reason.to_string()),
        }));
        ctx.stop();
    }

    fn refuse_unauthorized(&mut self, ctx: &mut Ctx) {
        self.error(ctx, &Error::Unauthorized, None);
        self.close(ctx, 4001, "unauthorized");
    }

    // ---- authentication and the offline drain ---------------------------------------

    fn authenticate(&mut self, ctx: &mut Ctx, user: String, token_hash: [u8; 32]) {
        self.liveness.authed.store(true, Ordering::Relaxed);
        self.auth = AuthState::Authed { user: user.clone() };
        Self::send_frame(
            ctx,
            &ServerFrame::AuthOk {
                user: user.clone(),
                session: self.id.to_string(),
                server_time: now_ms(),
                heartbeat_ms: self.node.settings.session.heartbeat_interval_secs * 1000,
                recall_window_ms: self.node.settings.messages.recall_window_secs * 1000,
                edit_window_ms: self.node.settings.messages.edit_window_secs * 1000,
            },
        );
        self.catch_up = Some(CatchUp::default());
        let connect = Connect {
            user: user.clone(),
            session: self.me(ctx),
            token_hash,
        };
        // Registered first, read second: nothing stored in between can be missed.
        self.registered_user = Some(user.clone());
        let store = self.node.store.clone();
        let registry = self.node.registry.clone();
        let read = async move {
            if !registry.send(connect).await? {
                return Ok(None);
            }
            web::block(move || store.offline_start(&user))
                .await
                .map_err(|e| Error::Internal(e.to_string()))?
                .map(Some)
        };
        ctx.spawn(read.into_actor(self).map(|cursor, act, ctx| match cursor {
            Ok(Some(cursor)) => act.drain_step(ctx, cursor),
            Ok(None) => {
                act.registered_user = None;
                let err = Error::TooManySessions;
                act.error(ctx, &err, Some("auth".into()));
                act.close(ctx, 4008, "too many sessions");
            }
            Err(e) => {
                act.error(ctx, &e, Some("auth".into()));
                act.end_catch_up(ctx);
            }
        }));
    }

    fn drain_step(&mut self, ctx: &mut Ctx, mut cursor: OfflineCursor) {
        let store = self.node.store.clone();
        let read = async move {
            let blocking_store = store.clone();
            let (page, cursor) = web::block(move || {
                blocking_store
                    .offline_next(&mut cursor, DRAIN_PAGE)
                    .map(|p| (p, cursor))
            })
            .await
            .map_err(|e| Error::Internal(e.to_string()))??;
            store.commit().visible().await?;
            Ok::<_, Error>((page, cursor))
        };
        ctx.spawn(read.into_actor(self).map(|res, act, ctx| match res {
            Ok((page, cursor)) => {
                for msg in page {
                    act.send_caught_up(ctx, msg);
                }
                if cursor.is_done() {
                    act.end_catch_up(ctx);
                } else {
                    act.drain_step(ctx, cursor);
                }
            }
            Err(e) => {
                act.error(ctx, &e, Some("auth".into()));
                act.end_catch_up(ctx);
            }
        }));
    }

    fn send_caught_up(&mut self, ctx: &mut Ctx, msg: MessageView) {
        let sent = self.sent.entry(msg.conv).or_insert(0);
        *sent = (*sent).max(msg.seq);
        Self::send_frame(ctx, &ServerFrame::Message { msg });
    }

    /// Sends a live `message` frame unless this socket already sent that seq or a later one.
    fn send_live(&mut self, ctx: &mut Ctx, conv: u64, seq: u64, frame: &str) {
        let sent = self.sent.entry(conv).or_insert(0);
        if seq > *sent {
            *sent = seq;
            ctx.text(frame);
        }
    }

    /// Sends `sync_done`, releases held live messages, starts the next queued sync.
    fn end_catch_up(&mut self, ctx: &mut Ctx) {
        Self::send_frame(ctx, &ServerFrame::SyncDone {});
        if let Some(cu) = self.catch_up.take() {
            for (conv, seq, frame) in cu.held {
                self.send_live(ctx, conv, seq, &frame);
            }
        }
        if let Some((convs, limit)) = self.queued_syncs.pop_front() {
            self.start_sync(ctx, convs, limit);
        }
    }

    // ---- sync and history ----------------------------------------------------------

    fn start_sync(&mut self, ctx: &mut Ctx, convs: BTreeMap<String, u64>, limit: Option<u32>) {
        if self.catch_up.is_some() {
            self.queued_syncs.push_back((convs, limit));
            return;
        }
        self.catch_up = Some(CatchUp::default());
        let limit = limit.unwrap_or(50).clamp(1, 500) as usize;
        let wanted: VecDeque<(u64, u64)> = convs
            .iter()
            .filter_map(|(k, v)| parse_conv_key(k).ok().map(|c| (c, *v)))
            .collect();
        self.sync_step(ctx, wanted, limit);
    }

    fn sync_step(&mut self, ctx: &mut Ctx, mut wanted: VecDeque<(u64, u64)>, limit: usize) {
        let Some(user) = self.user().map(str::to_owned) else {
            return;
        };
        if wanted.is_empty() {
            return self.end_catch_up(ctx);
        }
        let step: Vec<(u64, u64)> = wanted.drain(..wanted.len().min(SYNC_STEP)).collect();
        let store = self.node.store.clone();
        let read = async move {
            let blocking_store = store.clone();
            let pages = web::block(move || {
                step.into_iter()
                    .map(|(conv, after)| {
                        let page = match blocking_store.member_state(&user, conv)? {
                            Some(_) => Some(blocking_store.page_after(conv, after, limit)?),
                            None => None,
                        };
                        Ok((conv, page))
                    })
                    .collect::<Result<Vec<(u64, Option<Page>)>>>()
            })
            .await
            .map_err(|e| Error::Internal(e.to_string()))??;
            store.commit().visible().await?;
            Ok::<_, Error>(pages)
        };
        ctx.spawn(read.into_actor(self).map(move |res, act, ctx| {
            match res {
                Ok(pages) => {
                    for (conv, page) in pages {
                        match page {
                            Some(page) => {
                                if let Some(last) = page.messages.last() {
                                    let sent = act.sent.entry(conv).or_insert(0);
                                    *sent = (*sent).max(last.seq);
                                }
                                let frame = ServerFrame::SyncBatch {
                                    conv,
                                    messages: page.messages,
                                    has_more: page.has_more,
                                };
                                Self::send_frame(ctx, &frame);
                            }
                            None => act.error(ctx, &Error::NoSuchConversation, Some("sync".into())),
                        }
                    }
                }
                Err(e) => act.error(ctx, &e, Some("sync".into())),
            }
            act.sync_step(ctx, wanted, limit);
        }));
    }

    fn history(
        &mut self,
        ctx: &mut Ctx,
        conv: u64,
        before: Option<u64>,
        after: Option<u64>,
        limit: Option<u32>,
    ) {
        let Some(user) = self.user().map(str::to_owned) else {
            return;
        };
        let store = self.node.store.clone();
        let limit = limit.unwrap_or(20).clamp(1, 100) as usize;
        let read = async move {
            let blocking_store = store.clone();
            let page = web::block(move || {
                history_page(&blocking_store, &user, conv, before, after, limit)
            })
            .await
            .map_err(|e| Error::Internal(e.to_string()))??;
            store.commit().visible().await?;
            Ok::<_, Error>(page)
        };
        ctx.spawn(read.into_actor(self).map(move |res, act, ctx| match res {
            Ok(page) => Self::send_frame(
                ctx,
                &ServerFrame::History {
                    conv,
                    messages: page.messages,
                    has_more: page.has_more,
                },
            ),
            Err(e) => act.error(ctx, &e, Some("history".into())),
        }));
    }

    // ---- frames ----------------------------------------------------------------------

    fn on_text(&mut self, ctx: &mut Ctx, text: &str) {
        inc(&self.node.metrics.frames_in);
        let frame = decode_client_frame(text);
        if let AuthState::Waiting = self.auth {
            return match frame {
                Ok(ClientFrame::Auth { token }) => {
                    match auth::check_token(&self.node.store, &token) {
                        Ok(user) => self.authenticate(ctx, user, auth::token_hash(&token)),
                        Err(_) => self.refuse_unauthorized(ctx),
                    }
                }
                _ => self.refuse_unauthorized(ctx),
            };
        }
        match frame {
            Ok(frame) => {
                if self.resolving {
                    if self.deferred.len() >= MAX_DEFERRED {
                        return self.rate_limited(ctx, frame_ref(&frame));
                    }
                    self.deferred.push_back(frame);
                } else {
                    self.dispatch(ctx, frame);
                }
            }
            Err(bad) => match (bad.conv, bad.reference) {
                // a trip to the conversation: it takes from the frame budget
                (Some(_), Some(reference)) if !self.frames.try_take() => {
                    self.rate_limited(ctx, reference)
                }
                (Some(conv), Some(reference)) => self.refuse(ctx, conv, bad.error, reference),
                (_, reference) => self.error(ctx, &bad.error, reference),
            },
        }
    }

    /// Answers a frame naming `conv` that cannot be run, through the conversation: a
    /// non-member gets `no_such_conversation` before any other check (PROTOCOL.md).
    fn refuse(&mut self, ctx: &mut Ctx, conv: u64, error: Error, reference: String) {
        let Some(user) = self.user().map(str::to_owned) else {
            return;
        };
        if matches!(error, Error::BadRequest(_)) {
            inc(&self.node.metrics.bad_frames);
        }
        let session = self.me(ctx);
        self.asked.insert(conv);
        self.node.hub.do_send(ConvCommand {
            conv,
            user,
            cmd: Command::Refuse {
                session,
                error,
                reference,
            },
        });
    }

    fn rate_limited(&mut self, ctx: &mut Ctx, reference: String) {
        inc(&self.node.metrics.rate_limited);
        self.error(ctx, &Error::RateLimited, Some(reference));
        let now = crate::clock::mono_ms();
        if now.saturating_sub(self.strike_window) > 1000 {
            self.strike_window = now;
            self.strikes = 0;
        }
        self.strikes += 1;
        if self.strikes
            > self
                .node
                .settings
                .limits
                .messages_per_sec
                .saturating_mul(2)
                .max(20)
        {
            self.close_for_flooding(ctx);
        }
    }

    /// Stops reading the socket's frames and closes it with 4008 once every conversation
    /// it sent to has answered (see [`Push::Settled`]), or after [`FLOOD_GRACE`].
    fn close_for_flooding(&mut self, ctx: &mut Ctx) {
        if self.closing {
            return;
        }
        self.closing = true;
        let session = self.me(ctx);
        let asked = std::mem::take(&mut self.asked);
        if let Some(user) = self.user().map(str::to_owned) {
            self.unsettled = asked.len();
            for conv in asked {
                let session = session.clone();
                let cmd = Command::Settle { session };
                self.node.hub.do_send(ConvCommand {
                    conv,
                    user: user.clone(),
                    cmd,
                });
            }
        }
        if self.unsettled == 0 {
            return self.close(ctx, 4008, "rate limited");
        }
        ctx.run_later(FLOOD_GRACE, |act, ctx| act.close(ctx, 4008, "rate limited"));
    }

    fn dispatch(&mut self, ctx: &mut Ctx, frame: ClientFrame) {
        let Some(user) = self.user().map(str::to_owned) else {
            return;
        };
        let limited = matches!(
            frame,
            ClientFrame::Send(_)
                | ClientFrame::Typing { .. }
                | ClientFrame::Recall { .. }
                | ClientFrame::Edit { .. }
                | ClientFrame::React { .. }
        );
        if !matches!(frame, ClientFrame::Ping { .. })
            && (!self.frames.try_take() || (limited && !self.messages.try_take()))
        {
            return self.rate_limited(ctx, frame_ref(&frame));
        }
        let session = self.me(ctx);
        let to_conv = |conv: u64, cmd: Command| ConvCommand {
            conv,
            user: user.clone(),
            cmd,
        };
        match frame {
            ClientFrame::Ping { ts } => Self::send_frame(ctx, &ServerFrame::Pong { ts }),
            ClientFrame::Auth { .. } => self.error(
                ctx,
                &Error::bad("already authenticated"),
                Some("auth".into()),
            ),
            ClientFrame::Send(send) => self.send(ctx, user, send),
            ClientFrame::Delivered { conv, seq } => self
                .node
                .hub
                .do_send(to_conv(conv, Command::Delivered { session, seq })),
            ClientFrame::Read { conv, seq } => self
                .node
                .hub
                .do_send(to_conv(conv, Command::Read { session, seq })),
            ClientFrame::Recall { conv, seq } => self
                .node
                .hub
                .do_send(to_conv(conv, Command::Recall { session, seq })),
            ClientFrame::Typing { conv } => self
                .node
                .hub
                .do_send(to_conv(conv, Command::Typing { session })),
            ClientFrame::Edit {
                conv,
                seq,
                body,
                client_id,
            } => {
                let max = self.node.settings.messages.max_body_bytes;
                if body.len() > max {
                    let err = Error::TooLarge(format!("body is over {max} bytes"));
                    return self.refuse(ctx, conv, err, client_id);
                }
                self.asked.insert(conv);
                let cmd = Command::Edit {
                    session,
                    seq,
                    body,
                    client_id,
                };
                self.node.hub.do_send(to_conv(conv, cmd))
            }
            ClientFrame::React {
                conv,
                seq,
                emoji,
                on,
                client_id,
            } => {
                self.asked.insert(conv);
                let cmd = Command::React {
                    session,
                    seq,
                    emoji,
                    on,
                    client_id,
                };
                self.node.hub.do_send(to_conv(conv, cmd))
            }
            ClientFrame::Sync { convs, limit } => self.start_sync(ctx, convs, limit),
            ClientFrame::History {
                conv,
                before,
                after,
                limit,
            } => self.history(ctx, conv, before, after, limit),
        }
    }

    fn send(&mut self, ctx: &mut Ctx, user: String, send: SendFrame) {
        let max = self.node.settings.messages.max_body_bytes;
        if send.body.as_ref().is_some_and(|b| b.len() > max) {
            let err = Error::TooLarge(format!("body is over {max} bytes"));
            return match send.conv {
                Some(conv) => self.refuse(ctx, conv, err, send.client_id),
                None => self.error(ctx, &err, Some(send.client_id)),
            };
        }
        let conv = match (send.conv, &send.to) {
            (Some(conv), _) => conv,
            (None, Some(to)) => match self.directs.get(to) {
                Some(&conv) => conv,
                None => return self.resolve_direct(ctx, user, send),
            },
            (None, None) => return,
        };
        if self.closing {
            // read before the flood was seen: not stored, not acked; the client resends
            return;
        }
        inc(&self.node.metrics.sends);
        self.asked.insert(conv);
        let cmd = Command::Send {
            session: self.me(ctx),
            message: Outgoing {
                client_id: send.client_id,
                kind: send.kind,
                body: send.body.unwrap_or_default(),
                media_url: send.media_url,
                reply_to: send.reply_to,
                mentions: send.mentions,
            },
        };
        self.node.hub.do_send(ConvCommand { conv, user, cmd });
    }

    /// Finds or creates the direct chat for a `send` with `to`; frames that arrive
    /// meanwhile wait, so this session's frames keep their order.
    fn resolve_direct(&mut self, ctx: &mut Ctx, user: String, send: SendFrame) {
        let Some(to) = send.to.clone() else { return };
        if to == user || !valid_username(&to) {
            return self.error(
                ctx,
                &Error::bad("`to` must be another user"),
                Some(send.client_id),
            );
        }
        self.resolving = true;
        let node = self.node.clone();
        let me = user.clone();
        let find = async move {
            if node.store.user(&to)?.is_none() {
                return Err(Error::bad(format!("no such user: {to}")));
            }
            let (conv, record, created) = node.store.find_or_create_direct(&me, &to).await?;
            if created {
                node.announce(conv, &record.members)?;
            }
            Ok((to, conv))
        };
        ctx.spawn(find.into_actor(self).map(move |res, act, ctx| {
            act.resolving = false;
            match res {
                Ok((to, conv)) => {
                    act.directs.insert(to, conv);
                    act.send(ctx, user, send);
                }
                Err(e) => act.error(ctx, &e, Some(send.client_id)),
            }
            while !act.resolving {
                let Some(frame) = act.deferred.pop_front() else {
                    break;
                };
                act.dispatch(ctx, frame);
            }
        }));
    }

    fn on_fragment(&mut self, ctx: &mut Ctx, item: Item) {
        let max = self.node.settings.session.max_frame_bytes;
        let (bytes, last) = match item {
            Item::FirstText(b) => {
                self.fragments = Some(Vec::new());
                (b, false)
            }
            Item::FirstBinary(_) => {
                return self.error(ctx, &Error::bad("frames are JSON text"), None);
            }
            Item::Continue(b) => (b, false),
            Item::Last(b) => (b, true),
        };
        let Some(buf) = self.fragments.as_mut() else {
            return;
        };
        buf.extend_from_slice(&bytes);
        if buf.len() > max {
            self.fragments = None;
            return self.close(ctx, 4009, "frame too large");
        }
        if last {
            let buf = self.fragments.take().unwrap_or_default();
            match std::str::from_utf8(&buf) {
                Ok(text) => self.on_text(ctx, text),
                Err(_) => self.error(ctx, &Error::bad("not UTF-8"), None),
            }
        }
    }
}

/// The `ref` an error about `frame` carries.
fn frame_ref(frame: &ClientFrame) -> String {
    match frame {
        ClientFrame::Send(s) => s.client_id.clone(),
        ClientFrame::Auth { .. } => "auth".into(),
        ClientFrame::Ping { .. } => "ping".into(),
        ClientFrame::Delivered { .. } => "delivered".into(),
        ClientFrame::Read { .. } => "read".into(),
        ClientFrame::Sync { .. } => "sync".into(),
        ClientFrame::History { .. } => "history".into(),
        ClientFrame::Recall { .. } => "recall".into(),
        ClientFrame::Typing { .. } => "typing".into(),
        ClientFrame::Edit { client_id, .. } | ClientFrame::React { client_id, .. } => {
            client_id.clone()
        }
    }
}

/// A history page for `user`, who must be a member (the same answer otherwise).
pub fn history_page(
    store: &crate::store::Store,
    user: &str,
    conv: u64,
    before: Option<u64>,
    after: Option<u64>,
    limit: usize,
) -> Result<Page> {
    if store.member_state(user, conv)?.is_none() {
        return Err(Error::NoSuchConversation);
    }
    match after {
        Some(after) => store.page_after(conv, after, limit),
        None => store.page_before(conv, before, limit),
    }
}

impl Actor for Session {
    type Context = Ctx;

    fn started(&mut self, ctx: &mut Ctx) {
        inc(&self.node.metrics.ws_opened);
        self.node.supervisor.do_send(Watch {
            id: self.id,
            liveness: self.liveness.clone(),
            recipient: ctx.address().recipient(),
        });
        match self.handshake.take() {
            Some(Handshake::Authed { user, token_hash }) => {
                self.authenticate(ctx, user, token_hash)
            }
            Some(Handshake::BadToken) => self.refuse_unauthorized(ctx),
            Some(Handshake::NoToken) | None => {}
        }
    }

    fn stopped(&mut self, _: &mut Ctx) {
        self.node.supervisor.do_send(Unwatch(self.id));
        if let Some(user) = self.registered_user.take() {
            self.node.registry.do_send(Disconnect {
                user,
                session: self.id,
            });
        }
    }
}

impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for Session {
    fn handle(&mut self, msg: Result<ws::Message, ws::ProtocolError>, ctx: &mut Ctx) {
        self.liveness.touch();
        if self.closing && !matches!(msg, Ok(ws::Message::Close(_))) {
            return;
        }
        match msg {
            Ok(ws::Message::Text(text)) => self.on_text(ctx, &text),
            Ok(ws::Message::Ping(p)) => ctx.pong(&p),
            Ok(ws::Message::Pong(_)) | Ok(ws::Message::Nop) => {}
            Ok(ws::Message::Binary(_)) => {
                self.error(ctx, &Error::bad("frames are JSON text"), None)
            }
            Ok(ws::Message::Continuation(item)) => self.on_fragment(ctx, item),
            Ok(ws::Message::Close(reason)) => {
                // Answer the closing handshake (RFC 6455 5.5.1); without it the client
                // waits for the server's disconnect timeout before the socket is gone.
                ctx.close(reason);
                ctx.stop();
            }
            Err(ws::ProtocolError::Overflow) => self.close(ctx, 4009, "frame too large"),
            Err(e) => {
                tracing::debug!(error = %e, "websocket protocol error");
                ctx.stop();
            }
        }
    }
}

impl Handler<Push> for Session {
    type Result = ();

    fn handle(&mut self, push: Push, ctx: &mut Ctx) {
        if self.backlog.taken(&push) {
            if !matches!(self.auth, AuthState::Closed) {
                inc(&self.node.metrics.ws_too_far_behind);
                self.close(ctx, 4000, TOO_FAR_BEHIND);
            }
            return;
        }
        match push {
            Push::Frame(frame) => ctx.text(&*frame),
            Push::Message { conv, seq, frame } => match &mut self.catch_up {
                Some(cu) if cu.held.len() < MAX_HELD => cu.held.push((conv, seq, frame)),
                Some(_) => self.close(ctx, 4000, TOO_FAR_BEHIND),
                None => self.send_live(ctx, conv, seq, &frame),
            },
            Push::Settled => {
                self.unsettled = self.unsettled.saturating_sub(1);
                if self.closing && self.unsettled == 0 {
                    self.close(ctx, 4008, "rate limited");
                }
            }
            Push::Close { code, reason } => self.close(ctx, code, reason),
        }
    }
}
