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
    // Read until every ref is answered, or the socket closes, or the node goes quiet.
    let mut answered = BTreeSet::new();
    let mut closed = None;
    let mut quiet_rounds = 0;
    while answered.len() < BLAST && closed.is_none() && quiet_rounds < 3 {
        match ws.try_frame_or_close(Duration::from_secs(2)).await {
            Ok(Some(f)) => {
                quiet_rounds = 0;
                if f["type"] == "error" {
                    if let Some(n) = f["ref"].as_str().and_then(|r| r.strip_prefix('m')) {
                        let n: usize = n.parse().expect("a ref this test sent");
                        let code = f["code"].as_str().unwrap_or_default();
                        let codes = ["bad_frame", "rate_limited", "no_such_conversation"];
                        assert!(codes.contains(&code), "{f}");
                        assert!(answered.insert(n), "two errors for m{n}");
                    }
                }
            }
            Ok(None) => quiet_rounds += 1,
            Err(code) => closed = Some(code),
        }
    }
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
            ws.barrier().await;
        }
    }
}
