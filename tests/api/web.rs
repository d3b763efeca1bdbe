//! The bundled web client's files: types, compression, ETag revalidation.

use crate::harness::spawn_app;

#[actix_web::test]
async fn client_files_are_typed_compressed_and_revalidated() {
    let app = spawn_app(&[]).await;
    for (path, mime) in [
        ("/", "text/html"),
        ("/sw.js", "text/javascript"),
        ("/manifest.webmanifest", "application/manifest+json"),
        ("/app/main.js", "text/javascript"),
        ("/app/app.css", "text/css"),
    ] {
        let mut resp = app
            .client
            .get(app.url(path))
            .insert_header(("accept-encoding", "gzip"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{path}");
        let h = resp.headers();
        let ct = h.get("content-type").unwrap().to_str().unwrap().to_string();
        assert!(ct.starts_with(mime), "{path}: {ct}");
        assert_eq!(h.get("content-encoding").unwrap(), "gzip", "{path}");
        let etag = h.get("etag").unwrap().to_str().unwrap().to_string();
        assert!(etag.starts_with('"'), "{path}: a strong ETag, got {etag}");
        let body = resp.body().await.unwrap();
        assert!(body.starts_with(&[0x1f, 0x8b]), "{path}: a gzip body");

        let again = app
            .client
            .get(app.url(path))
            .insert_header(("if-none-match", etag.as_str()))
            .send()
            .await
            .unwrap();
        assert_eq!(again.status().as_u16(), 304, "{path} revalidated");
        assert_eq!(again.headers().get("etag").unwrap().to_str().unwrap(), etag);
    }
    // without Accept-Encoding the bytes come as they are
    let mut plain = app.client.get(app.url("/")).send().await.unwrap();
    assert!(plain.headers().get("content-encoding").is_none());
    let page = plain.body().await.unwrap();
    assert!(String::from_utf8_lossy(&page).contains("chatnode"));
    assert!(plain
        .headers()
        .get("content-security-policy")
        .is_some_and(|v| !v
            .to_str()
            .unwrap()
            .contains("script-src 'self' 'unsafe-inline'")));
    // HEAD answers too; an unknown file under /app is a plain 404
    let head = app.call("HEAD", "/sw.js", None, None).await;
    assert_eq!(head.status, 200);
    assert_eq!(
        app.call("GET", "/app/nothing.js", None, None).await.status,
        404
    );
}
