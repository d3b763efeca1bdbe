//! `read` and `delivered` take effect before the `pong` of a later `ping` on the same
//! socket, however busy the node is (issue 26): a client that marks its chats read,
//! pings, and closes on the pong (as a phone closing the app does) leaves every
//! member state moved, so the user's other devices and the senders see it at once.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::harness::{spawn_app, TestApp, WsClient};

/// Conversations of the reader: direct chats with each writer, then groups.
const WRITERS: usize = 4;
const GROUPS: usize = 8;
/// Messages each writer sends to each of its conversations before the reader reads: a
/// group (two writers) then holds 600, more than the conversation actor keeps senders
/// for (512), so each of its `read`s finds its receipts in the store.
const BEFORE: usize = 300;
/// Messages each writer sends to each of its conversations while the reads arrive.
const DURING: usize = 60;

/// Reads frames until `n` acks came; drops everything else.
async fn count_acks(ws: &mut WsClient, n: usize) {
    let mut acks = 0;
    while acks < n {
        let f = ws.next_frame().await;
        match f["type"].as_str() {
            Some("ack") => acks += 1,
            Some("error") => panic!("a send was refused: {f}"),
            _ => {}
        }
    }
}

/// Every writer sends `per_conv` messages to each of its conversations, without waiting.
async fn blast(writers: &mut [(WsClient, Vec<u64>)], per_conv: usize, tag: &str) -> usize {
    let mut total = 0;
    for (w, (ws, convs)) in writers.iter_mut().enumerate() {
        let mut frames = Vec::new();
        for i in 0..per_conv {
            for conv in convs.iter() {
                frames.push(json!({"type": "send", "conv": conv, "client_id": format!("{tag}-{w}-{conv}-{i}"), "kind": "text", "body": format!("{tag} {i}")}));
            }
        }
        total += frames.len();
        for chunk in frames.chunks(500) {
            ws.send_many(chunk.to_vec()).await;
        }
    }
    total
}

async fn states(app: &TestApp, token: &str) -> BTreeMap<u64, Value> {
    app.conversations(token)
        .await
        .into_iter()
        .map(|c| (c["conv"].as_u64().unwrap(), c))
        .collect()
}

#[actix_web::test]
async fn reads_take_effect_before_the_pong_while_the_group_commit_is_busy() {
    let app = spawn_app(&[("CHATNODE__LIMITS__MESSAGES_PER_SEC", "1000000")]).await;
    let reader = app.register("reader").await;
    let names: Vec<String> = (0..WRITERS).map(|w| format!("writer{w}")).collect();
    let mut tokens = Vec::new();
    for n in &names {
        tokens.push(app.register(n).await);
    }
    let mut writer_convs: Vec<Vec<u64>> = vec![Vec::new(); WRITERS];
    for (w, t) in tokens.iter().enumerate() {
        writer_convs[w].push(app.direct(t, "reader").await);
    }
    for g in 0..GROUPS {
        let a = g % WRITERS;
        let b = (g + 1) % WRITERS;
        let conv = app
            .group(&tokens[a], &format!("g{g}"), &["reader", names[b].as_str()])
            .await;
        writer_convs[a].push(conv);
        writer_convs[b].push(conv);
    }
    let mut writers = Vec::new();
    for (t, convs) in tokens.iter().zip(writer_convs) {
        writers.push((app.connect(t).await, convs));
    }
    // Long conversations, all acked.
    let per_writer: Vec<usize> = writers.iter().map(|(_, c)| c.len()).collect();
    blast(&mut writers, BEFORE, "before").await;
    for ((ws, _), n) in writers.iter_mut().zip(&per_writer) {
        count_acks(ws, n * BEFORE).await;
    }

    // The reader comes online and gets its offline queue.
    let mut ws = app.connect(&reader).await;
    let mut seen: BTreeMap<u64, u64> = BTreeMap::new();
    for f in &ws.drained {
        let (conv, seq) = (
            f["msg"]["conv"].as_u64().unwrap(),
            f["msg"]["seq"].as_u64().unwrap(),
        );
        let s = seen.entry(conv).or_default();
        *s = (*s).max(seq);
    }
    assert_eq!(seen.len(), WRITERS + GROUPS);

    // The writers keep the group commit busy in the same conversations while the reader
    // confirms what it has, pings, and goes at the pong.
    blast(&mut writers, DURING, "during").await;
    let mut frames = Vec::new();
    for (conv, seq) in &seen {
        frames.push(json!({"type": "delivered", "conv": conv, "seq": seq}));
        frames.push(json!({"type": "read", "conv": conv, "seq": seq}));
    }
    frames.push(json!({"type": "ping", "ts": 26}));
    ws.send_many(frames).await;
    let pong = ws.next_of_type("pong").await;
    assert_eq!(pong["ts"], 26);
    drop(ws);

    let now = states(&app, &reader).await;
    for (conv, seq) in &seen {
        let c = &now[conv];
        assert!(
            c["read_seq"].as_u64().unwrap() >= *seq && c["delivered_seq"].as_u64().unwrap() >= *seq,
            "conversation {conv}: the read of seq {seq} had not taken effect at the pong: {c}"
        );
    }

    // Once the writers are done, unread counts exactly what came after the read.
    for ((ws, _), n) in writers.iter_mut().zip(&per_writer) {
        count_acks(ws, n * DURING).await;
    }
    let done = states(&app, &reader).await;
    for (conv, seq) in &seen {
        let c = &done[conv];
        let history = app.history(&reader, *conv).await;
        let after = history
            .iter()
            .filter(|m| m["seq"].as_u64().unwrap() > *seq)
            .count() as u64;
        assert_eq!(c["read_seq"].as_u64().unwrap(), *seq, "{c}");
        assert_eq!(
            c["unread"].as_u64().unwrap(),
            after,
            "conversation {conv}: {c}"
        );
    }
}
