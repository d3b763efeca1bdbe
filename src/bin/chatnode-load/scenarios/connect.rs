//! `connect`: idle authenticated connections in steps (1k, 10k, 50k): the connect+auth
//! rate of each step and the node's RSS per idle connection, then a ping on every
//! socket to prove it is still held.

use std::time::{Duration, Instant};

use crate::report::Report;
use crate::stats::{open_files_limit, per_sec, rss_kib, thousands, Latencies};
use crate::users::{self, User};
use crate::ws::{self, Incoming, Target, Ws};
use crate::Res;

/// What to run.
#[derive(Debug, Clone)]
pub struct ConnectPlan {
    /// Connection counts to reach, ascending.
    pub counts: Vec<usize>,
    /// Sockets per account (the node's `limits.max_sessions_per_user` must allow it).
    pub per_user: usize,
    /// Handshakes in flight at once.
    pub concurrency: usize,
    /// How long to hold all sockets before the ping check.
    pub hold_secs: f64,
}

/// Sockets both sides can open: the lower open-files limit, less a margin.
fn fd_budget(node_pid: Option<u32>) -> Option<usize> {
    let own = open_files_limit(None)?;
    let node = node_pid
        .and_then(|p| open_files_limit(Some(p)))
        .unwrap_or(own);
    Some(own.min(node).saturating_sub(256) as usize)
}

/// Runs the steps; rows go to `report`.
pub async fn run(
    target: &Target,
    prefix: &str,
    plan: &ConnectPlan,
    node_pid: Option<u32>,
    report: &mut Report,
) -> Res<()> {
    let mut counts = plan.counts.clone();
    counts.sort_unstable();
    let budget = fd_budget(node_pid).unwrap_or(usize::MAX);
    let (fits, too_many): (Vec<usize>, Vec<usize>) = counts.iter().partition(|c| **c <= budget);
    for c in &too_many {
        report.row(
            format!("{} connections", thousands(*c as u64)),
            "not run",
            "",
        );
        report.note(format!(
            "{} connections: over the open-files limit ({} usable; `ulimit -n` of the node and the tool). \
             Raise it (needs CAP_SYS_RESOURCE for the hard limit) and run again",
            thousands(*c as u64),
            budget
        ));
    }
    let Some(&max) = fits.last() else {
        return Ok(());
    };
    let per_user = plan.per_user.max(1);
    let accounts = max.div_ceil(per_user);
    eprintln!("connect: registering {accounts} accounts ({per_user} sockets each)");
    let started = Instant::now();
    let users = users::register_all(target.addr, users::names(prefix, "c", accounts), 4).await?;
    report.note(format!(
        "{accounts} accounts registered in {:.1} s (argon2); {per_user} sockets per account",
        started.elapsed().as_secs_f64()
    ));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss0 = node_pid.map(rss_kib).transpose()?;
    if let Some(r) = rss0 {
        report.row(
            "node RSS before connecting",
            format!("{} KiB", thousands(r)),
            "",
        );
    }
    let mut sockets: Vec<Ws> = Vec::with_capacity(max);
    for count in fits {
        let need = count - sockets.len();
        let first = sockets.len();
        let tokens: Vec<&User> = (first..count)
            .map(|i| &users[(i / per_user).min(users.len() - 1)])
            .collect();
        eprintln!("connect: opening {need} more sockets (to {count})");
        let started = Instant::now();
        let opened = super::bounded(tokens, plan.concurrency, |u| async move {
            Ok(target.open_authed(&u.token).await)
        })
        .await?;
        let elapsed = started.elapsed();
        let mut latency = Latencies::default();
        let mut failed = 0;
        let mut first_error = None;
        for r in opened {
            match r {
                Ok((ws, took, _)) => {
                    latency.push(took);
                    sockets.push(ws);
                }
                Err(e) => {
                    failed += 1;
                    first_error.get_or_insert(e);
                }
            }
        }
        let label = format!("{} connections", thousands(count as u64));
        report.row(
            format!("{label}: connect+auth rate"),
            per_sec((need - failed) as u64, elapsed),
            ">= 2,000/s",
        );
        report.row(
            format!("{label}: handshake p50/p99/p999"),
            latency.summary(),
            "",
        );
        if failed > 0 {
            report.row(format!("{label}: failed"), failed.to_string(), "0");
            report.note(format!(
                "{label}: first failure: {}",
                first_error.unwrap_or_default()
            ));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        if let (Some(pid), Some(base)) = (node_pid, rss0) {
            let rss = rss_kib(pid)?;
            let per_conn = rss.saturating_sub(base) as f64 / sockets.len().max(1) as f64;
            report.row(
                format!("{label}: node RSS"),
                format!("{} KiB", thousands(rss)),
                "",
            );
            report.row(
                format!("{label}: node RSS per idle connection"),
                format!("{per_conn:.1} KiB"),
                "<= 10 KiB",
            );
        }
    }
    tokio::time::sleep(Duration::from_secs_f64(plan.hold_secs)).await;
    let held = sockets.len();
    let alive = super::bounded(sockets, 256, |ws| async move { Ok(ping(ws).await) }).await?;
    let alive: Vec<Ws> = alive.into_iter().flatten().collect();
    report.row(
        format!("held {} s, answering a ping", plan.hold_secs),
        format!(
            "{} of {}",
            thousands(alive.len() as u64),
            thousands(held as u64)
        ),
        "50,000 held",
    );
    drop(alive);
    if let Some(pid) = node_pid {
        tokio::time::sleep(Duration::from_secs(2)).await;
        report.row(
            "node RSS 2 s after closing all",
            format!("{} KiB", thousands(rss_kib(pid)?)),
            "",
        );
    }
    Ok(())
}

/// The socket back if it answers a ping within 10 s.
async fn ping(mut ws: Ws) -> Option<Ws> {
    ws::send(&mut ws, r#"{"type":"ping","ts":1}"#.into())
        .await
        .ok()?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, ws::next_frame(&mut ws)).await {
            Ok(Ok(Some(Incoming::Pong {}))) => return Some(ws),
            Ok(Ok(Some(_))) => {}
            _ => return None,
        }
    }
}
