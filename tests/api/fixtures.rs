//! Stores written by older builds, opened by this one: history, unread, offline queues,
//! logins and tokens must be as they were (issue 18). tests/fixtures/README.md says how
//! each fixture was made; [`make_v1_store`] is the generator, driven through the HTTP and
//! WebSocket API only, so any later build can run it to make the next fixture.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use serde_json::{json, Value};

use crate::harness::{msgs_of, start_program, KillOnDrop, TestApp, PASSWORD};

/// The bytes of the image the fixtures upload (a 1x1 PNG).
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44,
    0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f,
    0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8,
    0xcf, 0xc0, 0xf0, 0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d, 0x1d, 0x00, 0x00,
    0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

/// Where the checked-in fixtures are.
pub(crate) fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Unpacks `tests/fixtures/NAME.tar.gz` into a fresh temp dir (the data dir).
pub(crate) fn unpack(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let archive = fixtures_dir().join(format!("{name}.tar.gz"));
    let status = std::process::Command::new("tar")
        .arg("-xzf")
        .arg(&archive)
        .arg("-C")
        .arg(dir.path())
        .status()
        .expect("run tar");
    assert!(status.success(), "unpacking {archive:?} failed");
    dir
}

/// What `tests/fixtures/NAME.json` says the fixture holds.
pub(crate) fn expected(name: &str) -> Value {
    let path = fixtures_dir().join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).expect("fixture JSON")
}

/// Uploads [`PNG`] as `token`'s user; its url.
async fn upload_png(app: &TestApp, token: &str) -> String {
    let mut resp = app
        .client
        .post(app.url("/api/media"))
        .bearer_auth(token)
        .insert_header(("Content-Type", "image/png"))
        .send_body(PNG.to_vec())
        .await
        .expect("upload");
    assert_eq!(resp.status().as_u16(), 201);
    let answer: Value = resp.json().await.expect("upload answer");
    answer["url"].as_str().expect("url").to_string()
}

/// The generator of `tests/fixtures/v1-store.tar.gz` (see tests/fixtures/README.md):
/// `FIXTURE_BIN` is the chatnode build that writes the store, `FIXTURE_DIR` an empty data
/// dir, `FIXTURE_JSON` where the description goes. Ignored: it makes a fixture, it
/// checks nothing of this build.
#[actix_web::test]
#[ignore = "writes a fixture; run by hand, see tests/fixtures/README.md"]
async fn make_v1_store() {
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("set {name}"));
    let (bin, dir, json_out) = (var("FIXTURE_BIN"), var("FIXTURE_DIR"), var("FIXTURE_JSON"));
    let (child, addr) = start_program(
        Path::new(&bin),
        Path::new(&dir),
        &[("CHATNODE__SERVER__WORKERS", "1")],
        |_| {},
    );
    let mut node = KillOnDrop(child);
    let app = TestApp::at(addr);

    let ta = app.register("alice").await;
    let tb = app.register("bob").await;
    let tc = app.register("carol").await;
    let tb2 = app.login("bob").await;

    // alice and bob, both online: a direct chat with an image and a recalled message
    let ab = app.direct(&ta, "bob").await;
    let mut wa = app.connect(&ta).await;
    let mut wb = app.connect(&tb).await;
    wa.send_acked(ab, "a1", "hello bob").await;
    wb.send_acked(ab, "b1", "hi alice").await;
    let url = upload_png(&app, &ta).await;
    wa.send_json(json!({"type": "send", "conv": ab, "client_id": "a2", "kind": "image",
        "body": "", "media_url": url}))
        .await;
    wa.ack_for("a2").await;
    let oops = wa.send_acked(ab, "a3", "oops, wrong chat").await;
    wa.send_json(json!({"type": "recall", "conv": ab, "seq": oops["seq"]}))
        .await;
    wa.next_of_type("recalled").await;
    wa.send_acked(ab, "a4", "你好, 世界").await;
    // bob has read up to his own reply and has all of it on a device
    wb.send_json(json!({"type": "read", "conv": ab, "seq": 2}))
        .await;
    wb.send_json(json!({"type": "delivered", "conv": ab, "seq": 5}))
        .await;
    wb.barrier().await;

    // a group that carol joins later (a system message), carol never online
    let group = app.group(&ta, "trio", &["bob"]).await;
    wa.send_acked(group, "g1", "before carol").await;
    let (status, _) = app
        .post(
            &format!("/api/conversations/{group}/members"),
            &ta,
            json!({"add": ["carol"]}),
        )
        .await;
    assert_eq!(status, 200);
    wa.send_acked(group, "g2", "welcome carol").await;
    wb.send_acked(group, "g3", "hey carol").await;
    wb.send_json(json!({"type": "read", "conv": group, "seq": 2}))
        .await;
    wb.barrier().await;
    // alice writes to carol directly too
    wa.send_json(json!({"type": "send", "to": "carol", "client_id": "c1", "kind": "text",
        "body": "are you there?"}))
        .await;
    let c1 = wa.ack_for("c1").await;
    let ac = c1["conv"].as_u64().expect("conv");
    wa.barrier().await;
    wa.close().await;
    wb.close().await;

    // what each user sees, as this build answers it
    let tokens = BTreeMap::from([("alice", &ta), ("bob", &tb), ("carol", &tc)]);
    let mut lists = BTreeMap::new();
    let mut drains = BTreeMap::new();
    for (user, token) in &tokens {
        lists.insert(*user, app.conversations(token).await);
        let ws = app.connect(token).await;
        drains.insert(*user, msgs_of(&ws.drained));
        ws.close().await;
    }
    let mut histories = BTreeMap::new();
    for (conv, token) in [(ab, &ta), (group, &ta), (ac, &tc)] {
        histories.insert(conv.to_string(), app.history(token, conv).await);
    }
    let description = json!({
        "written_by": "chatnode 0.1.0 at 73e6871 (store format 1)",
        "format_version": 1,
        "password": PASSWORD,
        "tokens": tokens,
        "second_token": {"bob": tb2},
        "convs": {"alice_bob": ab, "trio": group, "alice_carol": ac},
        "media": {"url": url, "hex": hex::encode(PNG), "content_type": "image/png"},
        "conversations": lists,
        "drain": drains,
        "history": histories,
    });
    std::fs::write(
        &json_out,
        serde_json::to_string_pretty(&description).expect("JSON"),
    )
    .expect("write the description");

    // a graceful stop, so the store is flushed and closed as a user's would be
    let pid = node.0.id().to_string();
    let stopped = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill -TERM");
    assert!(stopped.success());
    let exit = node.0.wait().expect("wait for the node");
    assert!(exit.success(), "the node exited with {exit}");
}
