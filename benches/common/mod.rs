//! Helpers shared by the benches: stores in temp dirs, users, conversations, messages.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chatnode::config::Durability;
use chatnode::store::{now_ms, MessageRecord, NewMessage, Store, StoreOptions, StoredKind};

/// A single-threaded tokio runtime for the store's async calls.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Opens (or creates) a store under `dir` with the node's default cache.
pub fn open_store(dir: &Path, durability: Durability) -> Arc<Store> {
    Arc::new(
        Store::open(&StoreOptions {
            data_dir: dir.to_path_buf(),
            durability,
            cache_mb: 64,
            flush_every_ms: 500,
        })
        .expect("open store"),
    )
}

/// The direct conversation of `a` and `b`, created if missing.
pub fn direct(rt: &tokio::runtime::Runtime, store: &Store, a: &str, b: &str) -> (u64, Vec<String>) {
    let (conv, record, _) = rt
        .block_on(store.find_or_create_direct(a, b))
        .expect("direct conversation");
    (conv, record.members)
}

/// A ~50-byte text message from `sender`.
pub fn text(sender: &str, client_id: String) -> MessageRecord {
    MessageRecord {
        sender: sender.to_string(),
        client_id,
        kind: StoredKind::Text,
        body: "on my way, see you at the station in ten minutes".into(),
        media_url: None,
        ts: now_ms(),
        ..MessageRecord::default()
    }
}

/// Appends `n` messages from `sender` to `conv` after seq `after` (500 per transaction,
/// as the group commit writes them under load); returns the last seq.
pub fn fill(store: &Store, conv: u64, members: &[String], sender: &str, after: u64, n: u64) -> u64 {
    let members: Arc<[String]> = members.into();
    let mut next = after + 1;
    while next <= after + n {
        let batch: Vec<NewMessage> = (next..=(after + n).min(next + 499))
            .map(|seq| NewMessage {
                conv,
                seq,
                record: text(sender, format!("{sender}-{conv}-{seq}")),
                members: members.clone(),
            })
            .collect();
        next += batch.len() as u64;
        let (refused, _) = store.append_batch(&batch).expect("append");
        assert!(
            refused.iter().all(Option::is_none),
            "a fill message was refused"
        );
    }
    after + n
}

/// Messages in the history store: `CHATNODE_BENCH_MESSAGES`, default 1,000,000.
pub fn history_size() -> u64 {
    std::env::var("CHATNODE_BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

/// Where benches keep stores that are slow to build, reused across runs.
pub fn cache_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join("chatnode-bench")
        .join(name)
}
