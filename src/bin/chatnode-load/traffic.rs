//! The two halves of every message scenario: a sender that keeps a window of unacked
//! `send`s open, and a receiver that checks every message it gets.
//!
//! A message's body is its send time (µs since the run's epoch), so the receiver
//! measures end-to-end latency without talking to the sender. The sender tells its
//! receivers, at the end, how many acks it got; they stop once they hold that many.

use std::{
    collections::{HashMap, HashSet},
    time::{Duration, Instant},
};

use tokio::sync::watch;

use crate::stats::Latencies;
use crate::ws::{self, Incoming, Ws};
use crate::Res;

/// How often a receiver pings (the node's default heartbeat timeout is 90 s).
const HEARTBEAT: Duration = Duration::from_secs(20);

/// How a sender sends.
#[derive(Debug, Clone, Copy)]
pub struct SendPlan {
    /// Conversation to send to.
    pub conv: u64,
    /// Most unacked sends at once.
    pub window: usize,
    /// The run's time zero (bodies carry µs since then).
    pub epoch: Instant,
    /// No new sends after this.
    pub stop_at: Instant,
    /// Give up waiting for acks (or messages) after this.
    pub give_up_at: Instant,
    /// Most sends in all.
    pub max_messages: u64,
    /// Pause between sends (pacing), if any.
    pub interval: Option<Duration>,
    /// With pacing, the delay of the first send: senders spread over the interval, as
    /// independent users are, instead of all sending in the same instant.
    pub phase: Duration,
}

/// What a sender saw.
#[derive(Debug, Default)]
pub struct Sent {
    /// (seq, client_id) of every acked send.
    pub acked: Vec<(u64, String)>,
    /// Send-to-ack latencies.
    pub ack_latency: Latencies,
    /// Sends never acked by `give_up_at`.
    pub unacked: u64,
    /// `error` frames received.
    pub errors: u64,
    /// When the last ack came.
    pub last_ack: Option<Instant>,
    /// The first error message, for the report.
    pub first_error: Option<String>,
}

/// Sends under `plan` on `ws`; `tag` makes client_ids unique; `done` gets the ack count.
pub async fn sender(
    mut ws: Ws,
    tag: String,
    plan: SendPlan,
    done: watch::Sender<Option<u64>>,
) -> Res<Sent> {
    let mut out = Sent::default();
    let mut inflight: HashMap<String, Instant> = HashMap::new();
    let mut sent = 0u64;
    let mut next_at = Instant::now() + plan.phase;
    loop {
        let now = Instant::now();
        let mut queued = false;
        while inflight.len() < plan.window
            && sent < plan.max_messages
            && now < plan.stop_at
            && plan.interval.is_none_or(|_| next_at <= now)
        {
            sent += 1;
            let client_id = format!("{tag}-{sent}");
            let body = plan.epoch.elapsed().as_micros().to_string();
            let frame = format!(
                r#"{{"type":"send","conv":{},"client_id":"{client_id}","kind":"text","body":"{body}"}}"#,
                plan.conv
            );
            ws::feed(&mut ws, frame).await?;
            inflight.insert(client_id, Instant::now());
            queued = true;
            if let Some(i) = plan.interval {
                next_at += i;
            }
        }
        if queued {
            ws::flush(&mut ws).await?;
        }
        let finished_sending = now >= plan.stop_at || sent >= plan.max_messages;
        if (finished_sending && inflight.is_empty()) || now >= plan.give_up_at {
            break;
        }
        let wake = match plan.interval {
            Some(_) if !finished_sending && inflight.len() < plan.window => next_at,
            _ => plan.give_up_at,
        };
        tokio::select! {
            frame = ws::next_frame(&mut ws) => match frame? {
                Some(Incoming::Ack { client_id, seq, .. }) => {
                    if let Some(t) = inflight.remove(&client_id) {
                        out.ack_latency.push(t.elapsed());
                        out.acked.push((seq, client_id));
                        out.last_ack = Some(Instant::now());
                    }
                }
                Some(Incoming::Error { code, message, reference }) => {
                    out.errors += 1;
                    out.first_error.get_or_insert(format!("{code}: {message}"));
                    if let Some(r) = reference {
                        inflight.remove(&r);
                    }
                }
                Some(_) => {}
                None => {
                    out.first_error.get_or_insert("the node closed the sender's socket".into());
                    break;
                }
            },
            _ = tokio::time::sleep_until(wake.into()) => {}
        }
    }
    out.unacked = inflight.len() as u64;
    let _ = done.send(Some(out.acked.len() as u64));
    Ok(out)
}

/// What a receiver saw.
#[derive(Debug, Default)]
pub struct Received {
    /// seq -> client_id of every distinct message of the conversation.
    pub got: HashMap<u64, String>,
    /// Messages received a second time (same seq).
    pub duplicates: u64,
    /// Seqs that arrived lower than one already seen (out of order).
    pub out_of_order: u64,
    /// Send-to-receive latencies.
    pub e2e: Latencies,
    /// When the last message came.
    pub last_at: Option<Instant>,
}

/// Reads `conv`'s messages on `ws` until it holds as many as the sender got acks for
/// (or `give_up_at`); confirms `delivered` every `delivered_every` messages (0: never).
pub async fn receiver(
    mut ws: Ws,
    conv: u64,
    epoch: Instant,
    give_up_at: Instant,
    delivered_every: u64,
    mut acks: watch::Receiver<Option<u64>>,
) -> Res<Received> {
    let mut out = Received::default();
    let mut highest = 0u64;
    let mut since_delivered = 0u64;
    let mut sender_gone = false;
    let mut seen: HashSet<u64> = HashSet::new();
    // A receiver may send nothing for minutes at a low rate: ping, as a client would,
    // so the node's heartbeat does not close it.
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    heartbeat.tick().await;
    loop {
        let expected = *acks.borrow();
        if expected.is_some_and(|n| out.got.len() as u64 >= n) {
            break;
        }
        tokio::select! {
            frame = ws::next_frame(&mut ws) => match frame? {
                Some(Incoming::Message { msg }) if msg.conv == conv => {
                    let now = Instant::now();
                    if !seen.insert(msg.seq) {
                        out.duplicates += 1;
                        continue;
                    }
                    if msg.seq < highest {
                        out.out_of_order += 1;
                    }
                    highest = highest.max(msg.seq);
                    if let Ok(sent_us) = msg.body.parse::<u64>() {
                        let at = now.duration_since(epoch).as_micros() as u64;
                        out.e2e.push(Duration::from_micros(at.saturating_sub(sent_us)));
                    }
                    out.got.insert(msg.seq, msg.client_id);
                    out.last_at = Some(now);
                    since_delivered += 1;
                    if delivered_every > 0 && since_delivered >= delivered_every {
                        since_delivered = 0;
                        let frame = format!(r#"{{"type":"delivered","conv":{conv},"seq":{highest}}}"#);
                        ws::send(&mut ws, frame).await?;
                    }
                }
                Some(_) => {}
                None => return Err("the node closed a receiver's socket".into()),
            },
            changed = acks.changed(), if !sender_gone => {
                sender_gone = changed.is_err();
            }
            _ = heartbeat.tick() => {
                ws::send(&mut ws, r#"{"type":"ping","ts":0}"#.to_string()).await?;
            }
            _ = tokio::time::sleep_until(give_up_at.into()) => break,
        }
    }
    Ok(out)
}

/// Lost (acked but never received) and wrong (received with another client_id) counts.
pub fn check(acked: &[(u64, String)], received: &Received) -> (u64, u64) {
    let mut lost = 0;
    let mut wrong = 0;
    for (seq, client_id) in acked {
        match received.got.get(seq) {
            None => lost += 1,
            Some(c) if c != client_id => wrong += 1,
            Some(_) => {}
        }
    }
    (lost, wrong)
}
