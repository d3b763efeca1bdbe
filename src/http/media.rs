//! POST /api/media and GET /media/{id}. The bytes live in data_dir/media/ID (fsync'd
//! before the record is written); only the uploader and members of a conversation
//! whose messages reference the file may fetch it.

use std::io::Write;

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::{bearer, resource, AuthUser};
use crate::auth;
use crate::error::{Error, Result};
use crate::node::Node;
use crate::store::{now_ms, MediaRecord};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/api/media", "POST").route(web::post().to(upload)))
        .service(resource("/media/{id}", "GET").route(web::get().to(fetch)));
}

fn allowed_type(ct: &str) -> bool {
    ["image/", "audio/", "video/"]
        .iter()
        .any(|p| ct.starts_with(p))
        && ct.len() <= 100
}

async fn upload(
    req: HttpRequest,
    node: web::Data<Node>,
    who: AuthUser,
    mut body: web::Payload,
) -> Result<HttpResponse> {
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if !allowed_type(&content_type) {
        return Err(Error::bad(
            "Content-Type must be image/*, audio/* or video/*",
        ));
    }
    let max = node.settings.limits.max_media_bytes;
    let mut bytes = web::BytesMut::new();
    use futures_util::StreamExt;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| Error::bad(e.to_string()))?;
        if bytes.len() + chunk.len() > max {
            return Err(Error::TooLarge(format!("media is over {max} bytes")));
        }
        bytes.extend_from_slice(&chunk);
    }
    if bytes.is_empty() {
        return Err(Error::bad("empty upload"));
    }
    let id = auth::new_token()[..32].to_string();
    let path = node.store.media_path(&id);
    let size = bytes.len() as u64;
    web::block(move || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&path)?;
        f.write_all(&bytes)?;
        f.sync_all()
    })
    .await
    .map_err(|e| Error::Internal(e.to_string()))??;
    let record = MediaRecord {
        uploader: who.user,
        content_type,
        size,
        created_ms: now_ms(),
        ..MediaRecord::default()
    };
    node.store.put_media(&id, &record).await?;
    Ok(HttpResponse::Created().json(json!({"url": format!("/media/{id}")})))
}

async fn fetch(
    req: HttpRequest,
    node: web::Data<Node>,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    let id = path.into_inner();
    let token = bearer(&req).map(str::to_string).or_else(|| {
        req.query_string()
            .split('&')
            .find_map(|p| p.strip_prefix("token=").map(str::to_string))
    });
    let user = auth::check_token(&node.store, &token.ok_or(Error::Unauthorized)?)?;
    let not_found = || Error::NotFound("no such media".into());
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(not_found());
    }
    let media = node.store.media(&id)?.ok_or_else(not_found)?;
    // A user's picture is seen by everyone who sees the user (accounts: avatar_url).
    let mut allowed = media.uploader == user || node.store.media_is_avatar(&id, &media)?;
    if !allowed {
        for conv in node.store.media_conversations(&id)? {
            if node.store.member_state(&user, conv)?.is_some() {
                allowed = true;
                break;
            }
        }
    }
    if !allowed {
        return Err(not_found());
    }
    let path = node.store.media_path(&id);
    let bytes = web::block(move || std::fs::read(path))
        .await
        .map_err(|e| Error::Internal(e.to_string()))??;
    Ok(HttpResponse::Ok()
        .content_type(media.content_type)
        .insert_header(("Cache-Control", "private, max-age=86400"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(bytes))
}
