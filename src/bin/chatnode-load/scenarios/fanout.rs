//! `fanout`: one sender with a window of unacked messages into a group; every other
//! member is connected and checks every message. Figure: deliveries per second.

use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::report::Report;
use crate::stats::{per_sec, thousands, Latencies};
use crate::traffic::{self, SendPlan};
use crate::users;
use crate::ws::Target;
use crate::Res;

/// What to run.
#[derive(Debug, Clone)]
pub struct FanoutPlan {
    /// Group sizes (members, the sender included).
    pub sizes: Vec<usize>,
    /// Unacked messages of the sender.
    pub window: usize,
    /// Sending time per group.
    pub secs: f64,
    /// Receivers confirm `delivered` every this many messages (0: never).
    pub delivered_every: u64,
}

/// Runs every group size in turn.
pub async fn run(target: &Target, prefix: &str, plan: &FanoutPlan, report: &mut Report) -> Res<()> {
    let max = plan.sizes.iter().copied().max().unwrap_or(0);
    eprintln!("fanout: registering {max} accounts");
    let all = users::register_all(target.addr, users::names(prefix, "g", max), 4).await?;
    for &size in &plan.sizes {
        let members = &all[..size.min(all.len())];
        let Some((owner, others)) = members.split_first() else {
            continue;
        };
        let names: Vec<String> = others.iter().map(|u| u.name.clone()).collect();
        let conv = users::group(target.addr, owner, &format!("load {size}"), &names).await?;
        eprintln!("fanout: group of {size}: connecting");
        let receiver_ws = super::connect_all(target, others).await?;
        let mut sender_ws = super::connect_all(target, std::slice::from_ref(owner)).await?;
        let Some(s_ws) = sender_ws.pop() else {
            continue;
        };
        eprintln!("fanout: group of {size}: sending for {} s", plan.secs);
        let epoch = Instant::now();
        let stop_at = epoch + Duration::from_secs_f64(plan.secs);
        let give_up_at = stop_at + Duration::from_secs(15);
        let (tx, rx) = watch::channel(None);
        let send_plan = SendPlan {
            conv,
            window: plan.window,
            epoch,
            stop_at,
            give_up_at,
            max_messages: u64::MAX,
            interval: None,
            phase: Duration::ZERO,
        };
        let sender = tokio::spawn(traffic::sender(s_ws, format!("f{size}"), send_plan, tx));
        let receivers: Vec<_> = receiver_ws
            .into_iter()
            .map(|ws| {
                tokio::spawn(traffic::receiver(
                    ws,
                    conv,
                    epoch,
                    give_up_at,
                    plan.delivered_every,
                    rx.clone(),
                ))
            })
            .collect();
        drop(rx);
        let sent = sender.await.map_err(|e| format!("sender task: {e}"))??;
        let (mut delivered, mut lost, mut dup, mut ooo, mut wrong) = (0u64, 0u64, 0u64, 0u64, 0u64);
        let mut span = Duration::ZERO;
        let mut e2e = Latencies::default();
        for r in receivers {
            let got = r.await.map_err(|e| format!("receiver task: {e}"))??;
            let (l, w) = traffic::check(&sent.acked, &got);
            delivered += got.got.len() as u64;
            lost += l;
            wrong += w;
            dup += got.duplicates;
            ooo += got.out_of_order;
            if let Some(t) = got.last_at {
                span = span.max(t - epoch);
            }
            e2e.merge(got.e2e);
        }
        let label = format!("group of {size}, window {}", plan.window);
        let target_rate = if size == 50 { ">= 35,000/s" } else { "" };
        report.row(
            format!("{label}: deliveries/s"),
            per_sec(delivered, span),
            target_rate,
        );
        report.row(
            format!("{label}: messages acked"),
            thousands(sent.acked.len() as u64),
            "",
        );
        report.row(
            format!("{label}: end-to-end p50/p99/p999"),
            e2e.summary(),
            "",
        );
        report.row(
            format!("{label}: lost / duplicated / out of order / wrong id"),
            format!("{lost} / {dup} / {ooo} / {wrong}"),
            "0 / 0 / 0 / 0",
        );
        if let Some(e) = sent.first_error {
            report.note(format!("{label}: first error: {e}"));
        }
    }
    Ok(())
}
