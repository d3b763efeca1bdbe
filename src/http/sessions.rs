//! The caller's devices: GET /api/sessions, DELETE /api/sessions/{id}.
//!
//! A session is a token. Its `id` is the first 8 bytes of the token's SHA-256 in hex:
//! stable, unique among one user's tokens, and no help in finding the token.

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::{resource, AuthUser};
use crate::actors::registry::CloseToken;
use crate::error::{Error, Result};
use crate::node::Node;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/api/sessions", "GET").route(web::get().to(list)))
        .service(resource("/api/sessions/{id}", "DELETE").route(web::delete().to(revoke)));
}

/// The public id of the token whose hash is `hash`.
fn session_id(hash: &[u8; 32]) -> String {
    hex::encode(&hash[..8])
}

async fn list(node: web::Data<Node>, who: AuthUser) -> Result<HttpResponse> {
    let mut tokens = node.store.user_tokens(&who.user)?;
    tokens.sort_by_key(|(_, t)| std::cmp::Reverse(t.created_ms));
    let sessions: Vec<_> = tokens
        .iter()
        .map(|(hash, t)| {
            json!({
                "id": session_id(hash),
                "created": t.created_ms,
                "last_seen": t.last_seen_ms,
                "agent": t.agent,
                "current": *hash == who.token_hash,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "sessions": sessions })))
}

async fn revoke(
    node: web::Data<Node>,
    who: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    let id = path.into_inner();
    let found = node
        .store
        .user_tokens(&who.user)?
        .into_iter()
        .find(|(hash, _)| session_id(hash) == id)
        .ok_or_else(|| Error::NotFound("no such session".into()))?;
    let hash = found.0;
    node.store.revoke_tokens(&who.user, |h| *h == hash).await?;
    node.registry.do_send(CloseToken {
        user: who.user,
        token_hash: hash,
    });
    Ok(HttpResponse::NoContent().finish())
}
