//! Invites: POST /api/invites, GET /api/invites, DELETE /api/invites/{code}.
//!
//! Who may make one is `accounts.invites` ("admins" or "members"). The code is shown
//! once, at creation; lists show each invite by its `id` (the code's first 16
//! characters), which `DELETE` takes as well as the whole code.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::accounts::limit_logins;
use super::{resource, AuthUser};
use crate::config::InvitePolicy;
use crate::error::{Error, Result};
use crate::node::Node;
use crate::store::Invite;

/// An invite admits one registration unless told otherwise.
const DEFAULT_USES: u32 = 1;
/// Most registrations one invite may admit.
const MAX_USES: u32 = 10_000;
/// An invite lasts 7 days unless told otherwise.
const DEFAULT_TTL_SECS: u64 = 7 * 24 * 3600;
/// Longest an invite may last: a year.
const MAX_TTL_SECS: u64 = 366 * 24 * 3600;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/api/invites", "GET, POST")
            .route(web::post().to(create))
            .route(web::get().to(list)),
    )
    .service(resource("/api/invites/{code}", "DELETE").route(web::delete().to(revoke)));
}

#[derive(Deserialize, Default)]
struct NewInvite {
    #[serde(default)]
    uses: Option<u32>,
    #[serde(default)]
    ttl_secs: Option<u64>,
}

/// Checks an invite's uses and lifetime, defaults filled in.
pub fn invite_terms(uses: Option<u32>, ttl_secs: Option<u64>) -> Result<(u32, u64)> {
    let uses = uses.unwrap_or(DEFAULT_USES);
    let ttl = ttl_secs.unwrap_or(DEFAULT_TTL_SECS);
    if !(1..=MAX_USES).contains(&uses) {
        return Err(Error::bad(format!("uses: 1-{MAX_USES}")));
    }
    if !(1..=MAX_TTL_SECS).contains(&ttl) {
        return Err(Error::bad(format!("ttl_secs: 1-{MAX_TTL_SECS}")));
    }
    Ok((uses, ttl))
}

/// The invite link for `code`: `{public_url}/#invite=CODE`, or the request's origin.
pub fn invite_url(public_url: &str, origin: &str, code: &str) -> String {
    let base = if public_url.is_empty() {
        origin
    } else {
        public_url
    };
    format!("{}/#invite={code}", base.trim_end_matches('/'))
}

/// An invite as lists show it.
fn listed(invite: &Invite) -> Value {
    json!({
        "id": invite.id,
        "expires": invite.record.expires_ms,
        "uses_left": invite.record.uses_left,
        "used": invite.record.used,
        "created": invite.record.created_ms,
    })
}

async fn create(
    req: HttpRequest,
    node: web::Data<Node>,
    who: AuthUser,
    body: web::Bytes,
) -> Result<HttpResponse> {
    limit_logins(&node, &req)?;
    let admin = node.store.user(&who.user)?.is_some_and(|u| u.admin);
    if !admin && node.settings.accounts.invites != InvitePolicy::Members {
        return Err(Error::Forbidden("only admins may create invites".into()));
    }
    let NewInvite { uses, ttl_secs } = if body.iter().all(u8::is_ascii_whitespace) {
        NewInvite::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| Error::bad(e.to_string()))?
    };
    let (uses, ttl) = invite_terms(uses, ttl_secs)?;
    let (code, invite) = node.store.create_invite(&who.user, uses, ttl).await?;
    let info = req.connection_info();
    let origin = format!("{}://{}", info.scheme(), info.host());
    let mut answer = listed(&invite);
    answer["code"] = json!(code);
    answer["url"] = json!(invite_url(
        &node.settings.accounts.public_url,
        &origin,
        &code
    ));
    Ok(HttpResponse::Created().json(answer))
}

async fn list(node: web::Data<Node>, who: AuthUser) -> Result<HttpResponse> {
    let invites: Vec<Value> = node
        .store
        .invites_of(&who.user)?
        .iter()
        .map(listed)
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "invites": invites })))
}

async fn revoke(
    node: web::Data<Node>,
    who: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    if node
        .store
        .delete_invite(&who.user, &path.into_inner())
        .await?
    {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(Error::NotFound("no such invite".into()))
    }
}
