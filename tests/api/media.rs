//! Media v1.1: streamed uploads of any type, names, images (size, thumbnail, EXIF),
//! Range/ETag, quota and size limits, file messages, orphans, bombs and cut-off uploads.

use std::io::{Cursor, Write};
use std::time::Duration;

use awc::http::header::HeaderMap;
use futures_util::stream;
use image::{ImageDecoder, ImageReader};
use serde_json::{json, Value};

use crate::harness::{poll_until, spawn_app, TestApp};

/// POST /api/media with `ct` and an optional X-Filename; (status, JSON answer).
async fn upload(
    app: &TestApp,
    token: &str,
    ct: &str,
    name: Option<&str>,
    bytes: Vec<u8>,
) -> (u16, Value) {
    let mut req = app
        .client
        .post(app.url("/api/media"))
        .bearer_auth(token)
        .insert_header(("Content-Type", ct));
    if let Some(n) = name {
        req = req.insert_header(("X-Filename", n));
    }
    let mut resp = req.send_body(bytes).await.unwrap();
    let status = resp.status().as_u16();
    let body = resp.body().await.unwrap();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// GET `path` with `headers`; (status, headers, body).
async fn fetch(
    app: &TestApp,
    path: &str,
    token: &str,
    headers: &[(&str, &str)],
) -> (u16, HeaderMap, Vec<u8>) {
    let mut req = app.client.get(app.url(path)).bearer_auth(token);
    for (k, v) in headers {
        req = req.insert_header((*k, *v));
    }
    let mut resp = req.send().await.unwrap();
    let body = resp.body().limit(64 << 20).await.unwrap().to_vec();
    (resp.status().as_u16(), resp.headers().clone(), body)
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> &'a str {
    h.get(name).map(|v| v.to_str().unwrap()).unwrap_or("")
}

fn png(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])
    });
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// A JPEG `w` x `h` whose EXIF says "rotate 90" and carries a text that stands for a
/// GPS position.
fn rotated_jpeg_with_location(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, _| image::Rgb([(x * 4 % 256) as u8, 10, 200]));
    let mut jpeg = Cursor::new(Vec::new());
    img.write_to(&mut jpeg, image::ImageFormat::Jpeg).unwrap();
    let jpeg = jpeg.into_inner();
    let secret = b"GPS-SECRET-51.5N\0";
    let mut tiff = b"MM\0\x2a\0\0\0\x08".to_vec();
    tiff.extend_from_slice(&2u16.to_be_bytes());
    // ImageDescription (ASCII) at offset 38, then Orientation = 6
    tiff.extend_from_slice(&[0x01, 0x0E, 0, 2]);
    tiff.extend_from_slice(&(secret.len() as u32).to_be_bytes());
    tiff.extend_from_slice(&38u32.to_be_bytes());
    tiff.extend_from_slice(&[0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0]);
    tiff.extend_from_slice(&0u32.to_be_bytes());
    tiff.extend_from_slice(secret);
    let mut app1 = vec![0xFF, 0xE1];
    app1.extend_from_slice(&((2 + 6 + tiff.len()) as u16).to_be_bytes());
    app1.extend_from_slice(b"Exif\0\0");
    app1.extend_from_slice(&tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&app1);
    out.extend_from_slice(&jpeg[2..]);
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A small PNG that declares 50,000 x 50,000 pixels (an image bomb).
fn png_bomb() -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let chunk = |out: &mut Vec<u8>, kind: &[u8], data: &[u8]| {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32(&body).to_be_bytes());
    };
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&50_000u32.to_be_bytes());
    ihdr.extend_from_slice(&50_000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(
        &mut out,
        b"IDAT",
        &[0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    );
    chunk(&mut out, b"IEND", &[]);
    out
}

/// Files in the node's media dir.
fn media_files(app: &TestApp) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(app.data_dir().join("media"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[actix_web::test]
async fn any_file_is_stored_named_and_served_with_range_and_etag() {
    let app = spawn_app(&[]).await;
    let ta = app.register("alice").await;
    let (status, v) = upload(
        &app,
        &ta,
        "application/pdf",
        Some("notes%20%C3%A9t%C3%A9.pdf"),
        b"0123456789".to_vec(),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["type"], "application/pdf");
    assert_eq!(v["size"], 10);
    assert_eq!(v["name"], "notes été.pdf");
    assert_eq!(
        (
            v["width"].clone(),
            v["height"].clone(),
            v["thumb_url"].clone()
        ),
        (Value::Null, Value::Null, Value::Null)
    );
    let url = v["url"].as_str().unwrap().to_string();

    let (status, h, body) = fetch(&app, &url, &ta, &[]).await;
    assert_eq!((status, body.as_slice()), (200, &b"0123456789"[..]));
    assert_eq!(header(&h, "accept-ranges"), "bytes");
    assert!(
        header(&h, "content-disposition").starts_with("attachment;"),
        "{h:?}"
    );
    assert!(
        header(&h, "content-disposition").contains("filename*=UTF-8''notes%20%C3%A9t%C3%A9.pdf")
    );
    let etag = header(&h, "etag").to_string();
    assert!(!etag.is_empty());

    let (status, h, body) = fetch(&app, &url, &ta, &[("Range", "bytes=2-4")]).await;
    assert_eq!((status, body.as_slice()), (206, &b"234"[..]));
    assert_eq!(header(&h, "content-range"), "bytes 2-4/10");
    let (status, _, body) = fetch(&app, &url, &ta, &[("Range", "bytes=-3")]).await;
    assert_eq!((status, body.as_slice()), (206, &b"789"[..]));
    let (status, _, body) = fetch(&app, &url, &ta, &[("Range", "bytes=7-")]).await;
    assert_eq!((status, body.as_slice()), (206, &b"789"[..]));
    let (status, h, _) = fetch(&app, &url, &ta, &[("Range", "bytes=10-")]).await;
    assert_eq!(status, 416, "a range past the end");
    assert_eq!(header(&h, "content-range"), "bytes */10");
    let (status, _, body) = fetch(&app, &url, &ta, &[("If-None-Match", &etag)]).await;
    assert_eq!((status, body.len()), (304, 0));
    let (status, _, _) = fetch(&app, &url, &ta, &[("If-None-Match", "\"other\"")]).await;
    assert_eq!(status, 200);
    // a Range whose If-Range names another version gets the whole file
    let (status, _, body) = fetch(
        &app,
        &url,
        &ta,
        &[("Range", "bytes=0-1"), ("If-Range", "\"old\"")],
    )
    .await;
    assert_eq!((status, body.len()), (200, 10));
}

#[actix_web::test]
async fn images_get_their_size_a_thumbnail_and_lose_their_location() {
    let app = spawn_app(&[]).await;
    let ta = app.register("alice").await;
    let tb = app.register("bob").await;
    let tc = app.register("carol").await;
    let ab = app.direct(&ta, "bob").await;

    let (status, v) = upload(&app, &ta, "image/png", Some("wide.png"), png(1000, 500)).await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(
        (v["width"].as_u64(), v["height"].as_u64()),
        (Some(1000), Some(500))
    );
    let url = v["url"].as_str().unwrap().to_string();
    let thumb = v["thumb_url"].as_str().unwrap().to_string();
    let (status, h, body) = fetch(&app, &thumb, &ta, &[]).await;
    assert_eq!(status, 200);
    assert!(matches!(
        header(&h, "content-type"),
        "image/jpeg" | "image/webp"
    ));
    let small = image::load_from_memory(&body).unwrap();
    assert_eq!((small.width(), small.height()), (320, 160));
    let (_, h, _) = fetch(&app, &url, &ta, &[]).await;
    assert!(
        header(&h, "content-disposition").starts_with("inline"),
        "{h:?}"
    );

    // who may not see the image may not see its thumbnail
    assert_eq!(fetch(&app, &thumb, &tb, &[]).await.0, 404);
    let mut a = app.connect(&ta).await;
    a.send_json(json!({"type": "send", "conv": ab, "client_id": "p1", "kind": "image", "body": "", "media_url": url}))
        .await;
    a.ack_for("p1").await;
    assert_eq!(fetch(&app, &thumb, &tb, &[]).await.0, 200);
    assert_eq!(
        fetch(&app, &thumb, &tc, &[]).await.0,
        404,
        "carol is in no conversation that has it"
    );

    // EXIF orientation applied to the size and the thumbnail; the location text is gone
    // from the served file, the orientation kept
    let photo = rotated_jpeg_with_location(64, 32);
    assert!(photo.windows(10).any(|w| w == b"GPS-SECRET"));
    let (status, v) = upload(&app, &ta, "image/jpeg", None, photo).await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(
        (v["width"].as_u64(), v["height"].as_u64()),
        (Some(32), Some(64))
    );
    let (_, _, served) = fetch(&app, v["url"].as_str().unwrap(), &ta, &[]).await;
    assert!(
        !served.windows(10).any(|w| w == b"GPS-SECRET"),
        "location stripped"
    );
    let mut decoder = ImageReader::new(Cursor::new(&served))
        .with_guessed_format()
        .unwrap()
        .into_decoder()
        .unwrap();
    assert_eq!(
        decoder.orientation().unwrap(),
        image::metadata::Orientation::Rotate90
    );
    let (_, _, thumb) = fetch(&app, v["thumb_url"].as_str().unwrap(), &ta, &[]).await;
    let t = image::load_from_memory(&thumb).unwrap();
    assert_eq!(
        (t.width(), t.height()),
        (32, 64),
        "the thumbnail stands upright"
    );

    // a file that says image/png but is not one is still stored, without a size
    let (status, v) = upload(&app, &ta, "image/png", None, b"\x89PNG not really".to_vec()).await;
    assert_eq!(status, 201);
    assert_eq!(v["width"], Value::Null);
    assert_eq!(v["thumb_url"], Value::Null);
}

#[actix_web::test]
async fn image_bombs_oversize_uploads_and_quotas_are_refused_and_leave_nothing() {
    let app = spawn_app(&[
        ("CHATNODE__MEDIA__MAX_UPLOAD_MB", "1"),
        ("CHATNODE__MEDIA__QUOTA_MB", "2"),
    ])
    .await;
    let ta = app.register("alice").await;
    let (status, v) = upload(&app, &ta, "image/png", None, png_bomb()).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (413, Some("too_large")),
        "{v}"
    );

    let (status, v) = upload(&app, &ta, "application/zip", None, vec![1u8; (1 << 20) + 1]).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (413, Some("too_large"))
    );
    // the same without a Content-Length (chunked): cut off at the limit
    let chunks: Vec<Result<actix_web::web::Bytes, std::io::Error>> = (0..20)
        .map(|_| Ok(actix_web::web::Bytes::from(vec![7u8; 64 * 1024])))
        .collect();
    let resp = app
        .client
        .post(app.url("/api/media"))
        .bearer_auth(&ta)
        .send_stream(stream::iter(chunks))
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 413);

    // quota: 2 MiB; three uploads of 0.8 MiB do not fit
    for i in 0..2 {
        let (status, _) = upload(&app, &ta, "application/zip", None, vec![i; 800 * 1024]).await;
        assert_eq!(status, 201);
    }
    let (status, v) = upload(&app, &ta, "application/zip", None, vec![9; 800 * 1024]).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (413, Some("too_large"))
    );
    let tb = app.register("bob").await;
    assert_eq!(
        upload(&app, &tb, "application/zip", None, vec![9; 800 * 1024])
            .await
            .0,
        201,
        "the quota is per user"
    );

    let files = media_files(&app);
    assert_eq!(files.len(), 3, "only the three accepted uploads: {files:?}");
    assert!(files.iter().all(|f| f.len() == 32), "{files:?}");
}

#[actix_web::test]
async fn an_upload_cut_off_midway_leaves_nothing() {
    let app = spawn_app(&[]).await;
    let ta = app.register("alice").await;
    let addr = app.addr;
    let token = ta.clone();
    actix_web::web::block(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(
            s,
            "POST /api/media HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: video/mp4\r\nContent-Length: 1000000\r\n\r\n"
        )
        .unwrap();
        s.write_all(&[5u8; 200_000]).unwrap();
        s.flush().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(200));
    })
    .await
    .unwrap();
    let files = poll_until(|| async { media_files(&app) }, |f| f.is_empty()).await;
    assert!(files.is_empty(), "{files:?}");
    // the node goes on
    assert_eq!(
        upload(&app, &ta, "video/mp4", None, vec![1; 10]).await.0,
        201
    );
}

#[actix_web::test]
async fn file_messages_need_a_media_url_and_share_the_file() {
    let app = spawn_app(&[]).await;
    let ta = app.register("alice").await;
    let tb = app.register("bob").await;
    let ab = app.direct(&ta, "bob").await;
    let (_, v) = upload(&app, &ta, "application/zip", Some("a.zip"), vec![3; 100]).await;
    let url = v["url"].as_str().unwrap().to_string();
    let mut a = app.connect(&ta).await;
    a.send_json(
        json!({"type": "send", "conv": ab, "client_id": "f0", "kind": "file", "body": "here"}),
    )
    .await;
    assert_eq!(a.expect_error("bad_frame").await["ref"], "f0");
    a.send_json(json!({"type": "send", "conv": ab, "client_id": "f1", "kind": "file", "body": "", "media_url": url}))
        .await;
    a.ack_for("f1").await;
    let h = app.history(&tb, ab).await;
    assert_eq!(h[0]["kind"], "file");
    let (status, headers, body) = fetch(&app, &url, &tb, &[]).await;
    assert_eq!((status, body.len()), (200, 100));
    assert!(header(&headers, "content-disposition").contains("a.zip"));
}

#[actix_web::test]
async fn orphan_uploads_are_deleted_after_their_ttl() {
    let app = spawn_app(&[("CHATNODE__MEDIA__ORPHAN_TTL_SECS", "1")]).await;
    let ta = app.register("alice").await;
    app.register("bob").await;
    let ab = app.direct(&ta, "bob").await;
    // Files a kill left behind: a record's files removed only in part, long ago, and a
    // file younger than any upload (it may be one still being stored): only the old goes.
    let dir = app.data_dir().join("media");
    let old = dir.join(format!("{:032x}", 7u8));
    std::fs::write(&old, b"left").unwrap();
    let long_ago = std::time::SystemTime::now() - Duration::from_secs(7 * 3600);
    std::fs::File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_modified(long_ago)
        .unwrap();
    let young = dir.join(format!("{:032x}.thumb", 8u8));
    std::fs::write(&young, b"young").unwrap();
    let (_, orphan) = upload(&app, &ta, "image/png", None, png(40, 40)).await;
    let (_, kept) = upload(&app, &ta, "image/png", None, png(40, 40)).await;
    let (orphan, kept) = (
        orphan["url"].as_str().unwrap().to_string(),
        kept["url"].as_str().unwrap().to_string(),
    );
    let mut a = app.connect(&ta).await;
    a.send_json(json!({"type": "send", "conv": ab, "client_id": "k", "kind": "image", "body": "", "media_url": kept}))
        .await;
    a.ack_for("k").await;
    let gone = poll_until(
        || async { fetch(&app, &orphan, &ta, &[]).await.0 },
        |s| *s == 404,
    )
    .await;
    assert_eq!(gone, 404, "the unreferenced upload was deleted");
    assert_eq!(fetch(&app, &kept, &ta, &[]).await.0, 200);
    // The record goes first, its files right after: wait for both.
    let files = poll_until(|| async { media_files(&app) }, |f| f.len() == 3).await;
    let young = young.file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(
        files.len(),
        3,
        "the kept file, its thumbnail, the young file: {files:?}"
    );
    assert!(files.contains(&young) && !old.exists(), "{files:?}");
}
