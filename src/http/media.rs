//! POST /api/media, GET /media/{id} and GET /media/{id}/thumb.
//!
//! An upload is streamed to data_dir/media/ID.part through a bounded channel into a
//! writer thread (never held whole in memory), fsync'd, looked at for image size and a
//! thumbnail on a blocking thread, renamed to ID, and only then recorded. Who may fetch
//! a file is [`Store::media_visible_to`](crate::store::Store::media_visible_to)'s rule;
//! anyone else gets 404. Files are served in 256 KiB reads with `Range` and `ETag`.

use std::{
    fs::File,
    io::{BufWriter, Write},
    os::unix::fs::FileExt,
    path::PathBuf,
    sync::Arc,
};

use actix_web::{body::SizedStream, http::StatusCode, web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde_json::json;

use super::{bearer, resource, AuthUser};
use crate::auth;
use crate::error::{Error, Result};
use crate::media::{
    image::{self, ImageError},
    names,
    range::{self, Wanted},
};
use crate::node::Node;
use crate::store::{now_ms, MediaRecord};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/api/media", "POST").route(web::post().to(upload)))
        .service(
            resource("/media/{id}", "GET, HEAD")
                .route(web::get().to(fetch))
                .route(web::head().to(fetch)),
        )
        .service(
            resource("/media/{id}/thumb", "GET, HEAD")
                .route(web::get().to(fetch_thumb))
                .route(web::head().to(fetch_thumb)),
        );
}

/// Chunks of the body buffered between the socket and the writer thread.
const CHANNEL_CHUNKS: usize = 16;

/// Bytes read from disk per step when serving.
const READ_CHUNK: u64 = 256 * 1024;

/// Runs blocking work off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    web::block(f)
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
}

/// Removes an unfinished upload's files unless disarmed, however the request ends
/// (a client that goes away midway drops the handler).
struct Leftovers(Vec<PathBuf>);

impl Drop for Leftovers {
    fn drop(&mut self) {
        for path in &self.0 {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The Content-Type an upload is stored with.
fn content_type(req: &HttpRequest) -> Result<String> {
    let Some(value) = req.headers().get("content-type") else {
        return Ok("application/octet-stream".into());
    };
    let text = value
        .to_str()
        .map_err(|_| Error::bad("Content-Type is not plain text"))?
        .trim();
    if text.is_empty() {
        return Ok("application/octet-stream".into());
    }
    if text.len() > 255 || !text.contains('/') {
        return Err(Error::bad(
            "Content-Type must be a type/subtype of at most 255 bytes",
        ));
    }
    Ok(text.to_string())
}

/// Whether browsers may show a type inline; everything else is served as an attachment
/// (SVG included: it can carry script).
fn inline_type(ct: &str) -> bool {
    let ct = ct.to_ascii_lowercase();
    ["image/", "audio/", "video/"]
        .iter()
        .any(|p| ct.starts_with(p))
        && !ct.contains("svg")
}

async fn upload(
    req: HttpRequest,
    node: web::Data<Node>,
    who: AuthUser,
    mut body: web::Payload,
) -> Result<HttpResponse> {
    let content_type = content_type(&req)?;
    let name = req
        .headers()
        .get("x-filename")
        .and_then(|v| names::from_header(v.as_bytes()));
    let media = &node.settings.media;
    let max = media.max_upload_bytes();
    let declared = req
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let over_max = || Error::TooLarge(format!("uploads are at most {} MiB", media.max_upload_mb));
    if declared.is_some_and(|n| n > max) {
        return Err(over_max());
    }
    let store = node.store.clone();
    let user = who.user.clone();
    let used = blocking(move || store.media_usage(&user)).await?;
    let room = media.quota_bytes().saturating_sub(used);
    let over_quota = || {
        Error::TooLarge(format!(
            "your uploads would pass your quota of {} MiB",
            media.quota_mb
        ))
    };
    if declared.is_some_and(|n| n > room) {
        return Err(over_quota());
    }

    let id = auth::new_token()[..32].to_ascii_lowercase();
    let (part, final_path, thumb) = (
        node.store.part_path(&id),
        node.store.media_path(&id),
        node.store.thumb_path(&id),
    );
    let mut leftovers = Leftovers(vec![part.clone(), thumb.clone()]);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<web::Bytes>(CHANNEL_CHUNKS);
    let part_for_writer = part.clone();
    let writer = web::block(move || -> std::io::Result<()> {
        let mut out = BufWriter::with_capacity(256 * 1024, File::create(&part_for_writer)?);
        while let Some(chunk) = rx.blocking_recv() {
            out.write_all(&chunk)?;
        }
        out.into_inner().map_err(|e| e.into_error())?.sync_all()
    });
    let mut size = 0u64;
    let mut failure = None;
    while let Some(chunk) = body.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(e) => {
                failure = Some(Error::bad(format!("upload cut off: {e}")));
                break;
            }
        };
        size += chunk.len() as u64;
        if size > max {
            failure = Some(over_max());
            break;
        }
        if size > room {
            failure = Some(over_quota());
            break;
        }
        if tx.send(chunk).await.is_err() {
            break;
        }
    }
    drop(tx);
    let written = writer.await.map_err(|e| Error::Internal(e.to_string()))?;
    if let Some(e) = failure {
        return Err(e);
    }
    written?;
    if size == 0 {
        return Err(Error::bad("empty upload"));
    }

    let (part_done, thumb_done) = (part.clone(), thumb.clone());
    let looked = blocking(move || match image::process(&part_done, &thumb_done) {
        Ok(info) => Ok(Ok(info)),
        Err(ImageError::TooManyPixels(w, h)) => Ok(Err((w, h))),
        Err(ImageError::Io(e)) => Err(Error::from(e)),
    })
    .await?;
    let info = looked.map_err(|(w, h)| {
        Error::TooLarge(format!(
            "the image declares {w} x {h} pixels; the node takes at most {} million",
            image::MAX_PIXELS / 1_000_000
        ))
    })?;
    let (media_dir, final_for_rename) = (node.store.media_dir().to_path_buf(), final_path.clone());
    let part_for_rename = part.clone();
    let size = blocking(move || {
        // stripping metadata may have changed the size
        let size = std::fs::metadata(&part_for_rename)?.len();
        std::fs::rename(&part_for_rename, &final_for_rename)?;
        File::open(&media_dir)?.sync_all()?;
        Ok(size)
    })
    .await?;
    leftovers.0 = vec![final_path];
    let record = MediaRecord {
        uploader: who.user,
        content_type,
        size,
        created_ms: now_ms(),
        name,
        width: info.map(|i| i.width),
        height: info.map(|i| i.height),
        thumb: info.is_some_and(|i| i.thumb),
    };
    node.store.put_media(&id, &record).await?;
    leftovers.0.clear();
    Ok(HttpResponse::Created().json(json!({
        "url": format!("/media/{id}"),
        "type": record.content_type,
        "size": record.size,
        "name": record.name,
        "width": record.width,
        "height": record.height,
        "thumb_url": record.thumb.then(|| format!("/media/{id}/thumb")),
    })))
}

async fn fetch(
    req: HttpRequest,
    node: web::Data<Node>,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    serve(req, node, path.into_inner(), false).await
}

async fn fetch_thumb(
    req: HttpRequest,
    node: web::Data<Node>,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    serve(req, node, path.into_inner(), true).await
}

/// Whether an `If-None-Match` value names `etag`.
fn etag_matches(header: &str, etag: &str) -> bool {
    header
        .split(',')
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t == etag)
}

async fn serve(
    req: HttpRequest,
    node: web::Data<Node>,
    id: String,
    thumb: bool,
) -> Result<HttpResponse> {
    let token = bearer(&req).map(str::to_string).or_else(|| {
        req.query_string()
            .split('&')
            .find_map(|p| p.strip_prefix("token=").map(str::to_string))
    });
    let user = auth::check_token(&node.store, &token.ok_or(Error::Unauthorized)?)?;
    let not_found = || Error::NotFound("no such media".into());
    let store = node.store.clone();
    let lookup_id = id.clone();
    let media = blocking(move || store.media_visible_to(&user, &lookup_id))
        .await?
        .ok_or_else(not_found)?;
    if thumb && !media.thumb {
        return Err(not_found());
    }
    let (path, content_type, etag) = match thumb {
        false => (
            node.store.media_path(&id),
            media.content_type.clone(),
            format!("\"{id}\""),
        ),
        true => (
            node.store.thumb_path(&id),
            "image/jpeg".to_string(),
            format!("\"{id}-thumb\""),
        ),
    };
    let file = blocking(move || Ok(File::open(path)?))
        .await
        .map_err(|_| not_found())?;
    let file = Arc::new(file);
    let meta_file = file.clone();
    let size = blocking(move || Ok(meta_file.metadata()?.len())).await?;

    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let mut res = HttpResponse::build(StatusCode::OK);
    res.insert_header(("ETag", etag.as_str()))
        .insert_header(("Accept-Ranges", "bytes"))
        .insert_header(("Cache-Control", "private, max-age=31536000, immutable"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("Content-Security-Policy", "sandbox; default-src 'none'"));
    if !thumb {
        let kind = if inline_type(&content_type) {
            "inline"
        } else {
            "attachment"
        };
        res.insert_header((
            "Content-Disposition",
            names::disposition(kind, media.name.as_deref()),
        ));
    }
    if header("if-none-match").is_some_and(|h| etag_matches(h, &etag)) {
        return Ok(res.status(StatusCode::NOT_MODIFIED).finish());
    }
    // a Range counts only while If-Range (if sent) still names this file
    let range_header =
        header("range").filter(|_| header("if-range").is_none_or(|v| v.trim() == etag));
    let (start, len) = match range::parse(range_header, size) {
        Wanted::Whole => (0, size),
        Wanted::Part { start, len } => {
            res.status(StatusCode::PARTIAL_CONTENT).insert_header((
                "Content-Range",
                format!("bytes {start}-{}/{size}", start + len - 1),
            ));
            (start, len)
        }
        Wanted::Unsatisfiable => {
            return Ok(HttpResponse::build(StatusCode::RANGE_NOT_SATISFIABLE)
                .insert_header(("Content-Range", format!("bytes */{size}")))
                .insert_header(("ETag", etag.as_str()))
                .finish());
        }
    };
    res.content_type(content_type);
    if req.method() == actix_web::http::Method::HEAD {
        res.insert_header(("Content-Length", len.to_string()));
        return Ok(res.finish());
    }
    Ok(res.body(SizedStream::new(len, file_stream(file, start, len))))
}

/// The bytes `start..start + len` of `file`, read on blocking threads in
/// [`READ_CHUNK`] steps (so a large file never sits in memory).
fn file_stream(
    file: Arc<File>,
    start: u64,
    len: u64,
) -> impl futures_util::Stream<Item = std::result::Result<web::Bytes, actix_web::Error>> {
    futures_util::stream::unfold((file, start, len), |(file, at, left)| async move {
        if left == 0 {
            return None;
        }
        let step = left.min(READ_CHUNK);
        let reader = file.clone();
        let read = web::block(move || -> std::io::Result<Vec<u8>> {
            let mut buf = vec![0u8; step as usize];
            let mut filled = 0;
            while filled < buf.len() {
                match reader.read_at(&mut buf[filled..], at + filled as u64)? {
                    0 => return Err(std::io::Error::other("media file shrank")),
                    n => filled += n,
                }
            }
            Ok(buf)
        })
        .await;
        match read {
            Ok(Ok(buf)) => Some((Ok(web::Bytes::from(buf)), (file, at + step, left - step))),
            Ok(Err(e)) => Some((
                Err(actix_web::error::ErrorInternalServerError(e)),
                (file, at, 0),
            )),
            Err(e) => Some((
                Err(actix_web::error::ErrorInternalServerError(e)),
                (file, at, 0),
            )),
        }
    })
}
