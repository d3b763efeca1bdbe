//! HTTP routes of PROTOCOL.md. Handlers are thin: check input, call the store or an
//! actor, map errors once through [`crate::error::Error`].

mod accounts;
mod admin;
mod client;
mod conversations;
mod invites;
mod media;
mod push;
mod respond;
mod sessions;
mod users;
pub mod ws;

pub use admin::admin_view;
pub use invites::{invite_terms, invite_url};

use actix_web::{
    dev::Payload, error::JsonPayloadError, web, FromRequest, HttpRequest, HttpResponse,
};
use std::future::{ready, Ready};

use crate::actors::{hub::ActiveCount, registry::Counts};
use crate::auth;
use crate::error::Error;
use crate::node::Node;

/// Registers every route on `cfg`.
pub fn routes(cfg: &mut web::ServiceConfig, serve_metrics: bool) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(64 * 1024)
            // the body is read as JSON whatever it is labelled: a browser's fetch() sends
            // a string body as text/plain unless told otherwise
            .content_type_required(false)
            .content_type(|_| true)
            .error_handler(|e: JsonPayloadError, _| bad_json(e).into()),
    )
    .app_data(web::QueryConfig::default().error_handler(|e, _| Error::bad(e.to_string()).into()))
    .app_data(
        web::PathConfig::default().error_handler(|_, _| Error::NotFound("not found".into()).into()),
    )
    .service(
        resource("/healthz", "GET, HEAD")
            .route(web::get().to(healthz))
            .route(web::head().to(healthz)),
    )
    .service(resource("/ws", "GET").route(web::get().to(ws::not_upgraded)))
    .configure(client::routes)
    .configure(accounts::routes)
    .configure(users::routes)
    .configure(sessions::routes)
    .configure(invites::routes)
    .configure(admin::routes)
    .configure(conversations::routes)
    .configure(media::routes)
    .configure(push::routes);
    if serve_metrics {
        cfg.service(resource("/metrics", "GET").route(web::get().to(metrics)));
    }
    cfg.default_service(web::to(|| async {
        Err::<HttpResponse, Error>(Error::NotFound("no such route".into()))
    }));
}

/// The routes of one path; any method not among them gets 405 with `allow` as its
/// `Allow` header, where a path that does not exist gets 404.
fn resource(path: &str, allow: &'static str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(move || async move {
        Err::<HttpResponse, Error>(Error::MethodNotAllowed(allow))
    }))
}

/// Runs blocking store work (scans) off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> crate::error::Result<T> + Send + 'static,
) -> crate::error::Result<T> {
    web::block(f)
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
}

/// A body whose parse error is answered only after the caller's right to the route
/// was checked (a non-admin hears 403 whatever it sent).
fn parsed<T>(part: Result<T, actix_web::Error>) -> crate::error::Result<T> {
    part.map_err(|e| match e.as_error::<Error>() {
        Some(Error::TooLarge(m)) => Error::TooLarge(m.clone()),
        Some(other) => Error::bad(other.to_string()),
        None => Error::bad(e.to_string()),
    })
}

fn bad_json(e: JsonPayloadError) -> Error {
    match e {
        JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
            Error::TooLarge("body too large".into())
        }
        other => Error::bad(other.to_string()),
    }
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

/// GET /metrics: Prometheus text.
pub async fn metrics(node: web::Data<Node>) -> HttpResponse {
    let online = node.registry.send(Counts).await.unwrap_or_default();
    let (users, sessions) = (online.users, online.sessions);
    let convs = node.hub.send(ActiveCount).await.unwrap_or(0);
    let commit = node.store.commit().stats();
    let push = &node.push.handle.stats;
    let compaction = node.store.compaction_stats();
    use std::sync::atomic::Ordering::Relaxed;
    let gauges = [
        (
            "chatnode_users_online",
            "users with at least one socket",
            users as u64,
        ),
        (
            "chatnode_sessions_online",
            "authenticated sockets",
            sessions as u64,
        ),
        (
            "chatnode_conversations_active",
            "running conversation actors",
            convs as u64,
        ),
        (
            "chatnode_store_flushes",
            "group-commit flush+fsync rounds",
            commit.flushes,
        ),
        (
            "chatnode_store_batches",
            "message batches written, one transaction each",
            commit.batches,
        ),
        (
            "chatnode_store_batched_messages",
            "messages written in those batches",
            commit.batched_messages,
        ),
        (
            "chatnode_store_queued_us",
            "microseconds batched messages waited for their group to begin, summed",
            commit.queued_us,
        ),
        (
            "chatnode_store_write_us",
            "microseconds spent writing message batches",
            commit.write_us,
        ),
        (
            "chatnode_store_flush_us",
            "microseconds spent in sled's flush",
            commit.flush_us,
        ),
        (
            "chatnode_store_sync_us",
            "microseconds spent in fsync after the flush",
            commit.sync_us,
        ),
        (
            "chatnode_push_subscriptions",
            "Web Push subscriptions stored",
            node.store.push_subscription_count() as u64,
        ),
        (
            "chatnode_push_queue_depth",
            "offers waiting in the push queue (bound: push.queue_size)",
            push.queued.load(Relaxed),
        ),
        (
            "chatnode_push_waiting",
            "pushes held for their coalescing window or a retry",
            push.waiting.load(Relaxed),
        ),
        (
            "chatnode_pushes_sent_total",
            "pushes a push service took (2xx)",
            push.sent.load(Relaxed),
        ),
        (
            "chatnode_pushes_failed_4xx_total",
            "pushes answered 4xx (404/410 delete the subscription)",
            push.failed_4xx.load(Relaxed),
        ),
        (
            "chatnode_pushes_failed_5xx_total",
            "pushes answered 5xx (retried)",
            push.failed_5xx.load(Relaxed),
        ),
        (
            "chatnode_pushes_failed_network_total",
            "pushes with no answer (unreachable, timeout, endpoint refused)",
            push.failed_network.load(Relaxed),
        ),
        (
            "chatnode_pushes_dropped_total",
            "pushes dropped because the push queue was full",
            push.dropped.load(Relaxed),
        ),
        (
            "chatnode_store_bytes",
            "store size on disk",
            node.store.size_on_disk(),
        ),
        (
            "chatnode_search_indexed",
            "1 when search answers from the index, 0 while it is built (search scans)",
            u64::from(node.search.indexed()),
        ),
        (
            "chatnode_search_applied_total",
            "stored entries the search index applied since start",
            node.search.applied(),
        ),
        (
            "chatnode_search_backlog",
            "durable entries handed to the indexer and not applied yet (its lag)",
            node.store.feed().backlog() as u64,
        ),
        (
            "chatnode_compaction_sealed_total",
            "entries sealed into history chunks since start",
            compaction.sealed,
        ),
        (
            "chatnode_compaction_pruned_total",
            "dedupe entries pruned (older than storage.dedupe_window_secs) since start",
            compaction.pruned,
        ),
        (
            "chatnode_compaction_backlog",
            "entries the compactor's last pass left to seal",
            compaction.backlog,
        ),
        (
            "chatnode_compaction_passes_total",
            "compaction passes over every conversation completed since start",
            compaction.passes,
        ),
    ];
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(node.metrics.render(&gauges))
}

/// The caller of a route that needs `Authorization: Bearer TOKEN`.
pub struct AuthUser {
    /// Username.
    pub user: String,
    /// The token's hash (logout revokes it).
    pub token_hash: [u8; 32],
}

/// The bearer token of a request, if any.
pub fn bearer(req: &HttpRequest) -> Option<&str> {
    bearer_in(req.headers())
}

/// The bearer token in `headers`, if any.
fn bearer_in(headers: &actix_web::http::header::HeaderMap) -> Option<&str> {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
}

impl FromRequest for AuthUser {
    type Error = Error;
    type Future = Ready<Result<Self, Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let result = (|| {
            let node = req
                .app_data::<web::Data<Node>>()
                .ok_or_else(|| Error::Internal("node state missing".into()))?;
            let token = bearer(req).ok_or(Error::Unauthorized)?;
            let user = auth::check_token(&node.store, token)?;
            Ok(AuthUser {
                user,
                token_hash: auth::token_hash(token),
            })
        })();
        ready(result)
    }
}
