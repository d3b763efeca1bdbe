//! Frames from an authenticated socket: decoding, fragments, and running each frame
//! (here, or through the hub at its conversation's actor), in the order they came.

use actix::{ActorFutureExt, AsyncContext, WrapFuture};
use actix_http::ws::Item;

use super::{AuthState, Ctx, Session};
use crate::actors::conversation::{Command, ConvCommand, Outgoing};
use crate::actors::registry::announce;
use crate::error::Error;
use crate::metrics::inc;
use crate::protocol::{decode_client_frame, pong_ts, valid_username, ClientFrame, SendFrame};
use crate::store::now_ms;

/// Frames queued behind a direct-chat lookup.
const MAX_DEFERRED: usize = 256;

impl Session {
    /// A whole text frame.
    pub(super) fn on_text(&mut self, ctx: &mut Ctx, text: &str) {
        inc(&self.env.metrics.frames_in);
        let frame = decode_client_frame(text);
        if let AuthState::Waiting = self.auth {
            return self.on_unauthed_frame(ctx, frame);
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

    /// A binary frame: before `auth_ok` it is not a valid `auth` (unauthorized, 4001);
    /// after it, `bad_frame` and the socket stays open (PROTOCOL.md v1.1).
    pub(super) fn on_binary(&mut self, ctx: &mut Ctx) {
        inc(&self.env.metrics.frames_in);
        if let AuthState::Waiting = self.auth {
            return self.refuse_unauthorized(ctx);
        }
        self.error(ctx, &Error::bad("frames are JSON text"), None)
    }

    /// Answers a frame naming `conv` that cannot be run, through the conversation: a
    /// non-member gets `no_such_conversation` before any other check (PROTOCOL.md).
    pub(super) fn refuse(&mut self, ctx: &mut Ctx, conv: u64, error: Error, reference: String) {
        let Some(user) = self.user().map(str::to_owned) else {
            return;
        };
        if matches!(error, Error::BadRequest(_)) {
            inc(&self.env.metrics.bad_frames);
        }
        let session = self.me(ctx);
        self.asked.insert(conv);
        self.env.hub.do_send(ConvCommand {
            conv,
            user,
            cmd: Command::Refuse {
                session,
                error,
                reference,
            },
        });
    }

    /// Runs one valid frame (rate limits first).
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
            ClientFrame::Ping { ts, timestamp } => self.ping(ctx, pong_ts(ts, timestamp, now_ms())),
            ClientFrame::Auth { .. } => self.error(
                ctx,
                &Error::bad("already authenticated"),
                Some("auth".into()),
            ),
            ClientFrame::Send(send) => self.send(ctx, user, send),
            ClientFrame::Delivered { conv, seq } => {
                self.asked.insert(conv);
                let cmd = Command::Delivered { session, seq };
                self.env.hub.do_send(to_conv(conv, cmd))
            }
            ClientFrame::Read { conv, seq } => {
                self.asked.insert(conv);
                let cmd = Command::Read { session, seq };
                self.env.hub.do_send(to_conv(conv, cmd))
            }
            ClientFrame::Recall { conv, seq } => {
                self.asked.insert(conv);
                let cmd = Command::Recall { session, seq };
                self.env.hub.do_send(to_conv(conv, cmd))
            }
            ClientFrame::Typing { conv } => self
                .env
                .hub
                .do_send(to_conv(conv, Command::Typing { session })),
            ClientFrame::Edit {
                conv,
                seq,
                body,
                client_id,
            } => {
                let max = self.env.settings.messages.max_body_bytes;
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
                self.env.hub.do_send(to_conv(conv, cmd))
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
                self.env.hub.do_send(to_conv(conv, cmd))
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
        let max = self.env.settings.messages.max_body_bytes;
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
        inc(&self.env.metrics.sends);
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
        self.env.hub.do_send(ConvCommand { conv, user, cmd });
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
        let env = self.env.clone();
        let me = user.clone();
        let find = async move {
            if env.store.user(&to)?.is_none() {
                return Err(Error::bad(format!("no such user: {to}")));
            }
            let (conv, record, created) = env.store.find_or_create_direct(&me, &to).await?;
            if created {
                announce(&env.store, &env.registry, conv, &record.members)?;
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

    /// A piece of a fragmented frame; the whole frame runs once its last piece came.
    pub(super) fn on_fragment(&mut self, ctx: &mut Ctx, item: Item) {
        let max = self.env.settings.session.max_frame_bytes;
        let (bytes, last) = match item {
            Item::FirstText(b) => {
                self.fragments = Some(Vec::new());
                (b, false)
            }
            Item::FirstBinary(_) => return self.on_binary(ctx),
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
