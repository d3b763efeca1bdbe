//! Fan-out: one stored message pushed through the registry to every session of a
//! group (`Deliver` with `Push::Message`), measured until the last session got it.
//!
//! The sessions are lightweight actors that count what they receive, so this is the
//! actor-messaging cost alone (registry lookup, one mailbox send per session, one
//! handler call); writing the frame to each socket is not included.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::{Actor, Context, Handler};
use chatnode::actors::registry::{Connect, Deliver, Registry};
use chatnode::actors::{Backlog, Push, SessionRef};
use chatnode::config::Durability;
use chatnode::store::{Store, StoreOptions};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tokio::sync::mpsc;

/// Counts pushes; the one that completes a round says so.
struct Counter {
    seen: Arc<AtomicUsize>,
    target: Arc<AtomicUsize>,
    done: mpsc::UnboundedSender<()>,
}

impl Actor for Counter {
    type Context = Context<Self>;
}

impl Handler<Push> for Counter {
    type Result = ();

    fn handle(&mut self, push: Push, _: &mut Context<Self>) {
        if let Push::Message { frame, .. } = push {
            std::hint::black_box(frame.len());
        }
        if self.seen.fetch_add(1, Ordering::Relaxed) + 1 == self.target.load(Ordering::Relaxed) {
            let _ = self.done.send(());
        }
    }
}

fn fanout(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        Store::open(&StoreOptions {
            data_dir: dir.path().to_path_buf(),
            durability: Durability::Sync,
            cache_mb: 16,
            flush_every_ms: 500,
            backup_dir: std::path::PathBuf::from("backups"),
        })
        .unwrap(),
    );
    let frame: Arc<str> = r#"{"type":"message","msg":{"conv":7,"seq":1,"sender":"m0","client_id":"c1","kind":"text","body":"on my way, see you at the station in ten minutes","media_url":null,"ts":1760000000000,"recalled":false}}"#.into();
    let mut g = c.benchmark_group("fanout");
    for size in [50usize, 500] {
        let system = actix::System::new();
        let seen = Arc::new(AtomicUsize::new(0));
        let target = Arc::new(AtomicUsize::new(usize::MAX));
        let (done_tx, mut done_rx) = mpsc::unbounded_channel();
        let (registry, users) = system.block_on(async {
            let registry = Registry::new(store.clone(), usize::MAX).start();
            let mut users = Vec::with_capacity(size);
            for i in 0..size {
                let user = format!("m{i}");
                let counter = Counter {
                    seen: seen.clone(),
                    target: target.clone(),
                    done: done_tx.clone(),
                }
                .start();
                let session = SessionRef {
                    id: i as u64,
                    recipient: counter.recipient(),
                    // The counter never takes from it: no limit.
                    backlog: Arc::new(Backlog::new(usize::MAX)),
                };
                assert!(registry
                    .send(Connect {
                        user: user.clone(),
                        session,
                        token_hash: [0; 32]
                    })
                    .await
                    .unwrap());
                users.push(user);
            }
            (registry, Arc::<[String]>::from(users))
        });
        g.throughput(Throughput::Elements(size as u64));
        g.bench_function(format!("one_message_to_{size}_sessions"), |b| {
            b.iter_custom(|iters| {
                system.block_on(async {
                    let start = Instant::now();
                    for seq in 0..iters {
                        seen.store(0, Ordering::Relaxed);
                        target.store(size, Ordering::Relaxed);
                        registry.do_send(Deliver {
                            users: users.clone(),
                            push: Push::Message {
                                conv: 7,
                                seq,
                                frame: frame.clone(),
                            },
                            except: None,
                        });
                        done_rx.recv().await.unwrap();
                    }
                    start.elapsed()
                })
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = fanout
}
criterion_main!(benches);
