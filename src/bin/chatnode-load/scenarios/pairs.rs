//! `pairs` and `latency`: N direct conversations, each with a sender keeping a window
//! of unacked messages and a receiver checking every message by (conv, seq) and
//! client_id. Also the store-only ceiling for the same load, in the same run.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::sync::watch;

use crate::report::Report;
use crate::stats::{per_sec, thousands, Latencies};
use crate::traffic::{self, SendPlan};
use crate::users::{self, User};
use crate::ws::Target;
use crate::{store_ceiling, Res};

/// What to run.
#[derive(Debug, Clone, Copy)]
pub struct PairsPlan {
    /// Number of sender/receiver pairs.
    pub pairs: usize,
    /// Unacked messages per sender.
    pub window: usize,
    /// Sending time.
    pub secs: f64,
    /// Receivers confirm `delivered` every this many messages (0: never).
    pub delivered_every: u64,
    /// Total send rate to pace at (msgs/s), or unpaced.
    pub rate: Option<f64>,
}

/// The outcome of one phase.
pub struct PairsOutcome {
    /// Acked sends.
    pub acked: u64,
    /// Distinct messages received.
    pub received: u64,
    /// Acked but never received.
    pub lost: u64,
    /// Received twice.
    pub duplicates: u64,
    /// Received out of seq order.
    pub out_of_order: u64,
    /// Received under another client_id than acked.
    pub wrong: u64,
    /// Never acked in time.
    pub unacked: u64,
    /// Error frames.
    pub errors: u64,
    /// First error text.
    pub first_error: Option<String>,
    /// From the first send to the last ack.
    pub ack_span: Duration,
    /// From the first send to the last delivery.
    pub delivery_span: Duration,
    /// Send-to-ack.
    pub ack_latency: Latencies,
    /// Send-to-receive.
    pub e2e: Latencies,
}

/// Registers the 2N accounts and their direct conversations.
pub async fn setup(target: &Target, prefix: &str, pairs: usize) -> Res<Vec<(User, User, u64)>> {
    let senders = users::register_all(target.addr, users::names(prefix, "a", pairs), 4).await?;
    let receivers = users::register_all(target.addr, users::names(prefix, "b", pairs), 4).await?;
    let addr = target.addr;
    super::bounded(
        senders.into_iter().zip(receivers).collect(),
        8,
        |(a, b)| async move {
            let conv = users::direct(addr, &a, &b.name).await?;
            Ok((a, b, conv))
        },
    )
    .await
}

/// One phase: connect everyone, send for `plan.secs`, collect and check.
pub async fn phase(
    target: &Target,
    pairs: &[(User, User, u64)],
    plan: PairsPlan,
) -> Res<PairsOutcome> {
    let receivers: Vec<User> = pairs.iter().map(|p| p.1.clone()).collect();
    let senders: Vec<User> = pairs.iter().map(|p| p.0.clone()).collect();
    let receiver_ws = super::connect_all(target, &receivers).await?;
    let sender_ws = super::connect_all(target, &senders).await?;
    let epoch = Instant::now();
    let stop_at = epoch + Duration::from_secs_f64(plan.secs);
    let give_up_at = stop_at + Duration::from_secs(10);
    let interval = plan
        .rate
        .filter(|r| *r > 0.0)
        .map(|r| Duration::from_secs_f64(plan.pairs as f64 / r));
    let mut tasks = Vec::new();
    for (i, ((s_ws, r_ws), (_, _, conv))) in sender_ws
        .into_iter()
        .zip(receiver_ws)
        .zip(pairs)
        .enumerate()
    {
        let (tx, rx) = watch::channel(None);
        let send_plan = SendPlan {
            conv: *conv,
            window: plan.window,
            epoch,
            stop_at,
            give_up_at,
            max_messages: u64::MAX,
            interval,
            phase: interval.map_or(Duration::ZERO, |d| d.mul_f64(i as f64 / plan.pairs as f64)),
        };
        // Unique per phase: a repeated client_id would be answered from the dedupe entry.
        let tag = format!("p{i}-{}", chatnode::store::now_ms());
        let s = tokio::spawn(traffic::sender(s_ws, tag, send_plan, tx));
        let r = tokio::spawn(traffic::receiver(
            r_ws,
            *conv,
            epoch,
            give_up_at,
            plan.delivered_every,
            rx,
        ));
        tasks.push((s, r));
    }
    let mut out = PairsOutcome {
        acked: 0,
        received: 0,
        lost: 0,
        duplicates: 0,
        out_of_order: 0,
        wrong: 0,
        unacked: 0,
        errors: 0,
        first_error: None,
        ack_span: Duration::ZERO,
        delivery_span: Duration::ZERO,
        ack_latency: Latencies::default(),
        e2e: Latencies::default(),
    };
    for (s, r) in tasks {
        let sent = s.await.map_err(|e| format!("sender task: {e}"))??;
        let got = r.await.map_err(|e| format!("receiver task: {e}"))??;
        let (lost, wrong) = traffic::check(&sent.acked, &got);
        out.acked += sent.acked.len() as u64;
        out.received += got.got.len() as u64;
        out.lost += lost;
        out.wrong += wrong;
        out.duplicates += got.duplicates;
        out.out_of_order += got.out_of_order;
        out.unacked += sent.unacked;
        out.errors += sent.errors;
        if out.first_error.is_none() {
            out.first_error = sent.first_error;
        }
        if let Some(t) = sent.last_ack {
            out.ack_span = out.ack_span.max(t - epoch);
        }
        if let Some(t) = got.last_at {
            out.delivery_span = out.delivery_span.max(t - epoch);
        }
        out.ack_latency.merge(sent.ack_latency);
        out.e2e.merge(got.e2e);
    }
    Ok(out)
}

/// Adds a phase's rows to the report.
pub fn rows(report: &mut Report, label: &str, o: &mut PairsOutcome, targets: [&str; 3]) {
    report.row(
        format!("{label}: acked msgs/s (durable)"),
        per_sec(o.acked, o.ack_span),
        targets[0],
    );
    report.row(
        format!("{label}: delivered msgs/s"),
        per_sec(o.received, o.delivery_span),
        "",
    );
    report.row(
        format!("{label}: ack latency p50/p99/p999"),
        o.ack_latency.summary(),
        targets[1],
    );
    report.row(
        format!("{label}: end-to-end p50/p99/p999"),
        o.e2e.summary(),
        targets[2],
    );
    report.row(
        format!("{label}: lost / duplicated / out of order / wrong id"),
        format!(
            "{} / {} / {} / {}",
            o.lost, o.duplicates, o.out_of_order, o.wrong
        ),
        "0 / 0 / 0 / 0",
    );
    report.row(
        format!("{label}: acked / received / unacked / errors"),
        format!(
            "{} / {} / {} / {}",
            thousands(o.acked),
            thousands(o.received),
            o.unacked,
            o.errors
        ),
        "",
    );
    if let Some(e) = &o.first_error {
        report.note(format!("{label}: first error: {e}"));
    }
}

/// The runs after the peak: each paced at a fraction of the peak rate.
#[derive(Debug, Clone, Copy)]
pub struct AfterPeak<'a> {
    /// Seconds of each (0: none).
    pub secs: f64,
    /// Fractions of the peak rate, in run order.
    pub fractions: &'a [f64],
}

/// `pairs`: the store-only ceiling, the peak phase, then the runs `after` it.
pub async fn run(
    target: Arc<Target>,
    prefix: &str,
    plan: PairsPlan,
    ceiling_secs: f64,
    after: AfterPeak<'_>,
    scratch: &std::path::Path,
    report: &mut Report,
) -> Res<()> {
    eprintln!("pairs: registering {} accounts", plan.pairs * 2);
    let pairs = setup(&target, prefix, plan.pairs).await?;
    let ceiling = if ceiling_secs > 0.0 {
        eprintln!("pairs: store-only ceiling for {ceiling_secs} s");
        Some(
            store_ceiling::run(
                scratch,
                plan.pairs,
                plan.window,
                plan.delivered_every,
                ceiling_secs,
            )
            .await?,
        )
    } else {
        None
    };
    eprintln!(
        "pairs: {} pairs, window {}, {} s",
        plan.pairs, plan.window, plan.secs
    );
    let mut peak = phase(&target, &pairs, plan).await?;
    let label = match plan.rate {
        Some(r) => format!(
            "{} pairs, window {}, paced at {r:.0}/s",
            plan.pairs, plan.window
        ),
        None => format!("{} pairs, window {}", plan.pairs, plan.window),
    };
    rows(
        report,
        &label,
        &mut peak,
        [">= 12,000/s (100 pairs, 32)", "", ""],
    );
    let peak_rate = peak.acked as f64 / peak.ack_span.as_secs_f64().max(1e-9);
    if let Some(c) = ceiling {
        report.row(
            "store-only ceiling (same records, group commit + fsync)",
            format!("{}/s", thousands(c.per_sec().round() as u64)),
            "",
        );
        report.row(
            "ratio to store-only ceiling",
            format!("{:.0}%", 100.0 * peak_rate / c.per_sec().max(1e-9)),
            ">= 70%",
        );
    }
    let paced_runs = match after.secs > 0.0 && peak_rate > 0.0 {
        true => after.fractions,
        false => &[],
    };
    for &fraction in paced_runs.iter().filter(|f| **f > 0.0) {
        let rate = peak_rate * fraction;
        let paced = PairsPlan {
            secs: after.secs,
            rate: Some(rate),
            ..plan
        };
        let (label, target_p99) = if (fraction - 0.5).abs() < 1e-9 {
            (format!("half peak ({rate:.0}/s)"), "p99 < 20 ms")
        } else {
            (
                format!("{:.0}% of peak ({rate:.0}/s)", fraction * 100.0),
                "",
            )
        };
        eprintln!("pairs: {label} for {} s", after.secs);
        let mut o = phase(&target, &pairs, paced).await?;
        rows(report, &label, &mut o, ["", "", target_p99]);
    }
    report.note(format!(
        "receivers confirm `delivered` every {} messages; bodies carry the send time",
        plan.delivered_every
    ));
    Ok(())
}

/// `latency`: one pair, one message in flight.
pub async fn latency(target: Arc<Target>, prefix: &str, secs: f64, report: &mut Report) -> Res<()> {
    let pairs = setup(&target, prefix, 1).await?;
    let plan = PairsPlan {
        pairs: 1,
        window: 1,
        secs,
        delivered_every: 0,
        rate: None,
    };
    let mut o = phase(&target, &pairs, plan).await?;
    report.row("one pair, 1 in flight: messages", thousands(o.acked), "");
    report.row("ack p50", fmt_ms(o.ack_latency.quantile(0.5)), "< 1 ms");
    report.row("ack p99", fmt_ms(o.ack_latency.quantile(0.99)), "< 3 ms");
    report.row("ack p999", fmt_ms(o.ack_latency.quantile(0.999)), "");
    report.row("end-to-end p50/p99/p999", o.e2e.summary(), "");
    report.row(
        "lost / duplicated / out of order / wrong id",
        format!(
            "{} / {} / {} / {}",
            o.lost, o.duplicates, o.out_of_order, o.wrong
        ),
        "0 / 0 / 0 / 0",
    );
    Ok(())
}

/// A latency in ms with two decimals.
pub fn fmt_ms(d: Option<Duration>) -> String {
    d.map_or("-".into(), |d| {
        format!("{:.2} ms", d.as_secs_f64() * 1000.0)
    })
}
