//! One actor per WebSocket. This is the only module that uses actix-web-actors
//! (deprecated upstream, but the chosen glue between actix-web and actix actors).
//!
//! The session decodes and checks frames, rate-limits them, and hands conversation
//! work to the hub. After `auth_ok` it drains the user's offline queue; while it
//! catches up (the drain, or a `sync`) live `message` pushes are held back and then
//! released without the ones already sent, so every conversation arrives in seq order.
//!
//! By concern: `auth.rs` (the handshake's token or the `auth` frame), `dispatch.rs`
//! (decoding and running frames), `catch_up.rs` (the offline drain and `sync`),
//! `history.rs` (`history` pages), `flood.rs` (rate limits and the 4008 close). This file
//! holds the actor itself: its state, its start and stop, and what it is pushed.
//! The session sees the node only through [`SessionEnv`].

mod auth;
mod catch_up;
mod dispatch;
mod flood;
mod history;
mod settle;

use std::{
    collections::{BTreeMap, HashMap, HashSet, VecDeque},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
};

use actix::{Actor, ActorContext, Addr, AsyncContext, Handler, StreamHandler};
use actix_http::{
    error::PayloadError,
    ws::{CloseCode, CloseReason, Codec},
};
use actix_web::web::Bytes;
use actix_web_actors::ws;
use futures_util::Stream;

use super::hub::Hub;
use super::registry::{Disconnect, Registry};
use super::supervisor::{Liveness, Supervisor, Unwatch, Watch};
use super::{Backlog, Push, SessionId, SessionRef};
use crate::config::Settings;
use crate::error::Error;
use crate::limits::TokenBucket;
use crate::metrics::{inc, Metrics};
use crate::protocol::{ClientFrame, ServerFrame};
use crate::store::Store;

pub use history::history_page;

use catch_up::CatchUp;
use settle::Barriers;

/// Why a session that fell too far behind its pushes is closed.
const TOO_FAR_BEHIND: &str = "too far behind; reconnect and sync";

/// What a session needs of the running node: the store, the actors it talks to, the
/// settings and counters. Built once by the node; the session never sees the HTTP side.
#[derive(Clone)]
pub struct SessionEnv {
    /// Settings in force.
    pub settings: Arc<Settings>,
    /// The store.
    pub store: Arc<Store>,
    /// Who is online.
    pub registry: Addr<Registry>,
    /// Conversation actors.
    pub hub: Addr<Hub>,
    /// Heartbeat sweeps.
    pub supervisor: Addr<Supervisor>,
    /// Counters for /metrics.
    pub metrics: Arc<Metrics>,
    /// Source of session ids.
    pub next_session: Arc<AtomicU64>,
}

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
    env: SessionEnv,
    handshake: Handshake,
    incoming: S,
) -> impl Stream<Item = Result<Bytes, actix_web::Error>>
where
    S: Stream<Item = Result<Bytes, PayloadError>> + 'static,
{
    let codec = Codec::new().max_size(env.settings.session.max_frame_bytes);
    ws::WebsocketContext::with_codec(Session::new(env, handshake), incoming, codec)
}

enum AuthState {
    Waiting,
    Authed { user: String },
    Closed,
}

/// One WebSocket connection.
pub struct Session {
    id: SessionId,
    env: SessionEnv,
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
    /// Conversations this socket sent a frame to since its last settle barrier: the
    /// next `pong` or flood close waits until each of them has answered.
    asked: HashSet<u64>,
    /// Settle barriers under way, and the pongs they hold.
    barriers: Barriers,
    /// The flood close's barrier, once closing.
    flood_barrier: Option<u64>,
    registered_user: Option<String>,
    backlog: Arc<Backlog>,
}

type Ctx = ws::WebsocketContext<Session>;

impl Session {
    fn new(env: SessionEnv, handshake: Handshake) -> Self {
        let rate = env.settings.limits.messages_per_sec;
        Session {
            id: env.next_session.fetch_add(1, Ordering::Relaxed),
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
            barriers: Barriers::default(),
            flood_barrier: None,
            registered_user: None,
            backlog: Arc::new(Backlog::new(env.settings.session.max_backlog_bytes)),
            env,
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
            inc(&self.env.metrics.bad_frames);
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
}

impl Actor for Session {
    type Context = Ctx;

    fn started(&mut self, ctx: &mut Ctx) {
        inc(&self.env.metrics.ws_opened);
        self.env.supervisor.do_send(Watch {
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
        self.env.supervisor.do_send(Unwatch(self.id));
        if let Some(user) = self.registered_user.take() {
            self.env.registry.do_send(Disconnect {
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
            Ok(ws::Message::Binary(_)) => self.on_binary(ctx),
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
                inc(&self.env.metrics.ws_too_far_behind);
                self.close(ctx, 4000, TOO_FAR_BEHIND);
            }
            return;
        }
        match push {
            Push::Frame(frame) => ctx.text(&*frame),
            Push::Message { conv, seq, frame } => self.on_live_message(ctx, conv, seq, frame),
            Push::Settled(token) => self.settled(ctx, token),
            Push::Close { code, reason } => self.close(ctx, code, reason),
        }
    }
}
