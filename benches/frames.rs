//! JSON frames: decoding what clients send, encoding what the node sends.
//!
//! Every `send` is decoded once; every stored message is encoded once as a `message`
//! frame (the same text goes to every member) and once as an `ack`.

use std::hint::black_box;
use std::time::Duration;

use chatnode::protocol::{decode_client_frame, MessageKind, MessageView, ServerFrame};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const SEND: &str = r#"{"type":"send","conv":4711,"client_id":"c-8f3a2b19-0001","kind":"text","body":"on my way, see you at the station in ten minutes"}"#;
const SYNC: &str = r#"{"type":"sync","convs":{"1":10,"2":0,"3":991,"4":12},"limit":500}"#;
const DELIVERED: &str = r#"{"type":"delivered","conv":4711,"seq":123456}"#;

fn message() -> MessageView {
    MessageView {
        conv: 4711,
        seq: 123_456,
        sender: "alice".into(),
        client_id: "c-8f3a2b19-0001".into(),
        kind: MessageKind::Text,
        body: "on my way, see you at the station in ten minutes".into(),
        media_url: None,
        ts: 1_760_000_000_000,
        recalled: false,
        ..Default::default()
    }
}

fn decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("frame_decode");
    g.throughput(Throughput::Elements(1));
    for (name, text) in [("send", SEND), ("sync", SYNC), ("delivered", DELIVERED)] {
        g.bench_function(name, |b| b.iter(|| decode_client_frame(black_box(text))));
    }
    g.finish();
}

fn encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("frame_encode");
    g.throughput(Throughput::Elements(1));
    let msg = ServerFrame::Message { msg: message() };
    g.bench_function("message", |b| b.iter(|| black_box(&msg).to_json()));
    let ack = ServerFrame::Ack {
        client_id: "c-8f3a2b19-0001".into(),
        conv: 4711,
        seq: 123_456,
        ts: 1_760_000_000_000,
    };
    g.bench_function("ack", |b| b.iter(|| black_box(&ack).to_json()));
    let batch = ServerFrame::SyncBatch {
        conv: 4711,
        messages: vec![message(); 500],
        has_more: true,
    };
    g.throughput(Throughput::Elements(500));
    g.bench_function("sync_batch_500", |b| b.iter(|| black_box(&batch).to_json()));
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = decode, encode
}
criterion_main!(benches);
