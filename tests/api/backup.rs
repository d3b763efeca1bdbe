//! `chatnode backup` and `chatnode restore`, on the real binary: a backup taken while a
//! node runs and writes restores into a sound store that holds everything acked before
//! the backup began; a backup of a quiet node restores every tree byte for byte (and the
//! media files); damaged files and non-empty targets are refused.

use std::{
    net::SocketAddr,
    path::Path,
    process::Command,
    rc::Rc,
    sync::{Arc, Mutex},
};

use awc::ws::{Frame, Message};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};

use crate::crash::{run_check, set_up, Node};
use chatnode::store::{Store, StoreOptions};

/// Runs the binary with the data dir in the environment.
fn chatnode(data_dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_chatnode"))
        .args(args)
        .env_clear()
        .env("CHATNODE__SERVER__DATA_DIR", data_dir)
        .env("RUST_LOG", "error")
        .output()
        .expect("run chatnode");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// `chatnode restore FILE --data-dir DIR`.
fn restore(file: &Path, dir: &Path) -> (bool, String) {
    let (file, dir) = (file.to_str().expect("path"), dir.to_str().expect("path"));
    chatnode(Path::new(dir), &["restore", file, "--data-dir", dir])
}

/// Same, off the test's runtime thread (so senders keep running meanwhile).
async fn chatnode_async(data_dir: &Path, args: &[&str]) -> (bool, String) {
    let dir = data_dir.to_path_buf();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    actix_web::rt::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        chatnode(&dir, &args)
    })
    .await
    .expect("blocking task")
}

fn open(data_dir: &Path) -> Store {
    let mut opts =
        StoreOptions::from_settings(&chatnode::config::Settings::defaults().expect("defaults"));
    opts.data_dir = data_dir.to_path_buf();
    Store::open_existing(&opts).expect("open the store")
}

/// One client that sends to `conv`, one message at a time, until `stop` is set or
/// `count` were acked.
struct Sender {
    addr: SocketAddr,
    token: String,
    conv: u64,
    tag: &'static str,
    count: u64,
    media_url: Option<String>,
}

type Acks = Rc<std::cell::RefCell<Vec<(String, u64)>>>;

impl Sender {
    /// Sends, recording each ack's (client_id, seq) in `acks`.
    async fn run(self, stop: Rc<std::cell::Cell<bool>>, acks: Acks) {
        let url = format!("ws://{}/ws?token={}", self.addr, self.token);
        let (_, mut ws) = awc::Client::new().ws(url).connect().await.expect("connect");
        let mut n = 0;
        while n < self.count && !stop.get() {
            n += 1;
            let id = format!("{}-{n}", self.tag);
            let mut frame = json!({"type": "send", "conv": self.conv, "client_id": id, "kind": "text", "body": format!("{id} text")});
            if let Some(url) = &self.media_url {
                frame["kind"] = json!("image");
                frame["media_url"] = json!(url);
            }
            ws.send(Message::Text(frame.to_string().into()))
                .await
                .expect("send");
            loop {
                let frame =
                    actix_web::rt::time::timeout(std::time::Duration::from_secs(15), ws.next())
                        .await;
                let bytes = match frame {
                    Ok(Some(Ok(Frame::Text(bytes)))) => bytes,
                    Ok(Some(Ok(_))) => continue,
                    other => panic!("no ack for {id}: {other:?}"),
                };
                let v: Value = serde_json::from_slice(&bytes).expect("JSON frame");
                if v["type"] == "ack" && v["client_id"] == id.as_str() {
                    acks.borrow_mut()
                        .push((id, v["seq"].as_u64().expect("seq")));
                    break;
                }
                assert_ne!(v["type"], "error", "send failed: {v}");
            }
        }
    }
}

#[test]
fn backup_and_restore_round_trip() {
    let data = tempfile::tempdir().expect("temp dir");
    let out = tempfile::tempdir().expect("temp dir");
    let live_file = out.path().join("live.chatnode-backup");
    let quiet_file = out.path().join("quiet.chatnode-backup");
    let repairs = Arc::new(Mutex::new(Vec::new()));

    let (conv, acked_before_live_backup) = actix_web::rt::System::new().block_on(async {
        let mut node = Node::start(data.path(), repairs.clone());
        let clients = set_up(node.addr).await;
        let conv = clients[0].convs[0];

        // a media file, and a message that links it
        let mut resp = awc::Client::new()
            .post(format!("http://{}/api/media", node.addr))
            .insert_header(("Authorization", format!("Bearer {}", clients[0].token)))
            .insert_header(("Content-Type", "image/png"))
            .send_body(vec![7u8; 5000])
            .await
            .expect("upload");
        assert_eq!(resp.status().as_u16(), 201);
        let url = resp.json::<Value>().await.expect("upload answer")["url"]
            .as_str()
            .expect("url")
            .to_string();

        let stop = Rc::new(std::cell::Cell::new(false));
        let acks = Rc::new(std::cell::RefCell::new(Vec::new()));
        let sender = |i: usize, tag: &'static str, count: u64, media_url: Option<String>| Sender {
            addr: node.addr,
            token: clients[i].token.clone(),
            conv,
            tag,
            count,
            media_url,
        };
        sender(0, "media", 1, Some(url))
            .run(stop.clone(), acks.clone())
            .await;
        sender(1, "warm", 50, None)
            .run(stop.clone(), acks.clone())
            .await;

        // a backup while two clients keep writing
        let writers: Vec<_> = (2..4)
            .map(|i| {
                let tag: &'static str = if i == 2 { "live-a" } else { "live-b" };
                actix_web::rt::spawn(sender(i, tag, u64::MAX, None).run(stop.clone(), acks.clone()))
            })
            .collect();
        actix_web::rt::time::sleep(std::time::Duration::from_millis(200)).await;
        let acked_before: Vec<(String, u64)> = acks.borrow().clone();
        let (ok, text) =
            chatnode_async(data.path(), &["backup", live_file.to_str().expect("path")]).await;
        assert!(ok, "backup of a running node failed:\n{text}");
        assert!(text.contains("streamed by the running node"), "{text}");
        // the check of a running node: a snapshot of it, rebuilt aside and checked
        let (ok, text) = chatnode_async(data.path(), &["check"]).await;
        assert!(ok, "check of a running node failed:\n{text}");
        assert!(
            text.contains("check: ok") && text.contains("running node"),
            "{text}"
        );
        let left: Vec<_> = std::fs::read_dir(data.path())
            .expect("data dir")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with("check-"))
            .collect();
        assert!(left.is_empty(), "the check cleaned up after itself");
        actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
        stop.set(true);
        for w in writers {
            w.await.expect("writer");
        }
        assert!(
            acks.borrow().len() > acked_before.len(),
            "the writers kept writing during the backup"
        );

        // a backup of the quiet node
        let (ok, text) =
            chatnode_async(data.path(), &["backup", quiet_file.to_str().expect("path")]).await;
        assert!(ok, "{text}");
        node.terminate();
        (conv, acked_before)
    });

    // the live backup: sound, and holds everything acked before it began
    let live_dir = out.path().join("live");
    let (ok, text) = restore(&live_file, &live_dir);
    assert!(ok, "restore of the live backup:\n{text}");
    assert!(text.contains("check: ok"), "{text}");
    {
        let restored = open(&live_dir);
        for (id, seq) in &acked_before_live_backup {
            let m = restored
                .message(conv, *seq)
                .expect("read")
                .unwrap_or_else(|| panic!("{id} (seq {seq}) is missing"));
            assert_eq!(&m.client_id, id);
        }
    }

    // the quiet backup: every tree equal, media included
    let quiet_dir = out.path().join("quiet");
    let (ok, text) = restore(&quiet_file, &quiet_dir);
    assert!(ok, "restore of the quiet backup:\n{text}");
    {
        let original = open(data.path());
        let restored = open(&quiet_dir);
        let (a, b) = (
            original.dump_trees().expect("dump"),
            restored.dump_trees().expect("dump"),
        );
        assert_eq!(
            a.keys().collect::<Vec<_>>(),
            b.keys().collect::<Vec<_>>(),
            "the same trees"
        );
        for (tree, pairs) in &a {
            assert!(
                b[tree] == *pairs,
                "tree {} differs",
                String::from_utf8_lossy(tree)
            );
        }
        let media: Vec<_> = std::fs::read_dir(data.path().join("media"))
            .expect("media dir")
            .collect();
        assert_eq!(media.len(), 1);
        for entry in media {
            let entry = entry.expect("entry");
            let copy = quiet_dir.join("media").join(entry.file_name());
            assert_eq!(
                std::fs::read(entry.path()).expect("read"),
                std::fs::read(copy).expect("restored media")
            );
        }
    }
    let (ok, text) = run_check(&quiet_dir);
    assert!(ok, "{text}");

    // with no node running, backup opens the store itself
    let direct_file = out.path().join("direct.chatnode-backup");
    let (ok, text) = chatnode(
        data.path(),
        &["backup", direct_file.to_str().expect("path")],
    );
    assert!(ok && text.contains("no node running"), "{text}");

    // refusals: a non-empty target, a damaged file
    let (ok, text) = restore(&quiet_file, &quiet_dir);
    assert!(!ok && text.contains("not empty"), "{text}");
    let mut bytes = std::fs::read(&direct_file).expect("read backup");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    let damaged = out.path().join("damaged.chatnode-backup");
    std::fs::write(&damaged, bytes).expect("write");
    let target = out.path().join("from-damaged");
    let (ok, text) = restore(&damaged, &target);
    assert!(
        !ok && (text.contains("checksum") || text.contains("damaged")),
        "{text}"
    );
    assert!(
        std::fs::read_dir(&target)
            .map(|mut d| d.next().is_none())
            .unwrap_or(true),
        "nothing restored from a damaged file"
    );
}
