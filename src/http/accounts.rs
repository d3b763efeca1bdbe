//! POST /api/register, /api/login, /api/logout; GET /api/me, /api/presence.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::{resource, AuthUser};
use crate::actors::registry::{CloseToken, OnlinePeers};
use crate::auth;
use crate::error::{Error, Result};
use crate::node::Node;
use crate::protocol::valid_username;
use crate::store::{now_ms, UserRecord};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/api/register", "POST").route(web::post().to(register)))
        .service(resource("/api/login", "POST").route(web::post().to(login)))
        .service(resource("/api/logout", "POST").route(web::post().to(logout)))
        .service(resource("/api/me", "GET").route(web::get().to(me)))
        .service(resource("/api/presence", "GET").route(web::get().to(presence)));
}

#[derive(Deserialize)]
struct Credentials {
    username: String,
    password: String,
}

/// Counts a register/login attempt against the caller's address.
fn limit_logins(node: &Node, req: &HttpRequest) -> Result<()> {
    let ip = req
        .peer_addr()
        .map(|a| a.ip())
        .unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]));
    if node.logins.allow(ip) {
        Ok(())
    } else {
        Err(Error::RateLimited)
    }
}

async fn register(
    req: HttpRequest,
    node: web::Data<Node>,
    body: web::Json<Credentials>,
) -> Result<HttpResponse> {
    if !node.settings.accounts.registration_open {
        return Err(Error::Forbidden("registration is closed".into()));
    }
    limit_logins(&node, &req)?;
    let Credentials { username, password } = body.into_inner();
    if !valid_username(&username) {
        return Err(Error::bad("username: 1-32 characters of a-z 0-9 _ . -"));
    }
    if !auth::valid_password(&password) {
        return Err(Error::bad("password: 8-256 bytes"));
    }
    if node.store.user(&username)?.is_some() {
        return Err(Error::Conflict);
    }
    let password_hash = web::block(move || auth::hash_password(&password))
        .await
        .map_err(|e| Error::Internal(e.to_string()))??;
    let record = UserRecord {
        password_hash,
        created_ms: now_ms(),
        ..UserRecord::default()
    };
    if !node.store.create_user(&username, &record).await? {
        return Err(Error::Conflict);
    }
    let token = auth::issue_token(
        &node.store,
        &username,
        node.settings.accounts.token_ttl_secs,
    )
    .await?;
    Ok(HttpResponse::Created().json(json!({"user": username, "token": token})))
}

async fn login(
    req: HttpRequest,
    node: web::Data<Node>,
    body: web::Json<Credentials>,
) -> Result<HttpResponse> {
    limit_logins(&node, &req)?;
    let Credentials { username, password } = body.into_inner();
    let stored = if valid_username(&username) {
        node.store.user(&username)?
    } else {
        None
    };
    if !node.failed_logins.under_limit(username.clone()) {
        return Err(Error::RateLimited);
    }
    let known = stored.is_some();
    let hash = stored
        .map(|u| u.password_hash)
        .unwrap_or_else(|| auth::dummy_hash().to_string());
    let ok = web::block(move || auth::verify_password(&password, &hash))
        .await
        .map_err(|e| Error::Internal(e.to_string()))??;
    if !(ok && known) {
        node.failed_logins.allow(username);
        return Err(Error::Unauthorized);
    }
    let token = auth::issue_token(
        &node.store,
        &username,
        node.settings.accounts.token_ttl_secs,
    )
    .await?;
    Ok(HttpResponse::Ok().json(json!({"user": username, "token": token})))
}

async fn logout(node: web::Data<Node>, who: AuthUser) -> Result<HttpResponse> {
    node.store.delete_token(&who.token_hash).await?;
    node.registry.do_send(CloseToken {
        user: who.user,
        token_hash: who.token_hash,
    });
    Ok(HttpResponse::NoContent().finish())
}

async fn me(who: AuthUser) -> HttpResponse {
    HttpResponse::Ok().json(json!({"user": who.user}))
}

/// GET /api/presence: who of the caller's peers (users sharing a conversation with it)
/// is online now, sorted. `presence` frames then tell of every change.
async fn presence(node: web::Data<Node>, who: AuthUser) -> Result<HttpResponse> {
    let online = node.registry.send(OnlinePeers { user: who.user }).await?;
    Ok(HttpResponse::Ok().json(json!({ "online": online })))
}
