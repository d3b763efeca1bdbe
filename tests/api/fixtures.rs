//! Stores written by older builds, opened by this one: history, unread, offline queues,
//! logins and tokens must be as they were (issue 18). tests/fixtures/README.md says how
//! each fixture was made; [`make_v1_store`] is the generator, driven through the HTTP and
//! WebSocket API only, so any later build can run it to make the next fixture.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use chatnode::store::FORMAT_VERSION;
use serde_json::{json, Value};

use crate::harness::{msgs_of, start_program, KillOnDrop, TestApp, WsClient, PASSWORD};

/// The bytes of the image the fixtures upload (a 1x1 PNG).
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0,
    0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d, 0x1d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
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

/// Uploads `bytes` as `token`'s user (named `name`, if given); the node's answer.
async fn upload(
    app: &TestApp,
    token: &str,
    content_type: &str,
    name: Option<&str>,
    bytes: &[u8],
) -> Value {
    let mut req = app
        .client
        .post(app.url("/api/media"))
        .bearer_auth(token)
        .insert_header(("Content-Type", content_type));
    if let Some(name) = name {
        req = req.insert_header(("X-Filename", name));
    }
    let mut resp = req.send_body(bytes.to_vec()).await.expect("upload");
    assert_eq!(resp.status().as_u16(), 201);
    resp.json().await.expect("upload answer")
}

/// Uploads [`PNG`] as `token`'s user; its url.
async fn upload_png(app: &TestApp, token: &str) -> String {
    let answer = upload(app, token, "image/png", None, PNG).await;
    answer["url"].as_str().expect("url").to_string()
}

/// The bytes at `url` (`/media/...`) as `token`'s user sees them (asserting 200), as hex.
async fn media_hex(app: &TestApp, token: &str, url: &str) -> String {
    let mut resp = app
        .client
        .get(app.url(url))
        .bearer_auth(token)
        .send()
        .await
        .expect("GET media");
    assert_eq!(resp.status().as_u16(), 200, "GET {url}");
    hex::encode(resp.body().await.expect("media body"))
}

/// A node of the build `FIXTURE_BIN` on the empty data dir `FIXTURE_DIR`, making a
/// fixture whose description goes to `FIXTURE_JSON` (see tests/fixtures/README.md).
struct Generator {
    node: KillOnDrop,
    app: TestApp,
    bin: PathBuf,
    dir: PathBuf,
    json_out: PathBuf,
}

impl Generator {
    /// Starts the node, with `env` on top of one worker.
    fn start(env: &[(&str, &str)]) -> Generator {
        let var = |name: &str| {
            PathBuf::from(std::env::var(name).unwrap_or_else(|_| panic!("set {name}")))
        };
        let (bin, dir, json_out) = (var("FIXTURE_BIN"), var("FIXTURE_DIR"), var("FIXTURE_JSON"));
        let mut all = vec![("CHATNODE__SERVER__WORKERS", "1")];
        all.extend_from_slice(env);
        let (child, addr) = start_program(&bin, &dir, &all, |_| {});
        Generator {
            node: KillOnDrop(child),
            app: TestApp::at(addr),
            bin,
            dir,
            json_out,
        }
    }

    /// Stops the node gracefully, so the store is flushed and closed as a user's would
    /// be, and writes `description`; the build and the data dir.
    fn finish(self, description: &Value) -> (PathBuf, PathBuf) {
        stop(self.node);
        std::fs::write(&self.json_out, lined_json(description)).expect("write the description");
        (self.bin, self.dir)
    }
}

/// What each user of `tokens` sees, as the node answers it: `GET /api/conversations`,
/// and the messages of the offline queue (a socket that confirms nothing).
async fn lists_and_drains(
    app: &TestApp,
    tokens: &BTreeMap<&'static str, &String>,
) -> (
    BTreeMap<&'static str, Vec<Value>>,
    BTreeMap<&'static str, Vec<Value>>,
) {
    let mut lists = BTreeMap::new();
    let mut drains = BTreeMap::new();
    for (user, token) in tokens {
        lists.insert(*user, app.conversations(token).await);
        let ws = app.connect(token).await;
        drains.insert(*user, msgs_of(&ws.drained));
        ws.close().await;
    }
    (lists, drains)
}

/// Values nested this deep in a description are written on one line ([`lined_json`]).
const FLAT_AT: usize = 3;

/// `value` as indented JSON in which everything nested [`FLAT_AT`] deep, and every array
/// of plain values, is one line: one line per message, conversation or session, so that
/// a long history stays a file that reads and diffs well.
fn lined_json(value: &Value) -> String {
    fn write(v: &Value, depth: usize, out: &mut String) {
        let pad = |d: usize| "  ".repeat(d);
        let flat = depth >= FLAT_AT
            || match v {
                Value::Array(a) => a.iter().all(|x| !x.is_array() && !x.is_object()),
                Value::Object(m) => m.is_empty(),
                _ => true,
            };
        if flat {
            out.push_str(&v.to_string());
            return;
        }
        let (open, close, items): (char, char, Vec<(Option<&String>, &Value)>) = match v {
            Value::Object(m) => ('{', '}', m.iter().map(|(k, x)| (Some(k), x)).collect()),
            Value::Array(a) => ('[', ']', a.iter().map(|x| (None, x)).collect()),
            _ => unreachable!("scalars are flat"),
        };
        out.push(open);
        for (i, (key, item)) in items.iter().enumerate() {
            out.push('\n');
            out.push_str(&pad(depth + 1));
            if let Some(key) = key {
                out.push_str(&Value::from(key.as_str()).to_string());
                out.push_str(": ");
            }
            write(item, depth + 1, out);
            if i + 1 < items.len() {
                out.push(',');
            }
        }
        out.push('\n');
        out.push_str(&pad(depth));
        out.push(close);
    }
    let mut out = String::new();
    write(value, 0, &mut out);
    out.push('\n');
    out
}

/// The generator of `tests/fixtures/v1-store.tar.gz` (see tests/fixtures/README.md).
/// Ignored: it makes a fixture, it checks nothing of this build.
#[actix_web::test]
#[ignore = "writes a fixture; run by hand, see tests/fixtures/README.md"]
async fn make_v1_store() {
    let generator = Generator::start(&[]);
    let app = &generator.app;

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
    let url = upload_png(app, &ta).await;
    wa.send_json(
        json!({"type": "send", "conv": ab, "client_id": "a2", "kind": "image",
        "body": "", "media_url": url}),
    )
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
    wa.send_json(
        json!({"type": "send", "to": "carol", "client_id": "c1", "kind": "text",
        "body": "are you there?"}),
    )
    .await;
    let c1 = wa.ack_for("c1").await;
    let ac = c1["conv"].as_u64().expect("conv");
    wa.barrier().await;
    wa.close().await;
    wb.close().await;

    // what each user sees, as this build answers it
    let tokens = BTreeMap::from([("alice", &ta), ("bob", &tb), ("carol", &tc)]);
    let (lists, drains) = lists_and_drains(app, &tokens).await;
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
    generator.finish(&description);
}

/// `expected` is contained in `actual`: every key of an object equal (recursively),
/// arrays of the same length, element by element. Fields a later build adds are fine.
fn assert_within(expected: &Value, actual: &Value, at: &str) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, v) in e {
                let got = a
                    .get(k)
                    .unwrap_or_else(|| panic!("{at}.{k} is missing in {actual}"));
                assert_within(v, got, &format!("{at}.{k}"));
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            assert_eq!(
                e.len(),
                a.len(),
                "{at}: {} items, expected {}: {actual}",
                a.len(),
                e.len()
            );
            for (i, (x, y)) in e.iter().zip(a).enumerate() {
                assert_within(x, y, &format!("{at}[{i}]"));
            }
        }
        _ => assert_eq!(expected, actual, "at {at}"),
    }
}

/// Runs `chatnode check` on `data_dir`; its exit status and stdout + stderr.
pub(crate) fn run_check(data_dir: &Path) -> (bool, String) {
    run_check_of(Path::new(env!("CARGO_BIN_EXE_chatnode")), data_dir)
}

/// [`run_check`] with another `chatnode` executable (the build that wrote a fixture).
fn run_check_of(program: &Path, data_dir: &Path) -> (bool, String) {
    let out = std::process::Command::new(program)
        .arg("check")
        .env_clear()
        .env("CHATNODE__SERVER__DATA_DIR", data_dir)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run chatnode check");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Stops a node the way an operator does (SIGTERM) and waits for it.
pub(crate) fn stop(mut node: KillOnDrop) {
    let pid = node.0.id().to_string();
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill -TERM");
    assert!(sent.success());
    let exit = node.0.wait().expect("wait for the node");
    assert!(exit.success(), "the node exited with {exit}");
}

/// The token a fixture recorded for `user` at registration.
fn token_of(want: &Value, user: &str) -> String {
    want["tokens"][user].as_str().expect("token").to_string()
}

/// Each user's recorded token still works, the fixture's password logs in and a wrong
/// one does not; each user's `GET /api/me`, for the caller to compare.
async fn check_logins(app: &TestApp, want: &Value, users: &[&str]) -> BTreeMap<String, Value> {
    let mut profiles = BTreeMap::new();
    for user in users {
        let (status, me) = app.get("/api/me", &token_of(want, user)).await;
        assert_eq!((status, me["user"].as_str()), (200, Some(*user)), "{me}");
        app.login(user).await;
        let wrong = app
            .call(
                "POST",
                "/api/login",
                None,
                Some(json!({"username": user, "password": "not it"})),
            )
            .await;
        assert_eq!(wrong.status, 401);
        profiles.insert(user.to_string(), me);
    }
    profiles
}

/// A name taken before is still taken.
async fn assert_taken(app: &TestApp, user: &str) {
    let again = app
        .call(
            "POST",
            "/api/register",
            None,
            Some(json!({"username": user, "password": PASSWORD})),
        )
        .await;
    assert_eq!(again.status, 409);
}

/// Each user's conversation list (unread, mentions, positions, roles, last message) is
/// the recorded one.
async fn check_lists(app: &TestApp, want: &Value, users: &[&str]) {
    for user in users {
        let list = app.conversations(&token_of(want, user)).await;
        assert_within(&want["conversations"][user], &Value::from(list), user);
    }
}

/// The whole history of each conversation of `histories` (by conv id), read over HTTP
/// with the token `reader` gives for it, is the recorded one.
async fn check_histories(
    app: &TestApp,
    histories: &BTreeMap<String, Vec<Value>>,
    reader: impl Fn(&str) -> String,
) {
    for (conv, messages) in histories {
        let got = app
            .history(&reader(conv), conv.parse().expect("conv"))
            .await;
        assert_within(
            &Value::from(messages.clone()),
            &Value::from(got),
            &format!("history {conv}"),
        );
    }
}

/// A socket of `token`'s user that confirms nothing, and the messages of its offline
/// drain.
async fn drain_of(app: &TestApp, token: &str) -> (WsClient, Value) {
    let ws = app.connect(token).await;
    let drained = Value::from(msgs_of(&ws.drained));
    (ws, drained)
}

#[actix_web::test]
async fn the_v1_store_serves_as_it_was_written() {
    let data = unpack("v1-store");
    let want = expected("v1-store");
    let (ok, text) = run_check(data.path());
    assert!(ok, "{text}");
    assert!(
        text.contains("format 1") && text.contains("migration is pending"),
        "{text}"
    );

    let (child, addr) = crate::harness::start_binary(data.path(), &[], |_| {});
    let node = KillOnDrop(child);
    let app = TestApp::at(addr);
    let token = |u: &str| token_of(&want, u);
    let users = ["alice", "bob", "carol"];

    // tokens as they were, and the passwords
    let profiles = check_logins(&app, &want, &users).await;
    for (user, me) in &profiles {
        // the oldest account becomes admin, as the first one of a new store does
        assert_eq!(me["admin"], user == "alice", "{me}");
    }
    let bob2 = want["second_token"]["bob"].as_str().expect("token");
    assert_eq!(app.get("/api/me", bob2).await.0, 200);
    // format 1's tokens are indexed by user: listed as sessions (so a password change
    // or "sign out everywhere" reaches them): the two of the fixture and the login above
    let (status, sessions) = app.get("/api/sessions", bob2).await;
    assert_eq!(status, 200);
    assert_eq!(
        sessions["sessions"].as_array().expect("sessions").len(),
        3,
        "{sessions}"
    );
    assert_taken(&app, "carol").await;

    // conversation lists (unread, positions, last message) and every message
    check_lists(&app, &want, &users).await;
    let histories: BTreeMap<String, Vec<Value>> =
        serde_json::from_value(want["history"].clone()).expect("histories");
    let alice_carol = want["convs"]["alice_carol"].to_string();
    check_histories(&app, &histories, |conv| match conv == alice_carol {
        true => token("carol"),
        false => token("alice"),
    })
    .await;

    // the media file, to a member
    let url = want["media"]["url"].as_str().expect("url");
    assert_eq!(
        media_hex(&app, &token("bob"), url).await,
        want["media"]["hex"]
    );

    // offline queues over the WebSocket: carol gets all she missed, in order
    for user in ["carol", "bob", "alice"] {
        let (mut ws, drained) = drain_of(&app, &token(user)).await;
        assert_within(&want["drain"][user], &drained, &format!("drain of {user}"));
        if user == "carol" {
            // confirming takes them off her queue, as before
            let trio = want["convs"]["trio"].as_u64().expect("conv");
            ws.send_json(json!({"type": "delivered", "conv": trio, "seq": 4}))
                .await;
            ws.barrier().await;
            ws.close().await;
            let again = app.connect(&token(user)).await;
            assert!(msgs_of(&again.drained).iter().all(|m| m["conv"] != trio));
            again.close().await;
        } else {
            ws.close().await;
        }
    }

    stop(node);
    let (ok, text) = run_check(data.path());
    assert!(ok, "{text}");
    assert!(
        text.contains(&format!("format: {FORMAT_VERSION} (current")),
        "{text}"
    );
}

/// Messages added to the v1 fixture for the kill test.
const BULK: u64 = 100_000;

/// The v1 fixture with [`BULK`] more messages from alice in her chat with bob (conv 1),
/// written as format 1 wrote them (layout 1: a version byte, then bincode of the fields
/// in order), with their dedupe entries, the last-seq guard and bob's unread count.
fn big_v1_store() -> tempfile::TempDir {
    let data = unpack("v1-store");
    let db = sled::open(data.path().join("store")).expect("open the fixture with sled");
    let config = bincode::config::standard();
    let layout1 = |value: &dyn Fn() -> Vec<u8>| {
        let mut v = vec![1u8];
        v.extend(value());
        v
    };
    let be = |n: u64| n.to_be_bytes();
    let messages = db.open_tree("convseq_message").expect("tree");
    let dedupe = db.open_tree("senderclientid_convseq").expect("tree");
    let mut batch = sled::Batch::default();
    let mut refs = sled::Batch::default();
    for i in 0..BULK {
        let seq = 6 + i;
        let client_id = format!("bulk-{i}");
        let value = layout1(&|| {
            bincode::serde::encode_to_vec(
                (
                    "alice",
                    client_id.as_str(),
                    0u8,
                    format!("bulk message {i}"),
                    None::<String>,
                    1_796_606_400_000u64 + i,
                    false,
                ),
                config,
            )
            .expect("encode")
        });
        let key = [be(1), be(seq)].concat();
        batch.insert(key.clone(), value);
        refs.insert([b"alice\0".as_slice(), client_id.as_bytes()].concat(), key);
    }
    messages.apply_batch(batch).expect("messages");
    dedupe.apply_batch(refs).expect("dedupe");
    let last = db.open_tree("convid_lastseq").expect("tree");
    last.insert(be(1), &be(5 + BULK)).expect("last seq");
    let members = db.open_tree("userconv_state").expect("tree");
    let bob = layout1(&|| {
        bincode::serde::encode_to_vec((2u64, 5u64, 2u64 + BULK, false, false), config)
            .expect("encode")
    });
    members
        .insert([b"bob\0".as_slice(), &be(1)].concat(), bob)
        .expect("bob");
    db.flush().expect("flush");
    drop((messages, dedupe, last, members));
    drop(db);
    data
}

/// Starts the binary on `data_dir` and waits (up to 120 s: a migration after an unclean
/// stop copies and rewrites the store first) for its listening line.
fn start_slow(data_dir: &Path) -> (KillOnDrop, std::net::SocketAddr) {
    let (child, rx) = spawn_logged(data_dir);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let line = rx.recv_timeout(left).expect("the node's listening line");
        if let Some(addr) = line.trim().strip_prefix("chatnode listening on http://") {
            return (child, addr.parse().expect("an address"));
        }
    }
}

/// Starts the binary on `data_dir` with info logs; every line of its output.
fn spawn_logged(data_dir: &Path) -> (KillOnDrop, std::sync::mpsc::Receiver<String>) {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let mut child = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_chatnode"))
            .env_clear()
            .env("CHATNODE__SERVER__BIND", "127.0.0.1:0")
            .env("CHATNODE__SERVER__DATA_DIR", data_dir)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start chatnode"),
    );
    let (tx, rx) = std::sync::mpsc::channel();
    for out in [
        Box::new(child.0.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
        Box::new(child.0.stderr.take().expect("stderr")),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
    }
    (child, rx)
}

/// Starts the binary on `data_dir` with info logs and kills it (SIGKILL) as soon as a
/// log line contains `at`; panics if the node gets to serve first.
fn kill_when_logged(data_dir: &Path, at: &str) {
    let (mut child, rx) = spawn_logged(data_dir);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let line = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no log line with {at:?}"));
        assert!(
            !line.contains("chatnode listening"),
            "the migration ended before {at:?} was logged"
        );
        if line.contains(at) {
            break;
        }
    }
    child.0.kill().expect("kill -9");
    child.0.wait().expect("reap");
}

#[actix_web::test]
async fn a_migration_killed_twice_completes_on_the_next_start_with_nothing_lost() {
    let data = big_v1_store();
    let (ok, text) = run_check(data.path());
    assert!(ok, "{text}");

    kill_when_logged(data.path(), "migration to format 2: 10000/");
    let (ok, text) = run_check(data.path());
    assert!(ok, "after the first kill: {text}");
    assert!(
        text.contains("migration is pending") && text.contains("interrupted"),
        "{text}"
    );

    kill_when_logged(data.path(), "migration to format 2: 60000/");
    let (ok, text) = run_check(data.path());
    assert!(ok, "after the second kill: {text}");
    assert!(text.contains("migration is pending"), "{text}");

    let (node, addr) = start_slow(data.path());
    let app = TestApp::at(addr);
    let want = expected("v1-store");
    let bob = want["tokens"]["bob"].as_str().expect("token");
    let view = app.conversation(bob, 1).await;
    assert_eq!(view["last_seq"], 5 + BULK);
    assert_eq!(view["unread"], 2 + BULK);
    assert_eq!(view["read_seq"], 2);
    let (status, page) = app
        .get("/api/conversations/1/messages?before=50009&limit=3", bob)
        .await;
    assert_eq!(status, 200);
    let bodies: Vec<&str> = page["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["body"].as_str().expect("body"))
        .collect();
    assert_eq!(
        bodies,
        [
            "bulk message 50000",
            "bulk message 50001",
            "bulk message 50002"
        ]
    );
    // the first messages, as they were
    let carol = want["tokens"]["carol"].as_str().expect("token");
    let first = app.history(carol, 3).await;
    assert_within(&want["history"]["3"], &Value::from(first), "history 3");
    stop(node);

    let (ok, text) = run_check(data.path());
    assert!(ok, "{text}");
    assert!(text.contains("format: 2 (current"), "{text}");
    assert!(text.contains(&format!("{} messages", 10 + BULK)), "{text}");
}

#[actix_web::test]
async fn a_newer_or_damaged_format_is_refused_with_exit_1_and_no_panic() {
    for (value, says) in [
        (vec![9u8], "format version 9, newer than this build"),
        (vec![1u8, 7], "is unreadable"),
    ] {
        let data = unpack("v1-store");
        {
            let db = sled::open(data.path().join("store")).expect("sled");
            db.open_tree("meta")
                .expect("meta")
                .insert("format_version", value)
                .expect("insert");
            db.flush().expect("flush");
        }
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_chatnode"))
            .env_clear()
            .env("CHATNODE__SERVER__BIND", "127.0.0.1:0")
            .env("CHATNODE__SERVER__DATA_DIR", data.path())
            .env("RUST_LOG", "warn")
            .output()
            .expect("run chatnode");
        let text = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{text}");
        assert!(text.contains(says), "{text}");
        assert!(!text.contains("panicked"), "{text}");
    }
}
