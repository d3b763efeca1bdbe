//! POST /api/register, /api/login, /api/logout, /api/password; GET/PUT/DELETE /api/me;
//! GET /api/presence, /api/features.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};

use super::{resource, AuthUser};
use crate::accounts::{self, Target};
use crate::actors::registry::{CloseToken, Deliver, OnlinePeers};
use crate::actors::Push;
use crate::auth;
use crate::error::{Error, Result};
use crate::node::Node;
use crate::protocol::valid_username;
use crate::store::{Admission, UserRecord};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/api/register", "POST").route(web::post().to(register)))
        .service(resource("/api/login", "POST").route(web::post().to(login)))
        .service(resource("/api/logout", "POST").route(web::post().to(logout)))
        .service(resource("/api/password", "POST").route(web::post().to(password)))
        .service(
            resource("/api/me", "GET, PUT, DELETE")
                .route(web::get().to(me))
                .route(web::put().to(update_me))
                .route(web::delete().to(delete_me)),
        )
        .service(resource("/api/presence", "GET").route(web::get().to(presence)))
        .service(resource("/api/features", "GET").route(web::get().to(features)));
}

#[derive(Deserialize)]
struct Credentials {
    username: String,
    password: String,
}

#[derive(Deserialize)]
struct Registration {
    username: String,
    password: String,
    #[serde(default)]
    invite: Option<String>,
}

/// Counts an attempt that guesses a secret (register, login, password, invites)
/// against the caller's address (`limits.logins_per_min`).
pub(super) fn limit_logins(node: &Node, req: &HttpRequest) -> Result<()> {
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

/// The request's User-Agent, kept with the token it gets.
fn agent(req: &HttpRequest) -> &str {
    req.headers()
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// A user's public profile: `{"user","display_name","avatar_url"}`.
pub(super) fn profile(name: &str, u: &UserRecord) -> Value {
    json!({"user": name, "display_name": u.display_name, "avatar_url": u.avatar_url})
}

/// The caller's own profile: the public one plus `admin`.
fn own_profile(name: &str, u: &UserRecord) -> Value {
    let mut v = profile(name, u);
    v["admin"] = json!(u.admin);
    v
}

async fn register(
    req: HttpRequest,
    node: web::Data<Node>,
    body: web::Json<Registration>,
) -> Result<HttpResponse> {
    limit_logins(&node, &req)?;
    let Registration {
        username,
        password,
        invite,
    } = body.into_inner();
    let open = node.settings.accounts.registration_open;
    // On an open node an invite is not needed, and is not looked at.
    let invite = invite.filter(|c| !c.is_empty() && !open);
    if !open && invite.is_none() {
        return Err(Error::Forbidden(
            "registration is closed: an invite is needed".into(),
        ));
    }
    let admission = Admission {
        first_is_admin: open,
        invite: invite.as_deref(),
    };
    accounts::add_user(&node.store, &username, password, false, admission).await?;
    let token = auth::issue_token(
        &node.store,
        &username,
        node.settings.accounts.token_ttl_secs,
        agent(&req),
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
    // A disabled account is answered exactly like a wrong password, after the same work.
    let usable = stored.as_ref().is_some_and(|u| !u.disabled);
    let hash = stored
        .map(|u| u.password_hash)
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| auth::dummy_hash().to_string());
    let ok = accounts::verify_password(password, hash).await?;
    if !(ok && usable) {
        node.failed_logins.allow(username);
        return Err(Error::Unauthorized);
    }
    let token = auth::issue_token(
        &node.store,
        &username,
        node.settings.accounts.token_ttl_secs,
        agent(&req),
    )
    .await?;
    // Disabled or deleted while the password was being checked: the token goes again.
    if node.store.user(&username)?.is_none_or(|u| u.disabled) {
        node.store.delete_token(&auth::token_hash(&token)).await?;
        return Err(Error::Unauthorized);
    }
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

/// The caller's account (a token outlives nothing: an account without one is gone).
fn caller(node: &Node, who: &AuthUser) -> Result<UserRecord> {
    node.store.user(&who.user)?.ok_or(Error::Unauthorized)
}

async fn me(node: web::Data<Node>, who: AuthUser) -> Result<HttpResponse> {
    let record = caller(&node, &who)?;
    Ok(HttpResponse::Ok().json(own_profile(&who.user, &record)))
}

/// `Some(value)` for a field that is present (`null` included), `None` for one left out.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

#[derive(Deserialize)]
struct ProfileChange {
    #[serde(default, deserialize_with = "present")]
    display_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    avatar_url: Option<Option<String>>,
}

/// Checks that `url` is `/media/ID` of an image `user` uploaded.
fn check_avatar(node: &Node, user: &str, url: &str) -> Result<()> {
    let refused = || Error::bad("avatar_url: a /media/ID of an image you uploaded");
    let id = url.strip_prefix("/media/").ok_or_else(refused)?;
    if id.is_empty() || id.len() > 128 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(refused());
    }
    match node.store.media(id)? {
        Some(m) if m.uploader == user && m.content_type.starts_with("image/") => Ok(()),
        _ => Err(refused()),
    }
}

async fn update_me(
    node: web::Data<Node>,
    who: AuthUser,
    body: web::Json<ProfileChange>,
) -> Result<HttpResponse> {
    let ProfileChange {
        display_name,
        avatar_url,
    } = body.into_inner();
    let display_name = match display_name {
        Some(Some(name)) => {
            let name = name.trim().to_string();
            if !auth::valid_display_name(&name) {
                return Err(Error::bad(
                    "display_name: 1-64 characters, no control characters",
                ));
            }
            Some(Some(name))
        }
        other => other,
    };
    if let Some(Some(url)) = &avatar_url {
        check_avatar(&node, &who.user, url)?;
    }
    let before = caller(&node, &who)?;
    let record = node
        .store
        .update_account(&who.user, |u| {
            if let Some(name) = display_name {
                u.display_name = name;
            }
            if let Some(url) = avatar_url {
                u.avatar_url = url;
            }
            Ok(())
        })
        .await?;
    if record.display_name != before.display_name || record.avatar_url != before.avatar_url {
        let mut frame = profile(&who.user, &record);
        frame["type"] = json!("user_update");
        // the peers are read here, off the registry's thread (a scan of the user's
        // conversations)
        let (store, user) = (node.store.clone(), who.user.clone());
        let mut users = super::blocking(move || store.peers(&user)).await?;
        users.push(who.user.clone());
        node.registry.do_send(Deliver {
            users: users.into(),
            push: Push::Frame(frame.to_string().into()),
            except: None,
        });
    }
    Ok(HttpResponse::Ok().json(own_profile(&who.user, &record)))
}

#[derive(Deserialize)]
struct PasswordCheck {
    password: String,
}

/// Checks `password` against the caller's (counted against `limits.logins_per_min`).
async fn check_own_password(
    node: &Node,
    req: &HttpRequest,
    who: &AuthUser,
    password: String,
) -> Result<()> {
    limit_logins(node, req)?;
    let record = caller(node, who)?;
    if accounts::verify_password(password, record.password_hash).await? {
        Ok(())
    } else {
        Err(Error::Unauthorized)
    }
}

async fn delete_me(
    req: HttpRequest,
    node: web::Data<Node>,
    who: AuthUser,
    body: web::Json<PasswordCheck>,
) -> Result<HttpResponse> {
    check_own_password(&node, &req, &who, body.into_inner().password).await?;
    accounts::delete_account(Target::Running(&node), &who.user).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
struct PasswordChange {
    old: String,
    new: String,
}

async fn password(
    req: HttpRequest,
    node: web::Data<Node>,
    who: AuthUser,
    body: web::Json<PasswordChange>,
) -> Result<HttpResponse> {
    let PasswordChange { old, new } = body.into_inner();
    check_own_password(&node, &req, &who, old).await?;
    accounts::set_password(Target::Running(&node), &who.user, new).await?;
    let token = auth::issue_token(
        &node.store,
        &who.user,
        node.settings.accounts.token_ttl_secs,
        agent(&req),
    )
    .await?;
    Ok(HttpResponse::Ok().json(json!({"user": who.user, "token": token})))
}

/// GET /api/presence: who of the caller's peers (users sharing a conversation with it)
/// is online now, sorted. `presence` frames then tell of every change.
async fn presence(node: web::Data<Node>, who: AuthUser) -> Result<HttpResponse> {
    let online = node.registry.send(OnlinePeers { user: who.user }).await?;
    Ok(HttpResponse::Ok().json(json!({ "online": online })))
}

/// GET /api/features (public): what this node offers, for a client to adapt to.
async fn features(node: web::Data<Node>) -> HttpResponse {
    let registration = if node.settings.accounts.registration_open {
        "open"
    } else {
        "invite"
    };
    HttpResponse::Ok().json(json!({
        "protocol": crate::protocol::PROTOCOL_VERSION,
        "registration": registration,
        "push": node.push.handle.enabled(),
        "search": if node.search.enabled() { "index" } else { "scan" },
        "invites": node.settings.accounts.invites.as_str(),
        "directory": node.settings.accounts.directory.as_str(),
    }))
}
