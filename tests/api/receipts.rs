//! `receipts` on conversation objects (PROTOCOL.md v1.1): every other member's delivered
//! and read positions, so a client shows group ticks after a reload.

use serde_json::json;

use crate::harness::{poll_until, spawn_app};

#[actix_web::test]
async fn group_object_lists_each_other_members_positions() {
    let app = spawn_app(&[]).await;
    let ta = app.register("ann").await;
    let tb = app.register("ben").await;
    let tc = app.register("cat").await;
    app.register("dan").await;
    let conv = app.group(&ta, "team", &["ben", "cat", "dan"]).await;

    // Before anything is sent every other member stands at 0, and the caller is not listed.
    let view = app.conversation(&ta, conv).await;
    assert_eq!(
        view["receipts"],
        json!({
            "ben": {"delivered": 0, "read": 0},
            "cat": {"delivered": 0, "read": 0},
            "dan": {"delivered": 0, "read": 0}
        })
    );

    let mut a = app.connect(&ta).await;
    let mut b = app.connect(&tb).await;
    let mut c = app.connect(&tc).await;
    for i in 1..=3 {
        a.send_acked(conv, &format!("m{i}"), "hi").await;
    }
    for ws in [&mut b, &mut c] {
        for _ in 0..3 {
            ws.next_of_type("message").await;
        }
    }
    // ben reads up to 2; cat only confirms delivery of all 3; dan never connects.
    b.send_json(json!({"type": "read", "conv": conv, "seq": 2}))
        .await;
    c.send_json(json!({"type": "delivered", "conv": conv, "seq": 3}))
        .await;
    let want = json!({
        "ben": {"delivered": 2, "read": 2},
        "cat": {"delivered": 3, "read": 0},
        "dan": {"delivered": 0, "read": 0}
    });
    let view = poll_until(|| app.conversation(&ta, conv), |v| v["receipts"] == want).await;
    assert_eq!(view["receipts"], want);

    // ben's object lists ann (the sender, who has read her own messages) but not ben.
    let listed = app.conversations(&tb).await;
    let ben = listed
        .iter()
        .find(|v| v["conv"] == conv)
        .expect("the group in ben's list");
    assert_eq!(ben["receipts"]["ann"], json!({"delivered": 3, "read": 3}));
    assert!(ben["receipts"].get("ben").is_none());
    assert_eq!(ben["receipts"]["cat"], json!({"delivered": 3, "read": 0}));
}

#[actix_web::test]
async fn direct_object_has_receipts_for_the_peer() {
    let app = spawn_app(&[]).await;
    let ta = app.register("ann").await;
    let tb = app.register("ben").await;
    let conv = app.direct(&ta, "ben").await;
    let mut a = app.connect(&ta).await;
    let mut b = app.connect(&tb).await;
    a.send_acked(conv, "d1", "hello").await;
    b.next_of_type("message").await;
    b.send_json(json!({"type": "read", "conv": conv, "seq": 1}))
        .await;
    a.next_of_type("receipt").await;
    let view = app.conversation(&ta, conv).await;
    assert_eq!(
        view["receipts"],
        json!({"ben": {"delivered": 1, "read": 1}})
    );
    assert_eq!(view["peer_read_seq"], 1);
}
