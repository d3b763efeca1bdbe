//! `soak`: minutes of steady chat while sockets keep coming and going; the node's RSS,
//! sampled every minute, must stay flat (not grow with messages stored or sessions
//! seen), and nothing may be lost or doubled.

use std::time::{Duration, Instant};

use crate::report::Report;
use crate::scenarios::pairs::{self, PairsPlan};
use crate::stats::{rss_kib, thousands};
use crate::users;
use crate::ws::Target;
use crate::Res;

/// What to run.
#[derive(Debug, Clone, Copy)]
pub struct SoakPlan {
    /// How long.
    pub minutes: f64,
    /// Chatting pairs.
    pub pairs: usize,
    /// Their total send rate, msgs/s.
    pub rate: f64,
    /// Sockets opened (and dropped a second later) per second.
    pub churn: usize,
}

/// Accounts the churning sockets log in as.
const CHURN_ACCOUNTS: usize = 10;

/// Runs the soak and adds its rows.
pub async fn run(
    target: &Target,
    prefix: &str,
    plan: SoakPlan,
    node_pid: Option<u32>,
    report: &mut Report,
) -> Res<()> {
    let pid = node_pid.ok_or("soak needs --node-pid to sample the node's RSS")?;
    eprintln!(
        "soak: registering {} accounts",
        plan.pairs * 2 + CHURN_ACCOUNTS
    );
    let chatters = pairs::setup(target, prefix, plan.pairs).await?;
    let churners =
        users::register_all(target.addr, users::names(prefix, "c", CHURN_ACCOUNTS), 4).await?;
    let secs = plan.minutes * 60.0;
    let stop_at = Instant::now() + Duration::from_secs_f64(secs);
    eprintln!(
        "soak: {} min, {} pairs at {} msgs/s, {} sockets/s coming and going",
        plan.minutes, plan.pairs, plan.rate, plan.churn
    );
    let chat = pairs::phase(
        target,
        &chatters,
        PairsPlan {
            pairs: plan.pairs,
            window: 32,
            secs,
            delivered_every: 100,
            rate: Some(plan.rate),
        },
    );
    let churn = async {
        let mut opened = 0u64;
        let mut turn = 0usize;
        while Instant::now() < stop_at {
            let batch: Vec<_> = (0..plan.churn)
                .map(|i| churners[(turn + i) % churners.len()].clone())
                .collect();
            turn += plan.churn;
            let sockets = super::connect_all(target, &batch).await?;
            opened += sockets.len() as u64;
            tokio::time::sleep(Duration::from_secs(1)).await;
            drop(sockets);
        }
        Res::Ok(opened)
    };
    let sample = async {
        let mut samples = Vec::new();
        let start = Instant::now();
        while Instant::now() < stop_at {
            tokio::time::sleep(Duration::from_secs(60).min(stop_at - Instant::now())).await;
            samples.push((start.elapsed(), rss_kib(pid)?));
        }
        Res::Ok(samples)
    };
    let (chat, churned, samples) = tokio::join!(chat, churn, sample);
    let (mut chat, churned, samples) = (chat?, churned?, samples?);
    pairs::rows(report, "soak chat", &mut chat, ["", "", ""]);
    report.row("sockets opened and dropped", thousands(churned), "");
    for (at, rss) in &samples {
        report.row(
            format!("node RSS after {:.0} s", at.as_secs_f64()),
            format!("{} KiB", thousands(*rss)),
            "flat",
        );
    }
    if let (Some(first), Some(last)) = (samples.first(), samples.last()) {
        let growth = last.1 as f64 - first.1 as f64;
        report.row(
            "RSS change from the first sample to the last",
            format!("{:+.1} MiB", growth / 1024.0),
            "~0",
        );
    }
    Ok(())
}
