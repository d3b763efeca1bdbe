//! `history`: one page of a conversation's messages, for a member.

use actix::{ActorFutureExt, AsyncContext, WrapFuture};
use actix_web::web;

use super::{Ctx, Session};
use crate::error::{Error, Result};
use crate::protocol::ServerFrame;
use crate::store::{Page, Store};

impl Session {
    /// A `history` frame: the page is read off the actor's thread.
    pub(super) fn history(
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
        let store = self.env.store.clone();
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
}

/// A history page for `user`, who must be a member (the same answer otherwise).
pub fn history_page(
    store: &Store,
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
