//! GET /api/push/vapid; POST, GET /api/push/subscriptions; DELETE
//! /api/push/subscriptions/{id}. With `push.enabled = false` every one answers 404.

use actix_web::{web, HttpResponse};
use rand::RngCore;
use serde::Deserialize;
use serde_json::json;

use super::{resource, AuthUser};
use crate::error::{Error, Result};
use crate::node::Node;
use crate::push::{deliver, endpoint, vapid::Vapid};
use crate::store::{
    now_ms,
    push::{Subscribed, SubscriptionRecord},
};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/api/push/vapid", "GET").route(web::get().to(vapid)))
        .service(
            resource("/api/push/subscriptions", "GET, POST")
                .route(web::post().to(subscribe))
                .route(web::get().to(list)),
        )
        .service(
            resource("/api/push/subscriptions/{id}", "DELETE").route(web::delete().to(unsubscribe)),
        );
}

/// The VAPID key, or 404 when push is off.
fn key(node: &Node) -> Result<&Vapid> {
    node.push
        .vapid
        .as_ref()
        .ok_or_else(|| Error::NotFound("push notifications are switched off".into()))
}

async fn vapid(node: web::Data<Node>) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(json!({ "public_key": key(&node)?.public_key() })))
}

/// A browser's `PushSubscription.toJSON()` (other fields, e.g. expirationTime, ignored).
#[derive(Deserialize)]
struct NewSubscription {
    endpoint: String,
    keys: Keys,
}

#[derive(Deserialize)]
struct Keys {
    p256dh: String,
    auth: String,
}

async fn subscribe(
    node: web::Data<Node>,
    who: AuthUser,
    body: web::Json<NewSubscription>,
) -> Result<HttpResponse> {
    key(&node)?;
    let NewSubscription { endpoint, keys } = body.into_inner();
    let (p256dh, auth) = deliver::decode_keys(&keys.p256dh, &keys.auth)?;
    endpoint::check(&endpoint, &node.settings.push.allowed_endpoints).await?;
    let record = SubscriptionRecord {
        user: who.user,
        token_hash: who.token_hash.to_vec(),
        endpoint,
        p256dh,
        auth,
        created_ms: now_ms(),
    };
    let mut id = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut id);
    let cap = node.settings.push.max_subscriptions_per_user;
    match node
        .store
        .put_push_subscription(&record, hex::encode(id), cap)
        .await?
    {
        Subscribed::Stored(id) => Ok(HttpResponse::Created().json(json!({ "id": id }))),
        Subscribed::Full => Err(Error::Forbidden(format!(
            "at most {cap} push subscriptions per user: delete one first"
        ))),
    }
}

async fn list(node: web::Data<Node>, who: AuthUser) -> Result<HttpResponse> {
    key(&node)?;
    let subs: Vec<_> = node
        .store
        .push_subscriptions_of(&who.user)?
        .into_iter()
        .map(|(id, s)| json!({"id": id, "endpoint": s.endpoint, "created": s.created_ms}))
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "subscriptions": subs })))
}

async fn unsubscribe(
    node: web::Data<Node>,
    who: AuthUser,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    key(&node)?;
    let id = id.into_inner();
    match node.store.push_subscription(&id)? {
        Some(sub) if sub.user == who.user => {
            node.store.delete_push_subscriptions(&[id]).await?;
            Ok(HttpResponse::NoContent().finish())
        }
        _ => Err(Error::NotFound("no such push subscription".into())),
    }
}
