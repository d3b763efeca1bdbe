//! Compaction (issue 25): history sealed into chunks reads, drains, syncs, searches and
//! changes (edit, react, recall, reply, retry) as it did before; dedupe entries are
//! pruned after their window; a kill -9 in the middle of sealing loses nothing.

use serde_json::{json, Value};

use crate::fixtures::{run_check, stop};
use crate::harness::{
    metric, metrics_text, poll_until, seqs, spawn_app, start_binary, KillOnDrop, TestApp, WsClient,
};

/// The body of message `i` of a fill: Latin and Chinese, one of seven words.
fn body(i: u64) -> String {
    match i % 5 {
        0 => format!("第{i}条 消息 你好"),
        _ => format!("note {i} word{}", i % 7),
    }
}

/// Sends messages `from..=to` of a fill from `ws` into `conv`, pipelined 50 at a time;
/// their acks, in order.
async fn fill(ws: &mut WsClient, conv: u64, from: u64, to: u64) -> Vec<Value> {
    let mut acks = Vec::new();
    let mut i = from;
    while i <= to {
        let end = (i + 49).min(to);
        let frames = (i..=end)
            .map(|n| json!({"type": "send", "conv": conv, "client_id": format!("c{n}"), "kind": "text", "body": body(n)}))
            .collect();
        ws.send_many(frames).await;
        for n in i..=end {
            acks.push(ws.ack_for(&format!("c{n}")).await);
        }
        i = end + 1;
    }
    acks
}

/// Waits until the compactor has sealed at least `entries` since the node started.
async fn sealed_at_least(app: &TestApp, entries: u64) -> u64 {
    let sealed = poll_until(
        || async { metric(&metrics_text(app).await, "chatnode_compaction_sealed_total") },
        |n| *n >= entries,
    )
    .await;
    assert!(sealed >= entries, "only {sealed} entries were sealed");
    sealed
}

/// Waits until a whole compaction pass started after this call ran (two complete after
/// it) and left nothing to seal.
async fn compaction_done(app: &TestApp) {
    let passes = metric(&metrics_text(app).await, "chatnode_compaction_passes_total");
    let m = poll_until(
        || async { metrics_text(app).await },
        |m| {
            metric(m, "chatnode_compaction_passes_total") >= passes + 2
                && metric(m, "chatnode_compaction_backlog") == 0
        },
    )
    .await;
    assert_eq!(metric(&m, "chatnode_compaction_backlog"), 0, "{m}");
}

#[actix_web::test]
async fn sealed_history_reads_drains_and_changes_as_before() {
    let app = spawn_app(&[("CHATNODE__LIMITS__MESSAGES_PER_SEC", "100000")]).await;
    let ta = app.register("alice").await;
    let tb = app.register("bob").await;
    let conv = app.direct(&ta, "bob").await;
    let mut a = app.connect(&ta).await;
    let acks = fill(&mut a, conv, 1, 400).await;
    assert_eq!(
        acks.iter()
            .map(|f| f["seq"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        (1..=400).collect::<Vec<_>>()
    );
    // 1..=256 are sealed (two chunks of 128, each followed by at least 64 newer)
    sealed_at_least(&app, 256).await;

    // changes to sealed entries: edit, reaction, recall, a reply, a retry
    a.send_json(
        json!({"type": "edit", "conv": conv, "seq": 5, "body": "five, edited", "client_id": "e5"}),
    )
    .await;
    a.ack_for("e5").await; // 401
    let mut b = app.connect(&tb).await;
    assert_eq!(
        seqs(&msgs(&b.drained)),
        (1..=401).collect::<Vec<_>>(),
        "bob's offline queue"
    );
    b.send_json(json!({"type": "react", "conv": conv, "seq": 10, "emoji": "👍", "on": true, "client_id": "r10"}))
        .await;
    b.ack_for("r10").await; // 402
    a.send_json(json!({"type": "recall", "conv": conv, "seq": 30}))
        .await; // 403
    a.next_of_type("recalled").await;
    a.send_json(json!({"type": "send", "conv": conv, "client_id": "re40", "kind": "text", "body": "answer", "reply_to": 40}))
        .await;
    assert_eq!(a.ack_for("re40").await["seq"], 404);
    a.send_msg(conv, "c50", &body(50)).await;
    let retry = a.ack_for("c50").await;
    assert_eq!(
        (retry["seq"].clone(), retry["ts"].clone()),
        (acks[49]["seq"].clone(), acks[49]["ts"].clone()),
        "a retry of a sealed message gets its first ack"
    );

    let history = app.history(&tb, conv).await;
    assert_eq!(seqs(&history), (1..=404).collect::<Vec<_>>());
    for m in &history[..400] {
        let i = m["seq"].as_u64().unwrap();
        assert_eq!(m["client_id"], format!("c{i}"), "{m}");
        match i {
            5 => assert!(
                m["body"] == "five, edited" && m["edited_ts"].is_u64(),
                "{m}"
            ),
            10 => assert_eq!(m["reactions"], json!({"👍": ["bob"]}), "{m}"),
            30 => assert!(m["recalled"] == true && m["body"] == "", "{m}"),
            _ => assert_eq!(m["body"], body(i), "{m}"),
        }
    }
    assert_eq!(history[403]["reply_to"], 40);
    // pages across the chunks' edges, both ways
    for (before, want) in [(140, 120..=139), (260, 240..=259), (20, 1..=19)] {
        let (_, page) = app
            .get(
                &format!("/api/conversations/{conv}/messages?before={before}&limit=20"),
                &tb,
            )
            .await;
        let got = seqs(page["messages"].as_array().unwrap());
        assert_eq!(got, want.collect::<Vec<_>>(), "before {before}");
    }
    // sync from the start sees what history sees
    b.send_json(json!({"type": "sync", "convs": {conv.to_string(): 0}, "limit": 1000}))
        .await;
    let batch = b.next_of_type("sync_batch").await;
    assert_eq!(batch["messages"].as_array().unwrap(), &history);
    // unread: alice's 401 messages, less the recalled one (events never count)
    assert_eq!(app.conversation(&tb, conv).await["unread"], 400);
    // search finds sealed messages by their current text, never the recalled one
    let want = (1..=400)
        .filter(|i| i % 5 != 0 && i % 7 == 3 && *i != 30)
        .count();
    let found = app
        .search_until("/api/search?q=word3&limit=100", &tb, want)
        .await;
    assert_eq!(
        found["hits"].as_array().map(Vec::len),
        Some(want),
        "{found}"
    );
    let edited = app.search_until("/api/search?q=edited", &tb, 1).await;
    assert_eq!(edited["hits"][0]["seq"], 5, "{edited}");
}

/// The `message` frames' messages.
fn msgs(frames: &[Value]) -> Vec<Value> {
    crate::harness::msgs_of(frames)
}

#[actix_web::test]
async fn a_kill_9_while_sealing_loses_nothing_and_dedupe_is_pruned_after_its_window() {
    let dir = tempfile::tempdir().unwrap();
    let start = || {
        let (child, addr) = start_binary(
            dir.path(),
            &[
                ("CHATNODE__LIMITS__MESSAGES_PER_SEC", "100000"),
                ("CHATNODE__STORAGE__DEDUPE_WINDOW_SECS", "1"),
            ],
            |_| {},
        );
        (KillOnDrop(child), TestApp::at(addr))
    };
    let (node, app) = start();
    let ta = app.register("alice").await;
    app.register("bob").await;
    let conv = app.direct(&ta, "bob").await;
    let mut a = app.connect(&ta).await;
    fill(&mut a, conv, 1, 3000).await;
    sealed_at_least(&app, 128).await;
    drop(node); // SIGKILL, most likely in the middle of sealing the 22 chunks

    let (node, app) = start();
    let tb = app.login("bob").await;
    // past the dedupe window of every message, then a pass that started after it
    actix_web::rt::time::sleep(std::time::Duration::from_millis(1100)).await;
    compaction_done(&app).await;
    let history = app.history(&tb, conv).await;
    assert_eq!(seqs(&history), (1..=3000).collect::<Vec<_>>());
    assert!(history
        .iter()
        .all(|m| m["body"] == body(m["seq"].as_u64().unwrap())));
    // a day-old retry (here: older than the 1 s window) is a new message
    let ta = app.login("alice").await;
    let mut a = app.connect(&ta).await;
    a.send_msg(conv, "c1", "again").await;
    assert_eq!(a.ack_for("c1").await["seq"], 3001);
    a.close().await;
    stop(node);

    let (ok, text) = run_check(dir.path());
    assert!(ok, "{text}");
    // 22 chunks: every full 128 with at least 64 newer (3,001 entries)
    assert!(text.contains("3001 messages (22 sealed chunks)"), "{text}");
}
