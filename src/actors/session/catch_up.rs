//! Catching up: the offline drain after `auth_ok` and `sync`. Live `message` pushes
//! are held back meanwhile and released afterwards without the seqs already sent, so
//! each conversation reaches the socket in seq order.

use std::{
    collections::{BTreeMap, VecDeque},
    sync::Arc,
};

use actix::{ActorFutureExt, AsyncContext, WrapFuture};
use actix_web::web;

use super::{Ctx, Session, TOO_FAR_BEHIND};
use crate::error::{Error, Result};
use crate::protocol::{parse_conv_key, MessageView, ServerFrame};
use crate::store::{OfflineCursor, Page};

/// Messages read per step of an offline drain (one frame each).
const DRAIN_PAGE: usize = 200;
/// Live messages held back while catching up; past this the socket is closed.
const MAX_HELD: usize = 20_000;
/// Conversations read per step of a `sync`.
const SYNC_STEP: usize = 16;

/// Catching up: live messages held back.
#[derive(Default)]
pub(super) struct CatchUp {
    held: Vec<(u64, u64, Arc<str>)>,
}

impl Session {
    /// Sends the next page of the offline queue, then the one after, to the end.
    pub(super) fn drain_step(&mut self, ctx: &mut Ctx, mut cursor: OfflineCursor) {
        let store = self.env.store.clone();
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

    /// A live `message` push: held while catching up, else sent.
    pub(super) fn on_live_message(&mut self, ctx: &mut Ctx, conv: u64, seq: u64, frame: Arc<str>) {
        match &mut self.catch_up {
            Some(cu) if cu.held.len() < MAX_HELD => cu.held.push((conv, seq, frame)),
            Some(_) => self.close(ctx, 4000, TOO_FAR_BEHIND),
            None => self.send_live(ctx, conv, seq, &frame),
        }
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
    pub(super) fn end_catch_up(&mut self, ctx: &mut Ctx) {
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

    /// A `sync` frame: runs now, or after the catching up under way.
    pub(super) fn start_sync(
        &mut self,
        ctx: &mut Ctx,
        convs: BTreeMap<String, u64>,
        limit: Option<u32>,
    ) {
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
        let store = self.env.store.clone();
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
}
