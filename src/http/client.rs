//! GET /: the bundled web client, one self-contained page compiled into the binary, so a
//! node on a Pi needs no other files to be usable from a browser.

use actix_web::{http::header, HttpResponse};

/// The page (HTML, CSS and JS in one file, no external resources).
const INDEX: &str = include_str!("../../web/index.html");

/// Serves the web client. The page talks to the same origin only (the HTTP API and
/// /ws), which the content security policy pins down.
pub async fn index() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data: blob:; \
             media-src 'self' blob:; style-src 'self' 'unsafe-inline'; \
             script-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
        ))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(INDEX)
}
