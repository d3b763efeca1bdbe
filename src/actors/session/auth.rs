//! Authentication: the handshake's token or the first frame's, `auth_ok`, the
//! registration with the registry, and the start of the offline drain.

use std::sync::atomic::Ordering;

use actix::{ActorFutureExt, AsyncContext, WrapFuture};
use actix_web::web;

use super::catch_up::CatchUp;
use super::{AuthState, Ctx, Session};
use crate::actors::registry::Connect;
use crate::auth;
use crate::error::Error;
use crate::protocol::{ClientFrame, ServerFrame};
use crate::store::now_ms;

impl Session {
    /// `unauthorized`, then close 4001.
    pub(super) fn refuse_unauthorized(&mut self, ctx: &mut Ctx) {
        self.error(ctx, &Error::Unauthorized, None);
        self.close(ctx, 4001, "unauthorized");
    }

    /// A frame before `auth_ok`: only `auth` with a valid token is accepted.
    pub(super) fn on_unauthed_frame(
        &mut self,
        ctx: &mut Ctx,
        frame: Result<ClientFrame, crate::protocol::BadFrame>,
    ) {
        match frame {
            Ok(ClientFrame::Auth { token }) => match auth::check_token(&self.env.store, &token) {
                Ok(user) => self.authenticate(ctx, user, auth::token_hash(&token)),
                Err(_) => self.refuse_unauthorized(ctx),
            },
            _ => self.refuse_unauthorized(ctx),
        }
    }

    /// Sends `auth_ok`, registers the session and starts draining the offline queue.
    pub(super) fn authenticate(&mut self, ctx: &mut Ctx, user: String, token_hash: [u8; 32]) {
        self.liveness.authed.store(true, Ordering::Relaxed);
        self.auth = AuthState::Authed { user: user.clone() };
        let settings = &self.env.settings;
        Self::send_frame(
            ctx,
            &ServerFrame::AuthOk {
                protocol: crate::protocol::PROTOCOL_VERSION,
                user: user.clone(),
                session: self.id.to_string(),
                server_time: now_ms(),
                heartbeat_ms: settings.session.heartbeat_interval_secs * 1000,
                recall_window_ms: settings.messages.recall_window_secs * 1000,
                edit_window_ms: settings.messages.edit_window_secs * 1000,
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
        let store = self.env.store.clone();
        let registry = self.env.registry.clone();
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
}
