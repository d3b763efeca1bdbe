//! Admin routes: /api/admin/users (list, create), /api/admin/users/{user} (PATCH,
//! DELETE). Every one answers 403 `forbidden` to a caller who is not an admin, before
//! looking at anything else.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{resource, AuthUser};
use crate::accounts::{self, no_such_user, Target};
use crate::error::{Error, Result};
use crate::node::Node;
use crate::store::{Admission, UserRecord};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/api/admin/users", "GET, POST")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(
        resource("/api/admin/users/{user}", "PATCH, DELETE")
            .route(web::patch().to(patch))
            .route(web::delete().to(delete)),
    );
}

/// Refuses a caller who is not an enabled admin.
fn require_admin(node: &Node, who: &AuthUser) -> Result<()> {
    match node.store.user(&who.user)? {
        Some(u) if u.admin && !u.disabled => Ok(()),
        _ => Err(Error::Forbidden("admins only".into())),
    }
}

/// A user as the admin list shows it.
pub fn admin_view(name: &str, u: &UserRecord) -> Value {
    json!({
        "user": name,
        "display_name": u.display_name,
        "avatar_url": u.avatar_url,
        "admin": u.admin,
        "disabled": u.disabled,
        "created": u.created_ms,
        "last_seen": u.last_seen_ms,
    })
}

async fn list(node: web::Data<Node>, who: AuthUser) -> Result<HttpResponse> {
    require_admin(&node, &who)?;
    let store = node.store.clone();
    let users = super::blocking(move || store.accounts()).await?;
    let users: Vec<Value> = users
        .iter()
        .filter(|(_, u)| !u.deleted)
        .map(|(n, u)| admin_view(n, u))
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "users": users })))
}

#[derive(Deserialize)]
struct NewUser {
    username: String,
    password: String,
    #[serde(default)]
    admin: bool,
}

async fn create(
    node: web::Data<Node>,
    who: AuthUser,
    body: Result<web::Json<NewUser>, actix_web::Error>,
) -> Result<HttpResponse> {
    require_admin(&node, &who)?;
    let NewUser {
        username,
        password,
        admin,
    } = super::parsed(body)?.into_inner();
    let record = accounts::add_user(
        &node.store,
        &username,
        password,
        admin,
        Admission::default(),
    )
    .await?;
    Ok(HttpResponse::Created().json(admin_view(&username, &record)))
}

#[derive(Deserialize)]
struct UserChange {
    #[serde(default)]
    disabled: Option<bool>,
    #[serde(default)]
    admin: Option<bool>,
    #[serde(default)]
    password: Option<String>,
}

async fn patch(
    node: web::Data<Node>,
    who: AuthUser,
    path: web::Path<String>,
    body: Result<web::Json<UserChange>, actix_web::Error>,
) -> Result<HttpResponse> {
    require_admin(&node, &who)?;
    let name = path.into_inner();
    let UserChange {
        disabled,
        admin,
        password,
    } = super::parsed(body)?.into_inner();
    node.store.user(&name)?.ok_or_else(|| no_such_user(&name))?;
    if let Some(p) = &password {
        if !crate::auth::valid_password(p) {
            return Err(Error::bad("password: 8-256 bytes"));
        }
    }
    let target = Target::Running(&node);
    if let Some(admin) = admin {
        accounts::set_admin(&node.store, &name, admin).await?;
    }
    if let Some(disabled) = disabled {
        accounts::set_disabled(target, &name, disabled).await?;
    }
    if let Some(password) = password {
        accounts::set_password(target, &name, password).await?;
    }
    let record = node.store.user(&name)?.ok_or_else(|| no_such_user(&name))?;
    Ok(HttpResponse::Ok().json(admin_view(&name, &record)))
}

async fn delete(
    node: web::Data<Node>,
    who: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    require_admin(&node, &who)?;
    let name = path.into_inner();
    accounts::delete_account(Target::Running(&node), &name).await?;
    Ok(HttpResponse::NoContent().finish())
}
