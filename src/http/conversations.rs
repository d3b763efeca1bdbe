//! Conversations over HTTP: create, list, get, rename, members, admins, pin, mute, hide,
//! history, send, search.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::oneshot;

use super::{resource, AuthUser};
use crate::actors::conversation::{Command, ConvCommand, Outgoing};
use crate::actors::session::history_page;
use crate::error::{Error, Result};
use crate::node::Node;
use crate::protocol::{
    valid_username, validate_send, ConvKind, ConversationView, MessageKind, SendFrame,
};
use crate::search::{Cursor, Find};
use crate::views;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/api/conversations", "GET, POST")
            .route(web::post().to(create))
            .route(web::get().to(list)),
    )
    .service(
        resource("/api/conversations/{conv}", "GET, PATCH, DELETE")
            .route(web::get().to(get))
            .route(web::patch().to(rename))
            .route(web::delete().to(hide)),
    )
    .service(resource("/api/conversations/{conv}/members", "POST").route(web::post().to(members)))
    .service(resource("/api/conversations/{conv}/admins", "PUT").route(web::put().to(admins)))
    .service(resource("/api/conversations/{conv}/pin", "PUT").route(web::put().to(pin)))
    .service(resource("/api/conversations/{conv}/mute", "PUT").route(web::put().to(mute)))
    .service(
        resource("/api/conversations/{conv}/messages", "GET, POST")
            .route(web::get().to(messages))
            .route(web::post().to(post_message)),
    )
    .service(resource("/api/search", "GET").route(web::get().to(search)));
}

/// Runs blocking store work off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    web::block(f)
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
}

/// `user`'s view of `conv`, once what it shows is durable; 404 for non-members.
async fn durable_view(node: &Node, conv: u64, user: &str) -> Result<ConversationView> {
    let view = views::current_view(&node.store, conv, user)?.ok_or(Error::NoSuchConversation)?;
    node.store.commit().visible().await?;
    Ok(view)
}

#[derive(Deserialize)]
struct NewConversation {
    kind: ConvKind,
    #[serde(default)]
    name: String,
    #[serde(default)]
    members: Vec<String>,
}

async fn create(
    node: web::Data<Node>,
    who: AuthUser,
    body: web::Json<NewConversation>,
) -> Result<HttpResponse> {
    let NewConversation {
        kind,
        name,
        members,
    } = body.into_inner();
    let mut others: Vec<String> = members.into_iter().filter(|m| *m != who.user).collect();
    others.sort();
    others.dedup();
    if others.len() > node.settings.limits.max_group_members {
        return Err(Error::bad("too many members"));
    }
    for m in &others {
        if !valid_username(m) || node.store.user(m)?.is_none() {
            return Err(Error::bad(format!("no such user: {m}")));
        }
    }
    match kind {
        ConvKind::Direct => {
            let [other] = others.as_slice() else {
                return Err(Error::bad(
                    "a direct conversation has exactly one other member",
                ));
            };
            let (conv, record, created) =
                node.store.find_or_create_direct(&who.user, other).await?;
            if created {
                node.announce(conv, &record.members)?;
            } else if node
                .store
                .member_state(&who.user, conv)?
                .is_some_and(|s| s.hidden)
            {
                // opening a chat one had hidden brings it back to one's list
                if let Some((_, ticket)) = node
                    .store
                    .update_member_state(&who.user, conv, |s| s.hidden = false)?
                {
                    node.store.commit().durable(ticket).await?;
                }
            }
            let view = durable_view(&node, conv, &who.user).await?;
            Ok(if created {
                HttpResponse::Created()
            } else {
                HttpResponse::Ok()
            }
            .json(view))
        }
        ConvKind::Group => {
            let name = name.trim().to_string();
            if name.chars().count() > 128 {
                return Err(Error::bad("name: at most 128 characters"));
            }
            let (conv, record) = node.store.create_group(&who.user, &name, &others).await?;
            node.announce(conv, &record.members)?;
            Ok(HttpResponse::Created().json(durable_view(&node, conv, &who.user).await?))
        }
    }
}

async fn list(node: web::Data<Node>, who: AuthUser) -> Result<HttpResponse> {
    let store = node.store.clone();
    let user = who.user.clone();
    let mut views = blocking(move || {
        let mut out = Vec::new();
        for (conv, state) in store.user_conversations(&user)? {
            if state.hidden {
                continue;
            }
            let Some(record) = store.conversation(conv)? else {
                continue;
            };
            let last = store.last_seq(conv)?;
            let view = views::conversation_view(&store, conv, &record, &state, &user, last)?;
            let when = view
                .last_message
                .as_ref()
                .map(|m| m.ts)
                .unwrap_or(record.created_ms);
            out.push((view, when));
        }
        Ok(out)
    })
    .await?;
    node.store.commit().visible().await?;
    views.sort_by(|(a, at), (b, bt)| {
        b.pinned
            .cmp(&a.pinned)
            .then(bt.cmp(at))
            .then(b.conv.cmp(&a.conv))
    });
    let views: Vec<ConversationView> = views.into_iter().map(|(v, _)| v).collect();
    Ok(HttpResponse::Ok().json(views))
}

async fn get(node: web::Data<Node>, who: AuthUser, path: web::Path<u64>) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(durable_view(&node, path.into_inner(), &who.user).await?))
}

async fn hide(node: web::Data<Node>, who: AuthUser, path: web::Path<u64>) -> Result<HttpResponse> {
    let conv = path.into_inner();
    let (_, ticket) = node
        .store
        .update_member_state(&who.user, conv, |s| s.hidden = true)?
        .ok_or(Error::NoSuchConversation)?;
    node.store.commit().durable(ticket).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
struct Pin {
    pinned: bool,
}

/// `who`'s membership of `conv`, checked before anything else about a request: a
/// non-member gets 404 whatever else is wrong with it (PROTOCOL.md).
fn member_first(node: &Node, conv: u64, who: &AuthUser) -> Result<()> {
    node.store
        .member_state(&who.user, conv)?
        .map(|_| ())
        .ok_or(Error::NoSuchConversation)
}

/// A body or query whose parse error is answered only after [`member_first`].
fn parsed<T>(part: std::result::Result<T, actix_web::Error>) -> Result<T> {
    part.map_err(|e| match e.as_error::<Error>() {
        Some(Error::TooLarge(m)) => Error::TooLarge(m.clone()),
        Some(other) => Error::bad(other.to_string()),
        None => Error::bad(e.to_string()),
    })
}

async fn pin(
    node: web::Data<Node>,
    who: AuthUser,
    path: web::Path<u64>,
    body: std::result::Result<web::Json<Pin>, actix_web::Error>,
) -> Result<HttpResponse> {
    let conv = path.into_inner();
    member_first(&node, conv, &who)?;
    let pinned = parsed(body)?.pinned;
    let (_, ticket) = node
        .store
        .update_member_state(&who.user, conv, |s| s.pinned = pinned)?
        .ok_or(Error::NoSuchConversation)?;
    node.store.commit().durable(ticket).await?;
    Ok(HttpResponse::Ok().json(durable_view(&node, conv, &who.user).await?))
}

#[derive(Deserialize)]
struct Mute {
    muted: bool,
}

async fn mute(
    node: web::Data<Node>,
    who: AuthUser,
    path: web::Path<u64>,
    body: std::result::Result<web::Json<Mute>, actix_web::Error>,
) -> Result<HttpResponse> {
    let conv = path.into_inner();
    member_first(&node, conv, &who)?;
    let muted = parsed(body)?.muted;
    let (_, ticket) = node
        .store
        .update_member_state(&who.user, conv, |s| s.muted = muted)?
        .ok_or(Error::NoSuchConversation)?;
    node.store.commit().durable(ticket).await?;
    Ok(HttpResponse::Ok().json(durable_view(&node, conv, &who.user).await?))
}

/// Runs a group command in the conversation's actor and waits for its outcome.
async fn run(
    node: &Node,
    conv: u64,
    who: &AuthUser,
    cmd: impl FnOnce(oneshot::Sender<Result<()>>) -> Command,
) -> Result<()> {
    let (reply, outcome) = oneshot::channel();
    node.hub.do_send(ConvCommand {
        conv,
        user: who.user.clone(),
        cmd: cmd(reply),
    });
    outcome
        .await
        .map_err(|_| Error::Internal("conversation actor gone".into()))?
}

#[derive(Deserialize)]
struct Rename {
    name: String,
}

/// Longest group name, in characters (PROTOCOL.md: 1-64).
const MAX_NAME_CHARS: usize = 64;

async fn rename(
    node: web::Data<Node>,
    who: AuthUser,
    path: web::Path<u64>,
    body: std::result::Result<web::Json<Rename>, actix_web::Error>,
) -> Result<HttpResponse> {
    let conv = path.into_inner();
    member_first(&node, conv, &who)?;
    let name = parsed(body)?.into_inner().name;
    let name = name.trim().to_string();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(Error::bad("name: 1-64 characters"));
    }
    run(&node, conv, &who, |reply| Command::Rename { name, reply }).await?;
    Ok(HttpResponse::Ok().json(durable_view(&node, conv, &who.user).await?))
}

async fn admins(
    node: web::Data<Node>,
    who: AuthUser,
    path: web::Path<u64>,
    body: std::result::Result<web::Json<MemberChange>, actix_web::Error>,
) -> Result<HttpResponse> {
    let conv = path.into_inner();
    member_first(&node, conv, &who)?;
    let MemberChange { add, remove } = parsed(body)?.into_inner();
    if add.len() + remove.len() > node.settings.limits.max_group_members {
        return Err(Error::bad("too many names in one change"));
    }
    run(&node, conv, &who, |reply| Command::SetAdmins {
        add,
        remove,
        reply,
    })
    .await?;
    Ok(HttpResponse::Ok().json(durable_view(&node, conv, &who.user).await?))
}

/// The body of `POST /api/conversations/{conv}/messages`: a `send` frame's fields.
#[derive(Deserialize)]
struct PostMessage {
    client_id: String,
    #[serde(default)]
    kind: MessageKind,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    media_url: Option<String>,
    #[serde(default)]
    reply_to: Option<u64>,
    #[serde(default)]
    mentions: Vec<String>,
}

/// Sends a message over HTTP through the conversation's actor, exactly as a WebSocket
/// `send`: durable before the answer, the same dedupe, the same push to every member
/// session. 201 when stored, 200 (the same seq) for a retry of its client_id.
async fn post_message(
    node: web::Data<Node>,
    who: AuthUser,
    path: web::Path<u64>,
    body: std::result::Result<web::Json<PostMessage>, actix_web::Error>,
) -> Result<HttpResponse> {
    let conv = path.into_inner();
    member_first(&node, conv, &who)?;
    let p = parsed(body)?.into_inner();
    let send = SendFrame {
        conv: Some(conv),
        to: None,
        client_id: p.client_id,
        kind: p.kind,
        body: p.body,
        media_url: p.media_url,
        reply_to: p.reply_to,
        mentions: p.mentions,
    };
    validate_send(&send)?;
    let max = node.settings.messages.max_body_bytes;
    if send.body.as_ref().is_some_and(|b| b.len() > max) {
        return Err(Error::TooLarge(format!("body is over {max} bytes")));
    }
    let message = Outgoing {
        client_id: send.client_id,
        kind: send.kind,
        body: send.body.unwrap_or_default(),
        media_url: send.media_url,
        reply_to: send.reply_to,
        mentions: send.mentions,
    };
    let (reply, outcome) = oneshot::channel();
    node.hub.do_send(ConvCommand {
        conv,
        user: who.user.clone(),
        cmd: Command::Post { message, reply },
    });
    let posted = outcome
        .await
        .map_err(|_| Error::Internal("conversation actor gone".into()))??;
    let mut status = match posted.created {
        true => HttpResponse::Created(),
        false => HttpResponse::Ok(),
    };
    Ok(status.json(json!({
        "conv": posted.conv,
        "seq": posted.seq,
        "ts": posted.ts,
        "client_id": posted.client_id,
    })))
}

#[derive(Deserialize)]
struct MemberChange {
    #[serde(default)]
    add: Vec<String>,
    #[serde(default)]
    remove: Vec<String>,
}

async fn members(
    node: web::Data<Node>,
    who: AuthUser,
    path: web::Path<u64>,
    body: std::result::Result<web::Json<MemberChange>, actix_web::Error>,
) -> Result<HttpResponse> {
    let conv = path.into_inner();
    member_first(&node, conv, &who)?;
    let MemberChange { add, remove } = parsed(body)?.into_inner();
    if add.len() + remove.len() > node.settings.limits.max_group_members {
        return Err(Error::bad("too many members in one change"));
    }
    if let Some(bad) = add.iter().chain(&remove).find(|u| !valid_username(u)) {
        return Err(Error::bad(format!("not a username: {bad}")));
    }
    let (reply, outcome) = oneshot::channel();
    node.hub.do_send(ConvCommand {
        conv,
        user: who.user.clone(),
        cmd: Command::ChangeMembers { add, remove, reply },
    });
    outcome
        .await
        .map_err(|_| Error::Internal("conversation actor gone".into()))??;
    match views::current_view(&node.store, conv, &who.user)? {
        Some(view) => Ok(HttpResponse::Ok().json(view)),
        // The caller left the group: show it as it is now, without their state.
        None => {
            let record = node
                .store
                .conversation(conv)?
                .ok_or(Error::NoSuchConversation)?;
            let last = node.store.last_seq(conv)?;
            let view = views::conversation_view(
                &node.store,
                conv,
                &record,
                &Default::default(),
                &who.user,
                last,
            )?;
            Ok(HttpResponse::Ok().json(view))
        }
    }
}

#[derive(Deserialize)]
struct PageQuery {
    before: Option<u64>,
    after: Option<u64>,
    limit: Option<usize>,
}

async fn messages(
    node: web::Data<Node>,
    who: AuthUser,
    path: web::Path<u64>,
    query: std::result::Result<web::Query<PageQuery>, actix_web::Error>,
) -> Result<HttpResponse> {
    let conv = path.into_inner();
    member_first(&node, conv, &who)?;
    let PageQuery {
        before,
        after,
        limit,
    } = parsed(query)?.into_inner();
    let limit = limit.unwrap_or(20).clamp(1, 100);
    let store = node.store.clone();
    let page =
        blocking(move || history_page(&store, &who.user, conv, before, after, limit)).await?;
    node.store.commit().visible().await?;
    Ok(HttpResponse::Ok().json(json!({"messages": page.messages, "has_more": page.has_more})))
}

#[derive(Deserialize)]
struct SearchQuery {
    q: String,
    conv: Option<u64>,
    limit: Option<usize>,
    before: Option<u64>,
    cursor: Option<String>,
}

/// Longest query taken, in bytes: past it a query is a mistake, not a search (a 10 KB
/// one still searches, as its first words).
const MAX_QUERY_BYTES: usize = 16 * 1024;

async fn search(
    node: web::Data<Node>,
    who: AuthUser,
    query: web::Query<SearchQuery>,
) -> Result<HttpResponse> {
    let SearchQuery {
        q,
        conv,
        limit,
        before,
        cursor,
    } = query.into_inner();
    let q = q.trim().to_string();
    if q.is_empty() || q.len() > MAX_QUERY_BYTES {
        return Err(Error::bad("q: 1 to 16384 bytes of text"));
    }
    if before.is_some() && conv.is_none() {
        return Err(Error::bad("before: only with conv"));
    }
    let cursor = cursor
        .filter(|c| !c.is_empty())
        .map(|c| Cursor::parse(&c))
        .transpose()?;
    let limit = limit.unwrap_or(20).clamp(1, 100);
    let store = node.store.clone();
    let search = node.search.clone();
    let found = blocking(move || {
        let convs: Vec<u64> = match conv {
            Some(c) => {
                store
                    .member_state(&who.user, c)?
                    .ok_or(Error::NoSuchConversation)?;
                vec![c]
            }
            None => store
                .user_conversations(&who.user)?
                .into_iter()
                .map(|(c, _)| c)
                .collect(),
        };
        let find = Find {
            q,
            convs,
            limit,
            cursor,
            before,
        };
        search.find(&store, &find)
    })
    .await?;
    node.store.commit().visible().await?;
    Ok(HttpResponse::Ok().json(json!({
        "hits": found.hits,
        "complete": found.complete,
        "next": found.next.map(|c| c.to_string()),
    })))
}
