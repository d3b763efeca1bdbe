//! A hostile client's blast (issue 19.3): malformed frames as fast as the socket takes
//! them, each followed by a ping, with the rate limit lifted. Every malformed frame gets
//! its own `error`, or the socket closes with 4008; never silence.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::spawn_app;

/// How many malformed frames one blast sends.
const BLAST: usize = 2_000;

/// Malformed frame `i`: kinds naming a conversation (answered by its actor: one the
/// sender is in, one it is not in, one that does not exist) and kinds that do not
/// (answered by the session); each carries `m{i}` as its `ref`.
fn malformed(i: usize, conv: u64, foreign: u64) -> Value {
    let id = format!("m{i}");
    // the error echoes the unknown kind: ~400 bytes an answer through the session mailbox
    let bogus = format!("bogus{}", "x".repeat(300));
    match i % 6 {
        0 => json!({"type": "send", "conv": conv, "client_id": id, "kind": bogus, "body": "x"}),
        1 => json!({"type": "read", "conv": conv, "client_id": id, "seq": "not a number"}),
        2 => json!({"type": "frobnicate", "client_id": id}),
        3 => json!({"type": "send", "conv": foreign, "client_id": id, "kind": "nope"}),
        4 => json!({"type": "delivered", "conv": 999_999, "client_id": id, "seq": -1}),
        _ => json!({"type": "send", "client_id": id}),
    }
}

#[actix_web::test]
async fn every_malformed_frame_of_a_fast_blast_gets_its_error() {
    let app = spawn_app(&[
        ("CHATNODE__LIMITS__MESSAGES_PER_SEC", "1000000"),
        ("CHATNODE__SERVER__WORKERS", "1"),
    ])
    .await;
    let a = app.register("alice").await;
    let b = app.register("bob").await;
    app.register("carol").await;
    let conv = app.direct(&a, "bob").await;
    let foreign = app.direct(&b, "carol").await;
    let mut ws = app.connect(&a).await;
    let mut frames = Vec::with_capacity(BLAST * 2);
    for i in 0..BLAST {
        frames.push(malformed(i, conv, foreign));
        frames.push(json!({"type": "ping", "ts": i}));
    }
    ws.send_many(frames).await;
    // Read until every ref is answered and the last ping's pong came, or the socket
    // closes, or the node goes quiet. A pong comes only after the errors of every frame
    // before its ping: a client that stops reading at its last pong has them all.
    let mut answered = BTreeSet::new();
    let mut early_pongs = Vec::new();
    let mut last_pong = false;
    let mut pongs = Vec::new();
    let mut closed = None;
    let mut quiet_rounds = 0;
    while !(last_pong && answered.len() == BLAST) && closed.is_none() && quiet_rounds < 3 {
        match ws.try_frame_or_close(Duration::from_secs(2)).await {
            Ok(Some(f)) if f["type"] == "error" => {
                quiet_rounds = 0;
                if let Some(n) = f["ref"].as_str().and_then(|r| r.strip_prefix('m')) {
                    let n: usize = n.parse().expect("a ref this test sent");
                    let code = f["code"].as_str().unwrap_or_default();
                    let codes = ["bad_frame", "rate_limited", "no_such_conversation"];
                    assert!(codes.contains(&code), "{f}");
                    assert!(answered.insert(n), "two errors for m{n}");
                }
            }
            Ok(Some(f)) if f["type"] == "pong" => {
                quiet_rounds = 0;
                let k = f["ts"].as_u64().expect("a ts this test sent") as usize;
                last_pong |= k == BLAST - 1;
                pongs.push(k);
                let unanswered: Vec<usize> = (0..=k).filter(|i| !answered.contains(i)).collect();
                if !unanswered.is_empty() {
                    early_pongs.push((k, unanswered));
                }
            }
            Ok(Some(_)) => quiet_rounds = 0,
            Ok(None) => quiet_rounds += 1,
            Err(code) => closed = Some(code),
        }
    }
    assert!(
        early_pongs.is_empty(),
        "pongs before the errors of the frames ahead of their ping: {:?}",
        &early_pongs[..early_pongs.len().min(3)]
    );
    match closed {
        // closed for flooding: every frame up to the last one answered has its error
        Some(code) => {
            assert_eq!(code, Some(4008), "closed otherwise than for flooding");
            let last = answered.iter().next_back().copied().unwrap_or(0);
            let missing: Vec<usize> = (0..=last).filter(|i| !answered.contains(i)).collect();
            assert!(
                missing.is_empty(),
                "no error for {missing:?} before the 4008"
            );
        }
        None => {
            let missing: Vec<usize> = (0..BLAST).filter(|i| !answered.contains(i)).collect();
            assert!(
                missing.is_empty(),
                "{} malformed frames got no error and the socket stayed open: {missing:?}",
                missing.len()
            );
            // every ping has its pong, in order: none was turned away as rate limited
            assert_eq!(pongs, (0..BLAST).collect::<Vec<_>>(), "the pongs");
            ws.barrier().await;
        }
    }
}
