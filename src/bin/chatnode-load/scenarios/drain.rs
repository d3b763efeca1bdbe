//! `drain`: N messages queued for an offline user, then the time from its connect to
//! `sync_done`; then the reconnect sync of 1,000 missed messages (two pages of 500).

use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::report::Report;
use crate::scenarios::pairs::fmt_ms;
use crate::stats::{thousands, Latencies};
use crate::traffic::{self, SendPlan};
use crate::users;
use crate::ws::{self, Incoming, Target, Ws};
use crate::Res;

/// Queues `messages` for an offline user and times the drain and a 1,000-message sync.
pub async fn run(
    target: &Target,
    prefix: &str,
    messages: u64,
    window: usize,
    report: &mut Report,
) -> Res<()> {
    let accounts = users::register_all(target.addr, users::names(prefix, "d", 2), 2).await?;
    let [sender, receiver] = accounts.as_slice() else {
        return Err("two accounts expected".into());
    };
    let conv = users::direct(target.addr, sender, &receiver.name).await?;
    eprintln!("drain: queueing {messages} messages");
    let (s_ws, _, _) = target.open_authed(&sender.token).await?;
    let epoch = Instant::now();
    let plan = SendPlan {
        conv,
        window,
        epoch,
        stop_at: epoch + Duration::from_secs(120),
        give_up_at: epoch + Duration::from_secs(130),
        max_messages: messages,
        interval: None,
        phase: Duration::ZERO,
    };
    let (tx, _rx) = watch::channel(None);
    let sent = traffic::sender(s_ws, "d".into(), plan, tx).await?;
    if sent.acked.len() as u64 != messages {
        return Err(format!(
            "only {} of {messages} queued messages were acked ({:?})",
            sent.acked.len(),
            sent.first_error
        ));
    }
    let mut acked: Vec<(u64, String)> = sent.acked;
    acked.sort_unstable();

    eprintln!("drain: connecting the offline user");
    let started = Instant::now();
    let mut ws = target.open(&receiver.token).await?;
    let mut authed_at = None;
    let mut got: Vec<(u64, String)> = Vec::with_capacity(messages as usize);
    loop {
        match ws::next_frame(&mut ws).await? {
            Some(Incoming::AuthOk {}) => authed_at = Some(Instant::now()),
            Some(Incoming::Message { msg }) if msg.conv == conv => {
                got.push((msg.seq, msg.client_id))
            }
            Some(Incoming::SyncDone {}) => break,
            Some(_) => {}
            None => return Err("closed during the drain".into()),
        }
    }
    let total = started.elapsed();
    let after_auth = authed_at.map(|t| t.elapsed());
    let in_order = got.windows(2).filter(|w| w[1].0 <= w[0].0).count();
    let mut distinct = got.clone();
    distinct.sort_unstable();
    distinct.dedup_by_key(|m| m.0);
    let duplicates = got.len() - distinct.len();
    let lost = acked
        .iter()
        .filter(|a| distinct.binary_search_by_key(&a.0, |m| m.0).is_err())
        .count();
    let wrong = distinct
        .iter()
        .filter(|m| acked.binary_search(m).is_err())
        .count();
    let label = format!("drain of {} queued messages", thousands(messages));
    report.row(
        format!("{label}: connect to sync_done"),
        fmt_ms(Some(total)),
        "< 300 ms (10,000)",
    );
    report.row(
        format!("{label}: auth_ok to sync_done"),
        fmt_ms(after_auth),
        "",
    );
    report.row(
        format!("{label}: lost / duplicated / out of order / wrong id"),
        format!("{lost} / {duplicates} / {in_order} / {wrong}"),
        "0 / 0 / 0 / 0",
    );

    let last = acked.last().map_or(0, |a| a.0);
    if last >= 1000 {
        let mut times = Latencies::default();
        for _ in 0..10 {
            times.push(sync_missed(&mut ws, conv, last - 1000, last).await?);
        }
        report.row(
            "reconnect sync of 1,000 missed (2 x 500), client-observed p50 / p99",
            format!(
                "{} / {}",
                fmt_ms(times.quantile(0.5)),
                fmt_ms(times.quantile(0.99))
            ),
            "< 50 ms node time",
        );
    }
    Ok(())
}

/// Syncs `conv` from `after` to `last` in pages of 500; the time it took.
async fn sync_missed(ws: &mut Ws, conv: u64, mut after: u64, last: u64) -> Res<Duration> {
    let started = Instant::now();
    let mut count = 0;
    while after < last {
        let frame = format!(r#"{{"type":"sync","convs":{{"{conv}":{after}}},"limit":500}}"#);
        ws::send(ws, frame).await?;
        loop {
            match ws::next_frame(ws).await? {
                Some(Incoming::SyncBatch {
                    conv: c, messages, ..
                }) if c == conv => {
                    count += messages.len();
                    after = messages.last().map_or(last, |m| m.seq);
                }
                Some(Incoming::SyncDone {}) => break,
                Some(_) => {}
                None => return Err("closed during a sync".into()),
            }
        }
    }
    if count != 1000 {
        return Err(format!("sync returned {count} messages, not 1000"));
    }
    Ok(started.elapsed())
}
