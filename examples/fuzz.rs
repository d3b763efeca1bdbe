//! A stable-toolchain fuzz harness for the two decoders a client or a disk can feed
//! garbage: the WebSocket frame decoder and the stored-value decoder.
//!
//! cargo-fuzz needs nightly, which this machine cannot fetch, so this drives the same
//! targets with a seeded generator: random bytes, mutated valid frames, and random
//! frame-shaped JSON. Every input runs under `catch_unwind`; any panic is printed and
//! the run fails.
//!
//! ```sh
//! cargo run --release --example fuzz -- 1000000 [SEED]
//! ```

use std::panic::{catch_unwind, AssertUnwindSafe};

use rand::{rngs::StdRng, Rng, SeedableRng};
use serde_json::{json, Value};

use chatnode::protocol::decode_client_frame;
use chatnode::store::{decode_record, encode_record, ConvRecord, MemberState, MessageRecord};

const TYPES: &[&str] = &[
    "auth",
    "ping",
    "send",
    "delivered",
    "read",
    "sync",
    "history",
    "recall",
    "typing",
    "fly",
];
const FIELDS: &[&str] = &[
    "conv",
    "to",
    "client_id",
    "kind",
    "body",
    "media_url",
    "seq",
    "convs",
    "limit",
    "before",
    "after",
    "token",
    "ts",
];

fn random_value(rng: &mut StdRng, depth: u32) -> Value {
    match rng.gen_range(0..if depth > 3 { 6 } else { 8 }) {
        0 => Value::Null,
        1 => json!(rng.gen::<bool>()),
        2 => json!(rng.gen::<u64>() >> rng.gen_range(0..64)),
        3 => json!(rng.gen::<i64>()),
        4 => json!(rng.gen::<f64>() * 1e20),
        5 => {
            let len = rng.gen_range(0..80);
            Value::String((0..len).map(|_| random_char(rng)).collect())
        }
        6 => Value::Array(
            (0..rng.gen_range(0..4))
                .map(|_| random_value(rng, depth + 1))
                .collect(),
        ),
        _ => {
            let mut map = serde_json::Map::new();
            for _ in 0..rng.gen_range(0..5) {
                let key = if rng.gen_bool(0.7) {
                    FIELDS[rng.gen_range(0..FIELDS.len())].to_string()
                } else {
                    rng.gen::<u32>().to_string()
                };
                map.insert(key, random_value(rng, depth + 1));
            }
            Value::Object(map)
        }
    }
}

fn random_char(rng: &mut StdRng) -> char {
    match rng.gen_range(0..4) {
        0 => rng.gen_range('a'..='z'),
        1 => rng.gen_range('\u{4e00}'..='\u{9fff}'),
        2 => char::from_u32(rng.gen_range(0..0x11_0000)).unwrap_or('?'),
        _ => ['"', '\\', '{', '}', '[', ']', ':', ',', '\0'][rng.gen_range(0..9)],
    }
}

/// A frame-shaped object: a known (or unknown) type with random fields.
fn random_frame(rng: &mut StdRng) -> String {
    let mut frame = match random_value(rng, 1) {
        Value::Object(m) => m,
        _ => serde_json::Map::new(),
    };
    frame.insert("type".into(), json!(TYPES[rng.gen_range(0..TYPES.len())]));
    Value::Object(frame).to_string()
}

fn mutate(rng: &mut StdRng, mut bytes: Vec<u8>) -> Vec<u8> {
    for _ in 0..rng.gen_range(1..8) {
        if bytes.is_empty() {
            bytes.push(rng.gen());
            continue;
        }
        let i = rng.gen_range(0..bytes.len());
        match rng.gen_range(0..4) {
            0 => bytes[i] = rng.gen(),
            1 => bytes.truncate(i),
            2 => bytes.insert(i, rng.gen()),
            _ => {
                let j = rng.gen_range(i..bytes.len());
                let chunk = bytes[i..=j].to_vec();
                bytes.splice(i..i, chunk);
            }
        }
    }
    bytes
}

fn valid_records() -> Vec<Vec<u8>> {
    let msg = MessageRecord {
        sender: "alice".into(),
        client_id: "c1".into(),
        kind: chatnode::store::StoredKind::Text,
        body: "你好 hello".into(),
        media_url: Some("/media/abc".into()),
        ts: 1_700_000_000_000,
        ..MessageRecord::default()
    };
    let conv = ConvRecord::new(
        chatnode::store::StoredConvKind::Group,
        "g",
        "alice",
        vec!["alice".into(), "bob".into()],
    );
    [
        encode_record(&msg),
        encode_record(&conv),
        encode_record(&MemberState::default()),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn one_input(rng: &mut StdRng, seeds: &[Vec<u8>]) -> (&'static str, Vec<u8>) {
    match rng.gen_range(0..5) {
        0 => (
            "frame:bytes",
            (0..rng.gen_range(0..256)).map(|_| rng.gen()).collect(),
        ),
        1 => ("frame:json", random_frame(rng).into_bytes()),
        2 => {
            let frame = random_frame(rng).into_bytes();
            ("frame:mutated", mutate(rng, frame))
        }
        3 => (
            "record:bytes",
            (0..rng.gen_range(0..128)).map(|_| rng.gen()).collect(),
        ),
        _ => {
            let seed = seeds[rng.gen_range(0..seeds.len())].clone();
            ("record:mutated", mutate(rng, seed))
        }
    }
}

fn run(target: &str, input: &[u8]) {
    if target.starts_with("frame") {
        let _ = decode_client_frame(&String::from_utf8_lossy(input));
    } else {
        let _ = decode_record::<MessageRecord>(input);
        let _ = decode_record::<ConvRecord>(input);
        let _ = decode_record::<MemberState>(input);
    }
}

fn main() -> std::process::ExitCode {
    let mut args = std::env::args().skip(1);
    let iterations: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let seed: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let mut rng = StdRng::seed_from_u64(seed);
    let seeds = valid_records();
    std::panic::set_hook(Box::new(|info| eprintln!("panic: {info}")));
    let started = std::time::Instant::now();
    let mut panics = 0u64;
    for i in 0..iterations {
        let (target, input) = one_input(&mut rng, &seeds);
        if catch_unwind(AssertUnwindSafe(|| run(target, &input))).is_err() {
            panics += 1;
            eprintln!(
                "panic #{panics} at input {i} ({target}): {:?}",
                String::from_utf8_lossy(&input)
            );
        }
    }
    println!(
        "fuzz: {iterations} inputs, seed {seed}, {panics} panics, {:.1} s",
        started.elapsed().as_secs_f64()
    );
    if panics == 0 {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}
