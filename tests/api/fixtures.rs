//! Stores written by older builds, opened by this one: history, unread, offline queues,
//! logins and tokens must be as they were (issue 18). tests/fixtures/README.md says how
//! each fixture was made; [`make_v1_store`] and [`make_v2_store`] are the generators,
//! driven through the HTTP and WebSocket API only, so any later build can run them to
//! make the next fixture.

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

/// The fields of a message object in the order of a history row of a description
/// ([`as_row`]); only events have the last ones (`target`, and reactions `on`).
const COLUMNS: [&str; 15] = [
    "conv",
    "seq",
    "sender",
    "client_id",
    "kind",
    "body",
    "media_url",
    "ts",
    "recalled",
    "reply_to",
    "mentions",
    "edited_ts",
    "reactions",
    "target",
    "on",
];

/// Message `m` as a row: the values of its fields in [`COLUMNS`] order, ending at its
/// last field (a row of a non-event has no `target` and no `on`).
fn as_row(m: &Value) -> Value {
    let fields = m.as_object().expect("a message object");
    let n = fields.len();
    assert!(
        n <= COLUMNS.len() && COLUMNS[..n].iter().all(|c| fields.contains_key(*c)),
        "a message whose fields are not the first {n} of COLUMNS (add the new ones): {m}"
    );
    Value::from(
        COLUMNS[..n]
            .iter()
            .map(|c| fields[*c].clone())
            .collect::<Vec<_>>(),
    )
}

/// The message object of `row`, whose values are those of `columns` in order.
fn from_row(columns: &Value, row: &Value) -> Value {
    let columns = columns.as_array().expect("columns");
    let row = row.as_array().expect("a row");
    assert!(row.len() <= columns.len(), "a row longer than the columns");
    let fields = columns
        .iter()
        .zip(row)
        .map(|(c, v)| (c.as_str().expect("a column").to_string(), v.clone()));
    Value::Object(fields.collect())
}

/// The entry at `seq` of a whole history.
fn at_seq(history: &[Value], seq: u64) -> &Value {
    history
        .iter()
        .find(|m| m["seq"] == seq)
        .unwrap_or_else(|| panic!("no entry {seq} in the history"))
}

/// The messages of an offline drain as runs `[conv, first seq, last seq]`, each message
/// checked to be exactly the one `histories` (by conv id) holds at its seq, so that the
/// drain can be told from the history alone.
fn as_runs(drained: &[Value], histories: &BTreeMap<String, Vec<Value>>) -> Value {
    let mut runs: Vec<[u64; 3]> = Vec::new();
    for m in drained {
        let (conv, seq) = (
            m["conv"].as_u64().expect("conv"),
            m["seq"].as_u64().expect("seq"),
        );
        assert_eq!(
            m,
            at_seq(&histories[&conv.to_string()], seq),
            "the drain and the history differ"
        );
        match runs.last_mut() {
            Some(run) if run[0] == conv && run[2] + 1 == seq => run[2] = seq,
            _ => runs.push([conv, seq, seq]),
        }
    }
    json!(runs)
}

/// The messages an offline drain recorded as [`as_runs`] holds.
fn from_runs(runs: &Value, histories: &BTreeMap<String, Vec<Value>>) -> Value {
    let mut out = Vec::new();
    for run in runs.as_array().expect("runs") {
        let [conv, first, last] = [0, 1, 2].map(|i| run[i].as_u64().expect("a number"));
        for seq in first..=last {
            out.push(at_seq(&histories[&conv.to_string()], seq).clone());
        }
    }
    Value::from(out)
}

/// The text of message `i` (from 1) of the long direct chat: mostly Latin, every fifth
/// Chinese, one long, one with what JSON escapes; 11, 33 and 35 mention the lighthouse.
fn chat_body(i: usize, sender: &str) -> String {
    const LATIN: [&str; 6] = [
        "see you at the harbour",
        "the ferry is late again",
        "did you get the tickets?",
        "ok",
        "I'll bring the maps and the big thermos of coffee, the one with the dent",
        "ha",
    ];
    const CHINESE: [&str; 4] = [
        "今天天气很好，我们去散步吧",
        "晚上七点见",
        "收到，谢谢！",
        "这个周末你有空吗？我们可以一起去看电影",
    ];
    match i {
        33 => format!("{i} from {sender}: meet me at the lighthouse at six"),
        35 => format!("{i} from {sender}: the lighthouse door code is 4417"),
        77 => format!("{i}: \"quoted\", back\\slash, tab\tand\nnewline, 🎉🚢, zero\u{200b}width"),
        500 => format!(
            "{i}: {}",
            "All work and no play makes a dull day. ".repeat(150)
        ),
        _ if i.is_multiple_of(5) => format!("{i}：{}", CHINESE[i / 5 % CHINESE.len()]),
        _ => format!("{i} from {sender}: {}", LATIN[i % LATIN.len()]),
    }
}

/// Sends `frame` (which has a `client_id`) and waits for its ack; the seq stored.
async fn acked(ws: &mut WsClient, frame: Value) -> u64 {
    let client_id = frame["client_id"].as_str().expect("client_id").to_string();
    ws.send_json(frame).await;
    ws.ack_for(&client_id).await["seq"].as_u64().expect("seq")
}

/// Sends `frames` (`read`, `delivered`, ...) and waits until the node has taken them.
async fn confirm(ws: &mut WsClient, frames: Vec<Value>) {
    for frame in frames {
        ws.send_json(frame).await;
    }
    ws.barrier().await;
}

/// Drops the pushes a generator's socket collected (so its backlog stays short).
fn forget(ws: &mut WsClient) {
    for kind in [
        "message",
        "receipt",
        "unread",
        "recalled",
        "presence",
        "user_update",
    ] {
        ws.take_of_type(kind);
    }
}

/// One HTTP call of a generator that must answer `status`; the answer's JSON.
async fn expect_call(
    app: &TestApp,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
    status: u16,
) -> Value {
    let answer = app.call(method, path, Some(token), body).await;
    assert_eq!(answer.status, status, "{method} {path}: {:?}", answer.body);
    answer.json()
}

/// Text messages in the long direct chat.
const CHAT_LEN: usize = 1000;

/// The generator of `tests/fixtures/v2-store.tar.gz` (see tests/fixtures/README.md): a
/// direct chat long enough that format 3 seals most of it into chunks, with edits,
/// reactions, a recall, replies and an image among its first few hundred seqs; a group
/// with roles, mentions and a rename; profiles, pins, mute, a hidden chat, several tokens.
/// Ignored: it makes a fixture, it checks nothing of this build.
#[actix_web::test]
#[ignore = "writes a fixture; run by hand, see tests/fixtures/README.md"]
async fn make_v2_store() {
    let generator = Generator::start(&[
        // a thousand messages in a few seconds, from two sockets
        ("CHATNODE__LIMITS__MESSAGES_PER_SEC", "100000"),
    ]);
    let app = &generator.app;

    let ta = app.register("alice").await;
    let tb = app.register("bob").await;
    let tc = app.register("carol").await;
    let td = app.register("dave").await;
    // bob's phone: a second token, with its own agent
    let mut resp = app
        .client
        .post(app.url("/api/login"))
        .insert_header(("User-Agent", "chatnode-fixture phone/2.0"))
        .send_json(&json!({"username": "bob", "password": PASSWORD}))
        .await
        .expect("login");
    assert_eq!(resp.status().as_u16(), 200);
    let answer: Value = resp.json().await.expect("login answer");
    let tb2 = answer["token"].as_str().expect("token").to_string();
    // a token of alice's that she logged out: it must stay dead
    let gone = app.login("alice").await;
    expect_call(app, "POST", "/api/logout", &gone, None, 204).await;
    // profiles: a display name, and bob's with an avatar
    let body = json!({"display_name": "Alice Liddell"});
    expect_call(app, "PUT", "/api/me", &ta, Some(body), 200).await;
    let avatar = upload_png(app, &tb).await;
    let body = json!({"display_name": "鲍勃", "avatar_url": avatar});
    expect_call(app, "PUT", "/api/me", &tb, Some(body), 200).await;

    // the long direct chat, alice (odd) and bob (even) in turn
    let ab = app.direct(&ta, "bob").await;
    let mut wa = app.connect(&ta).await;
    let mut wb = app.connect(&tb).await;
    let photo = upload(app, &ta, "image/png", Some("harbour.png"), PNG).await;
    let mut seq_of = BTreeMap::new(); // message i -> its seq
    for i in 1..=CHAT_LEN {
        let (ws, sender) = match i % 2 {
            1 => (&mut wa, "alice"),
            _ => (&mut wb, "bob"),
        };
        let mut frame = json!({"type": "send", "conv": ab, "client_id": format!("ab-{i:04}"),
            "kind": "text", "body": chat_body(i, sender)});
        match i {
            150 => frame["reply_to"] = json!(seq_of[&31]),
            151 => frame["reply_to"] = json!(seq_of[&0]),
            _ => {}
        }
        seq_of.insert(i, acked(ws, frame).await);
        match i {
            40 => {
                // the image, as message 0
                let frame = json!({"type": "send", "conv": ab, "client_id": "ab-photo",
                    "kind": "image", "body": "the harbour at dawn", "media_url": photo["url"]});
                seq_of.insert(0, acked(&mut wa, frame).await);
            }
            60 => {
                // alice edits her message 11, twice
                for (n, body) in [
                    "11 from alice: see you at the lighthouse, not the harbour",
                    "11 from alice: see you at the lighthouse at seven",
                ]
                .iter()
                .enumerate()
                {
                    let frame = json!({"type": "edit", "conv": ab, "seq": seq_of[&11],
                        "body": body, "client_id": format!("ab-edit-{n}")});
                    acked(&mut wa, frame).await;
                }
            }
            80 => {
                // both react to bob's message 20; alice takes one of hers back
                let on_20 = seq_of[&20];
                for (n, (by_alice, emoji, on)) in [
                    (true, "👍", true),
                    (false, "👍", true),
                    (true, "😂", true),
                    (false, "❤️", true),
                    (true, "😂", false),
                ]
                .into_iter()
                .enumerate()
                {
                    let ws = if by_alice { &mut wa } else { &mut wb };
                    let frame = json!({"type": "react", "conv": ab, "seq": on_20,
                        "emoji": emoji, "on": on, "client_id": format!("ab-react-{n}")});
                    acked(ws, frame).await;
                }
            }
            100 => {
                // alice takes message 35 back (within the recall window: seconds ago)
                wa.send_json(json!({"type": "recall", "conv": ab, "seq": seq_of[&35]}))
                    .await;
                wa.next_of_type("recalled").await;
            }
            _ => {}
        }
        if i.is_multiple_of(50) {
            forget(&mut wa);
            forget(&mut wb);
        }
    }
    // bob has read and has on a device up to 600; alice read to 990, has to 995
    let positions = |conv: u64, read: u64, delivered: u64| {
        vec![
            json!({"type": "read", "conv": conv, "seq": read}),
            json!({"type": "delivered", "conv": conv, "seq": delivered}),
        ]
    };
    confirm(&mut wb, positions(ab, 600, 600)).await;
    confirm(&mut wa, positions(ab, seq_of[&990], seq_of[&995])).await;

    // the group: alice owns it, bob is an admin, carol a member, dave added later
    let crew = app.group(&ta, "crew", &["bob", "carol"]).await;
    let admins = format!("/api/conversations/{crew}/admins");
    let body = json!({"add": ["bob"]});
    expect_call(app, "PUT", &admins, &ta, Some(body), 200).await;
    let mut wc = app.connect(&tc).await;
    let text = |client_id: String, body: &str| {
        json!({"type": "send", "conv": crew, "client_id": client_id, "kind": "text",
            "body": body})
    };
    let opening = [
        "welcome to the crew",
        "hi all",
        "hello! glad to be here",
        "first shift starts monday",
        "我可以周二值班",
        "monday works for me",
    ];
    for (n, body) in opening.iter().enumerate() {
        let ws = match n % 3 {
            0 => &mut wa,
            1 => &mut wb,
            _ => &mut wc,
        };
        acked(ws, text(format!("crew-{n}"), body)).await;
    }
    let members = format!("/api/conversations/{crew}/members");
    let body = json!({"add": ["dave"]});
    expect_call(app, "POST", &members, &tb, Some(body), 200).await;
    acked(&mut wa, text("crew-dave".into(), "dave is on board too")).await;
    let mut frame = text("crew-m1".into(), "@carol could you take the night shift?");
    frame["mentions"] = json!(["carol"]);
    let ask = acked(&mut wa, frame).await;
    let mut frame = text("crew-m2".into(), "@carol @dave meeting at nine");
    frame["mentions"] = json!(["carol", "dave", "nobody"]);
    let meeting = acked(&mut wb, frame).await;
    let mut frame = text("crew-r1".into(), "sure, friday night is fine");
    frame["reply_to"] = json!(ask);
    acked(&mut wc, frame).await;
    let frame = json!({"type": "react", "conv": crew, "seq": meeting, "emoji": "🎉",
        "on": true, "client_id": "crew-react-1"});
    acked(&mut wc, frame).await;
    let rename = format!("/api/conversations/{crew}");
    let body = json!({"name": "船员 crew"});
    expect_call(app, "PATCH", &rename, &tb, Some(body), 200).await;
    // one sent over HTTP, as a script would
    let path = format!("/api/conversations/{crew}/messages");
    let body = json!({"client_id": "crew-http", "kind": "text",
        "body": "rota pinned to the lighthouse board"});
    expect_call(app, "POST", &path, &ta, Some(body), 201).await;
    for n in 0..24 {
        let ws = match n % 3 {
            0 => &mut wb,
            1 => &mut wc,
            _ => &mut wa,
        };
        let body = match n % 4 {
            3 => format!("第{n}班：没问题"),
            _ => format!("shift {n}: noted"),
        };
        acked(ws, text(format!("crew-s{n}"), &body)).await;
    }
    let crew_last = app.conversation(&ta, crew).await["last_seq"]
        .as_u64()
        .expect("last_seq");
    // carol's device has the first 20 and she has read nothing; bob read to 25
    confirm(
        &mut wc,
        vec![json!({"type": "delivered", "conv": crew, "seq": 20})],
    )
    .await;
    confirm(&mut wb, positions(crew, 25, crew_last)).await;
    confirm(&mut wa, positions(crew, crew_last, crew_last - 2)).await;
    // bob pins the group, alice mutes it
    let pin = format!("/api/conversations/{crew}/pin");
    let body = json!({"pinned": true});
    expect_call(app, "PUT", &pin, &tb, Some(body), 200).await;
    let mute = format!("/api/conversations/{crew}/mute");
    let body = json!({"muted": true});
    expect_call(app, "PUT", &mute, &ta, Some(body), 200).await;

    // alice writes to carol, who hides the chat
    let frame = json!({"type": "send", "to": "carol", "client_id": "ac-1", "kind": "text",
        "body": "are you coming on saturday?"});
    acked(&mut wa, frame).await;
    let ac = app.direct(&ta, "carol").await;
    acked(
        &mut wa,
        json!({"type": "send", "conv": ac, "client_id": "ac-2", "kind": "text",
        "body": "派对在星期六晚上"}),
    )
    .await;
    let hide = format!("/api/conversations/{ac}");
    expect_call(app, "DELETE", &hide, &tc, None, 204).await;
    for ws in [wa, wb, wc] {
        ws.close().await;
    }

    // what each user sees, as this build answers it
    let tokens = BTreeMap::from([("alice", &ta), ("bob", &tb), ("carol", &tc), ("dave", &td)]);
    let mut profiles = BTreeMap::new();
    let mut sessions = BTreeMap::new();
    for (user, token) in &tokens {
        profiles.insert(
            *user,
            expect_call(app, "GET", "/api/me", token, None, 200).await,
        );
        let listed = expect_call(app, "GET", "/api/sessions", token, None, 200).await;
        let mut listed = listed["sessions"].as_array().expect("sessions").clone();
        for session in &mut listed {
            // these change as the tokens are used
            let fields = session.as_object_mut().expect("a session");
            fields.remove("last_seen");
            fields.remove("current");
        }
        sessions.insert(*user, listed);
    }
    let (lists, drains) = lists_and_drains(app, &tokens).await;
    let hidden = app.conversation(&tc, ac).await;
    let mut histories = BTreeMap::new();
    for conv in [ab, crew, ac] {
        histories.insert(conv.to_string(), app.history(&ta, conv).await);
    }
    assert!(histories[&ab.to_string()].len() > CHAT_LEN);
    let runs: BTreeMap<_, _> = drains
        .iter()
        .map(|(user, drained)| (*user, as_runs(drained, &histories)))
        .collect();
    let rows: BTreeMap<_, Vec<Value>> = histories
        .iter()
        .map(|(conv, messages)| (conv, messages.iter().map(as_row).collect()))
        .collect();
    // messages 11 (edited), 33 and the one over HTTP; never 35 (recalled)
    let found = app.search_until("/api/search?q=lighthouse", &ta, 3).await;
    let hits = found["hits"].clone();
    assert_eq!(hits.as_array().map(Vec::len), Some(3), "{found}");
    let vapid = app.call("GET", "/api/push/vapid", None, None).await.json();
    let thumb_url = photo["thumb_url"].as_str().expect("a thumbnail");
    let thumb_hex = media_hex(app, &tb, thumb_url).await;
    let description = json!({
        "written_by": "chatnode 0.1.0, main at 3816825 (store format 2)",
        "format_version": 2,
        "password": PASSWORD,
        "tokens": tokens,
        "second_token": {"bob": tb2},
        "revoked_token": {"alice": gone},
        "convs": {"alice_bob": ab, "crew": crew, "alice_carol": ac},
        "media": {"upload": photo, "hex": hex::encode(PNG), "thumb_hex": thumb_hex,
            "avatar_url": avatar},
        "vapid_public_key": vapid["public_key"],
        "me": profiles,
        "sessions": sessions,
        "conversations": lists,
        "hidden": {"carol": hidden},
        "search": {"lighthouse": hits},
        "drain": runs,
        "columns": COLUMNS,
        "history": rows,
    });
    let (bin, dir) = generator.finish(&description);
    // the build was one of format 2, and left a sound store
    let (ok, text) = run_check_of(&bin, &dir);
    assert!(ok && text.contains("format: 2 (current"), "{text}");
}

/// The recorded histories of a description written by [`make_v2_store`], by conv id.
fn histories_of(want: &Value) -> BTreeMap<String, Vec<Value>> {
    let rows = want["history"].as_object().expect("history");
    rows.iter()
        .map(|(conv, rows)| {
            let rows = rows.as_array().expect("rows");
            let messages = rows.iter().map(|r| from_row(&want["columns"], r));
            (conv.clone(), messages.collect())
        })
        .collect()
}

#[actix_web::test]
async fn the_v2_store_serves_as_it_was_written() {
    let data = unpack("v2-store");
    let want = expected("v2-store");
    let histories = histories_of(&want);
    let entries: usize = histories.values().map(Vec::len).sum();
    let looked = format!("4 users, 3 conversations, {entries} messages");
    let (ok, text) = run_check(data.path());
    assert!(ok, "{text}");
    let format_2 = match FORMAT_VERSION {
        2 => "format: 2 (current",
        _ => "the store is in format 2;",
    };
    assert!(text.contains(format_2) && text.contains(&looked), "{text}");

    let env = [("CHATNODE__LIMITS__LOGINS_PER_MIN", "1000")];
    let (child, addr) = crate::harness::start_binary(data.path(), &env, |_| {});
    let node = KillOnDrop(child);
    let app = TestApp::at(addr);
    // format 3 seals the older history of alice_bob (1,009 entries: 7 chunks of 128
    // with 64 newer) in the background: everything below is read from the chunks
    let sealed = crate::harness::poll_until(
        || async {
            crate::harness::metric(
                &crate::harness::metrics_text(&app).await,
                "chatnode_compaction_sealed_total",
            )
        },
        |n| *n >= 7 * 128,
    )
    .await;
    assert_eq!(sealed, 7 * 128, "entries sealed");
    let token = |u: &str| token_of(&want, u);
    let users = ["alice", "bob", "carol", "dave"];
    let conv = |name: &str| want["convs"][name].as_u64().expect("conv");
    let (ab, crew, ac) = (conv("alice_bob"), conv("crew"), conv("alice_carol"));

    // every token as it was (before the logins below add theirs), the revoked one dead
    for user in users {
        let (status, listed) = app.get("/api/sessions", &token(user)).await;
        assert_eq!(status, 200, "{listed}");
        let at = format!("sessions of {user}");
        assert_within(&want["sessions"][user], &listed["sessions"], &at);
    }
    let bob2 = want["second_token"]["bob"].as_str().expect("token");
    assert_eq!(app.get("/api/me", bob2).await.1["user"], "bob");
    let gone = want["revoked_token"]["alice"].as_str().expect("token");
    assert_eq!(app.get("/api/me", gone).await.0, 401);
    // passwords and profiles (alice, the first account, is the admin)
    let profiles = check_logins(&app, &want, &users).await;
    for (user, me) in &profiles {
        assert_within(&want["me"][user], me, &format!("profile of {user}"));
    }
    assert_eq!(profiles["alice"]["admin"], true);
    assert_taken(&app, "dave").await;
    let vapid = app.call("GET", "/api/push/vapid", None, None).await.json();
    assert_eq!(vapid["public_key"], want["vapid_public_key"]);

    // lists (unread, mentions, last message, roles, pins, mute, receipts), carol's hidden
    // chat, and every entry of every history
    check_lists(&app, &want, &users).await;
    let hidden = app.conversation(&token("carol"), ac).await;
    assert_within(&want["hidden"]["carol"], &hidden, "carol's hidden chat");
    check_histories(&app, &histories, |_| token("alice")).await;
    // a page from the middle, as a client scrolling back reads it
    let long = &histories[&ab.to_string()];
    let path = format!("/api/conversations/{ab}/messages?before=300&limit=100");
    let (status, page) = app.get(&path, &token("bob")).await;
    assert_eq!((status, page["has_more"].as_bool()), (200, Some(true)));
    let older = Value::from(long[199..299].to_vec());
    assert_within(&older, &page["messages"], "page before 300");
    // search, from the index the old build left (or rebuilt)
    for (q, hits) in want["search"].as_object().expect("search") {
        let path = format!("/api/search?q={q}");
        let found = app
            .search_until(&path, &token("alice"), hits.as_array().map_or(0, Vec::len))
            .await;
        assert_within(hits, &found["hits"], &format!("search {q}"));
    }

    // the uploads: the photo and its thumbnail to a member, the avatar to anyone
    let media = &want["media"];
    let url = media["upload"]["url"].as_str().expect("url");
    assert_eq!(media_hex(&app, &token("bob"), url).await, media["hex"]);
    let thumb = media["upload"]["thumb_url"].as_str().expect("thumb");
    assert_eq!(
        media_hex(&app, &token("bob"), thumb).await,
        media["thumb_hex"]
    );
    let avatar = media["avatar_url"].as_str().expect("avatar");
    assert_eq!(media_hex(&app, &token("dave"), avatar).await, media["hex"]);

    // offline queues: dave, who never connected, gets the whole group in order
    for user in users {
        let (mut ws, drained) = drain_of(&app, &token(user)).await;
        let recorded = from_runs(&want["drain"][user], &histories);
        assert_within(&recorded, &drained, &format!("drain of {user}"));
        match user {
            "dave" => {
                assert!(recorded.as_array().is_some_and(|d| !d.is_empty()));
                // confirming takes them off his queue, as before
                let last = app.conversation(&token(user), crew).await["last_seq"].clone();
                confirm(
                    &mut ws,
                    vec![json!({"type": "delivered", "conv": crew, "seq": last})],
                )
                .await;
                ws.close().await;
                let (again, drained) = drain_of(&app, &token(user)).await;
                assert_eq!(drained, json!([]));
                again.close().await;
            }
            "bob" => {
                // a sync from 250: 500 entries as stored
                let from = json!({ab.to_string(): 250});
                ws.send_json(json!({"type": "sync", "convs": from, "limit": 500}))
                    .await;
                let batch = ws.next_of_type("sync_batch").await;
                assert_eq!(
                    (batch["conv"].as_u64(), batch["has_more"].as_bool()),
                    (Some(ab), Some(true))
                );
                let after = Value::from(long[250..750].to_vec());
                assert_within(&after, &batch["messages"], "sync from 250");
                ws.next_of_type("sync_done").await;
                // a retry of an old message is its first copy, not a new one
                let first = at_seq(long, 2);
                assert_eq!(
                    (first["sender"].as_str(), first["client_id"].as_str()),
                    (Some("bob"), Some("ab-0002"))
                );
                ws.send_json(json!({"type": "send", "conv": ab, "client_id": "ab-0002",
                    "kind": "text", "body": first["body"]}))
                    .await;
                let ack = ws.ack_for("ab-0002").await;
                assert_eq!((&ack["seq"], &ack["ts"]), (&first["seq"], &first["ts"]));
                // and a new one takes the next seq
                let last = long.last().expect("entries")["seq"].as_u64().expect("seq");
                let seq = acked(
                    &mut ws,
                    json!({"type": "send", "conv": ab,
                    "client_id": "after-the-fixture", "kind": "text", "body": "still here"}),
                )
                .await;
                assert_eq!(seq, last + 1);
                ws.close().await;
            }
            _ => ws.close().await,
        }
    }

    stop(node);
    let (ok, text) = run_check(data.path());
    assert!(ok, "{text}");
    let looked = format!(
        "4 users, 3 conversations, {} messages (7 sealed chunks)",
        entries + 1
    );
    assert!(
        text.contains(&format!("format: {FORMAT_VERSION} (current")) && text.contains(&looked),
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
    assert!(
        text.contains(&format!("format: {FORMAT_VERSION} (current")),
        "{text}"
    );
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
