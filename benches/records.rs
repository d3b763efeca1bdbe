//! Stored values: the format byte + bincode encoding of what the store keeps.
//!
//! A `send` encodes one `MessageRecord` and re-encodes each member's `MemberState`;
//! every page, sync and drain decodes one `MessageRecord` per message.

use std::hint::black_box;
use std::time::Duration;

use chatnode::store::{decode_record, encode_record, MemberState, MessageRecord, StoredKind};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn record() -> MessageRecord {
    MessageRecord {
        sender: "alice".into(),
        client_id: "c-8f3a2b19-0001".into(),
        kind: StoredKind::Text,
        body: "on my way, see you at the station in ten minutes".into(),
        media_url: None,
        ts: 1_760_000_000_000,
        ..MessageRecord::default()
    }
}

fn records(c: &mut Criterion) {
    let mut g = c.benchmark_group("record");
    g.throughput(Throughput::Elements(1));
    let msg = record();
    g.bench_function("message_encode", |b| {
        b.iter(|| encode_record(black_box(&msg)))
    });
    let bytes = encode_record(&msg).unwrap_or_default();
    g.bench_function("message_decode", |b| {
        b.iter(|| decode_record::<MessageRecord>(black_box(&bytes)))
    });
    let state = MemberState {
        read_seq: 120_000,
        delivered_seq: 123_400,
        unread: 56,
        ..MemberState::default()
    };
    g.bench_function("member_state_encode", |b| {
        b.iter(|| encode_record(black_box(&state)))
    });
    let bytes = encode_record(&state).unwrap_or_default();
    g.bench_function("member_state_decode", |b| {
        b.iter(|| decode_record::<MemberState>(black_box(&bytes)))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = records
}
criterion_main!(benches);
