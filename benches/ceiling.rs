//! Ceilings with no node code in the way: the disk's raw fsync rate, and raw sled group
//! commit (N threads each insert a record and share one flush + fdatasync).
//!
//! The load tool's `ceiling` command runs the same code (this bench includes its
//! module), so `cargo bench` and the tool's table give the same ceiling.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../src/bin/chatnode-load/ceiling.rs"]
#[allow(dead_code)]
mod ceiling;

use std::time::Duration;

use ceiling::{Bound, GroupCommitRig};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn raw_fsync(c: &mut Criterion) {
    let mut g = c.benchmark_group("ceiling");
    g.throughput(Throughput::Elements(1));
    let dir = tempfile::tempdir().unwrap();
    g.bench_function("raw_fsync_64b", |b| {
        b.iter_custom(|iters| {
            let bound = Bound {
                ops: iters,
                deadline: None,
            };
            ceiling::raw_fsync(dir.path(), bound).unwrap().elapsed
        })
    });
    for writers in [1usize, 4, 16] {
        let dir = tempfile::tempdir().unwrap();
        let rig = GroupCommitRig::open(dir.path()).unwrap();
        g.bench_function(format!("raw_sled_group_commit/{writers}_writers"), |b| {
            b.iter_custom(|iters| {
                let bound = Bound {
                    ops: iters,
                    deadline: None,
                };
                rig.run(writers, bound).unwrap().elapsed
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = raw_fsync
}
criterion_main!(benches);
