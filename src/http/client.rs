//! The bundled web client: every file under web/ (but the e2e) compiled into the binary,
//! so a node on a Pi needs no other files to be usable from a browser. Served compressed
//! (gzip, by actix's middleware) with a strong ETag per file, so a reload revalidates with
//! `If-None-Match` and gets an empty 304.

use std::sync::OnceLock;

use actix_web::{
    http::header::{self, HeaderValue},
    middleware::Compress,
    web, HttpRequest, HttpResponse,
};
use sha2::{Digest, Sha256};

/// One file of the client: where it is served, its type and its bytes.
struct Asset {
    path: &'static str,
    mime: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $file:literal, $mime:expr) => {
        Asset {
            path: $path,
            mime: $mime,
            body: include_bytes!(concat!("../../web/", $file)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// The build-time list of the client's files (a test checks it names every file in web/).
const ASSETS: &[Asset] = &[
    asset!("/", "index.html", "text/html; charset=utf-8"),
    asset!("/sw.js", "sw.js", JS),
    asset!(
        "/manifest.webmanifest",
        "manifest.webmanifest",
        "application/manifest+json"
    ),
    asset!("/app/app.css", "app/app.css", "text/css; charset=utf-8"),
    asset!("/app/icon.svg", "app/icon.svg", "image/svg+xml"),
    asset!("/app/main.js", "app/main.js", JS),
    asset!("/app/api.js", "app/api.js", JS),
    asset!("/app/socket.js", "app/socket.js", JS),
    asset!("/app/store.js", "app/store.js", JS),
    asset!("/app/i18n.js", "app/i18n.js", JS),
    asset!("/app/dom.js", "app/dom.js", JS),
    asset!("/app/media.js", "app/media.js", JS),
    asset!("/app/users.js", "app/users.js", JS),
    asset!("/app/qr.js", "app/qr.js", JS),
    asset!("/app/views/login.js", "app/views/login.js", JS),
    asset!("/app/views/list.js", "app/views/list.js", JS),
    asset!("/app/views/chat.js", "app/views/chat.js", JS),
    asset!("/app/views/members.js", "app/views/members.js", JS),
    asset!("/app/views/newconv.js", "app/views/newconv.js", JS),
    asset!("/app/views/search.js", "app/views/search.js", JS),
    asset!("/app/views/conn.js", "app/views/conn.js", JS),
    asset!("/app/views/settings.js", "app/views/settings.js", JS),
    asset!("/app/notify.js", "app/notify.js", JS),
    asset!("/app/push.js", "app/push.js", JS),
    asset!("/app/views/mediaview.js", "app/views/mediaview.js", JS),
    asset!("/app/views/attach.js", "app/views/attach.js", JS),
    asset!("/app/views/voice.js", "app/views/voice.js", JS),
    asset!("/app/views/jump.js", "app/views/jump.js", JS),
    asset!("/app/events.js", "app/events.js", JS),
    asset!("/app/views/msgmenu.js", "app/views/msgmenu.js", JS),
    asset!("/app/views/reactions.js", "app/views/reactions.js", JS),
    asset!("/app/views/emojipicker.js", "app/views/emojipicker.js", JS),
    asset!("/app/views/quote.js", "app/views/quote.js", JS),
    asset!("/app/views/mentions.js", "app/views/mentions.js", JS),
    asset!("/app/views/compose.js", "app/views/compose.js", JS),
    asset!("/app/views/group.js", "app/views/group.js", JS),
];

/// The page talks to the same origin only (the HTTP API and /ws); scripts are files of
/// this list, never inline.
const CSP: &str = "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data: blob:; \
     media-src 'self' blob:; style-src 'self' 'unsafe-inline'; script-src 'self'; \
     worker-src 'self'; manifest-src 'self'; frame-ancestors 'none'";

/// Strong ETags, one per asset, computed once from the bytes.
fn etags() -> &'static [HeaderValue] {
    static TAGS: OnceLock<Vec<HeaderValue>> = OnceLock::new();
    TAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                let digest = Sha256::digest(a.body);
                let tag = format!("\"{}\"", hex::encode(&digest[..12]));
                HeaderValue::from_str(&tag).unwrap_or(HeaderValue::from_static("\"0\""))
            })
            .collect()
    })
}

/// Registers a GET/HEAD route for every asset, each wrapped in the compress middleware
/// (only these routes: the API and /ws stay as they are).
pub fn routes(cfg: &mut web::ServiceConfig) {
    for (i, asset) in ASSETS.iter().enumerate() {
        cfg.service(
            super::resource(asset.path, "GET, HEAD")
                .wrap(Compress::default())
                .route(web::get().to(move |req: HttpRequest| serve(i, req)))
                .route(web::head().to(move |req: HttpRequest| serve(i, req))),
        );
    }
}

/// Whether an `If-None-Match` header names `tag` (or is `*`).
fn matches(req: &HttpRequest, tag: &HeaderValue) -> bool {
    let Some(v) = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let want = tag.to_str().unwrap_or("");
    v.split(',')
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t == want)
}

async fn serve(i: usize, req: HttpRequest) -> HttpResponse {
    let (Some(asset), Some(tag)) = (ASSETS.get(i), etags().get(i)) else {
        return HttpResponse::NotFound().finish();
    };
    let fresh = matches(&req, tag);
    let mut resp = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    // revalidated on every load: a node upgrade shows its new client at once
    resp.insert_header((header::ETAG, tag.clone()))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
    if asset.path == "/" {
        resp.insert_header((header::CONTENT_SECURITY_POLICY, CSP));
    }
    if asset.path == "/sw.js" {
        resp.insert_header(("service-worker-allowed", "/"));
    }
    if fresh {
        return resp.finish();
    }
    resp.content_type(asset.mime).body(asset.body)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    /// Every file under web/ but the e2e, relative to web/.
    fn files(dir: &std::path::Path, base: &std::path::Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let rel = p
                .strip_prefix(base)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            if rel == "e2e" {
                continue;
            }
            if p.is_dir() {
                files(&p, base, out);
            } else {
                out.push(rel);
            }
        }
    }

    #[test]
    fn every_web_file_is_served() {
        let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
        let mut on_disk = Vec::new();
        files(&base, &base, &mut on_disk);
        for f in &on_disk {
            let path = match f.as_str() {
                "index.html" => "/".to_string(),
                "sw.js" | "manifest.webmanifest" => format!("/{f}"),
                other => format!("/{other}"),
            };
            assert!(
                ASSETS.iter().any(|a| a.path == path),
                "web/{f} is not in ASSETS"
            );
        }
        assert_eq!(
            on_disk.len(),
            ASSETS.len(),
            "ASSETS names a file twice or a missing one"
        );
    }

    #[test]
    fn etags_differ_per_file() {
        let tags = etags();
        let distinct: std::collections::HashSet<_> = tags.iter().collect();
        assert_eq!(distinct.len(), ASSETS.len());
    }
}
