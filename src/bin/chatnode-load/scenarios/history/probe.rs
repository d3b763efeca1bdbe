//! `history probe`: against a node filled by `history fill` (its manifest), many clients
//! page history at once, first newest-first (the newest page, then `before` the
//! oldest seq seen), then oldest-first (`after` 0, then after the newest seq seen), one
//! page in flight each; p50/p99 per kind and the node's RSS before, during (peak) and
//! after. Then the biggest conversation is synced from 0 with a small `limit`, page by
//! page, with the node's RSS sampled meanwhile: a far-behind sync must page in bounded
//! memory.

use std::{
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use rand::{rngs::StdRng, seq::SliceRandom, SeedableRng};

use super::shape::Manifest;
use crate::report::Report;
use crate::scenarios::pairs::fmt_ms;
use crate::stats::{mib, mib_delta, per_sec, rss_kib, thousands, Latencies, RssSampler};
use crate::ws::{self, Incoming, Msg, Target, Ws};
use crate::Res;

/// How long one page may take before the probe gives up.
const PAGE_TIMEOUT: Duration = Duration::from_secs(30);

/// How often the node's RSS is sampled while it works.
const SAMPLE_EVERY: Duration = Duration::from_millis(50);

/// What to probe.
#[derive(Debug, Clone)]
pub struct ProbePlan {
    /// The manifest `history fill` wrote.
    pub manifest: PathBuf,
    /// Clients paging at once.
    pub clients: usize,
    /// Seconds of paging per kind.
    pub secs: f64,
    /// Messages per page (the node clamps to 100).
    pub page: u32,
    /// Pages a client reads in one conversation before it picks another.
    pub depth: usize,
    /// The `limit`s of the far-behind syncs, one sync each.
    pub sync_limits: Vec<u32>,
    /// Seed of the clients' picks.
    pub seed: u64,
}

/// Which end a client pages from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Walk {
    NewestFirst,
    OldestFirst,
}

impl Walk {
    fn label(self) -> &'static str {
        match self {
            Walk::NewestFirst => "newest-first",
            Walk::OldestFirst => "oldest-first",
        }
    }
}

/// What the clients of one kind saw.
#[derive(Default)]
struct Paged {
    /// The first page of each walk (the newest, or the oldest, messages).
    first: Latencies,
    /// Every page.
    all: Latencies,
    pages: u64,
    messages: u64,
    /// Pages not where they should be (a gap, the wrong end, out of order).
    wrong: u64,
}

impl Paged {
    fn merge(&mut self, o: Paged) {
        self.first.merge(o.first);
        self.all.merge(o.all);
        self.pages += o.pages;
        self.messages += o.messages;
        self.wrong += o.wrong;
    }
}

/// A client: its socket and the conversations it may read (id, last seq).
struct Client {
    ws: Ws,
    convs: Vec<(u64, u64)>,
}

/// Runs the probe; rows go to `report`.
pub async fn run(
    target: &Arc<Target>,
    plan: &ProbePlan,
    node_pid: Option<u32>,
    report: &mut Report,
) -> Res<()> {
    let pid = node_pid.ok_or("history probe needs --node-pid (it samples the node's RSS)")?;
    let manifest = Manifest::load(&plan.manifest)?;
    if manifest.users.is_empty() {
        return Err("the manifest has no users".into());
    }
    let rss_before = rss_kib(pid)?;
    eprintln!("history probe: connecting {} clients", plan.clients);
    let picks: Vec<usize> = (0..plan.clients)
        .map(|i| i % manifest.users.len())
        .collect();
    let opened = crate::scenarios::bounded(picks, 32, |u| {
        let manifest = &manifest;
        async move {
            let (ws, _, drained) = target.open_authed(&manifest.users[u].token).await?;
            let convs = manifest
                .convs
                .iter()
                .filter(|c| c.members.contains(&u) && c.last_seq > 0)
                .map(|c| (c.conv, c.last_seq))
                .collect();
            Ok((Client { ws, convs }, drained.len() as u64))
        }
    })
    .await?;
    let drained: u64 = opened.iter().map(|o| o.1).sum();
    let mut clients: Vec<Client> = opened.into_iter().map(|o| o.0).collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_connected = rss_kib(pid)?;
    report.row(
        "store",
        format!(
            "{} messages in {} conversations",
            thousands(manifest.messages),
            manifest.convs.len()
        ),
        "",
    );
    report.row(
        "node RSS before the clients / with them connected",
        format!("{} / {}", mib(rss_before), mib(rss_connected)),
        "",
    );
    report.row(
        "offline messages drained on connect (readers read everything)",
        thousands(drained),
        "0",
    );

    let mut p99s = Vec::new();
    let mut peak_all = rss_connected;
    for walk in [Walk::NewestFirst, Walk::OldestFirst] {
        eprintln!(
            "history probe: {} clients paging {} for {} s",
            clients.len(),
            walk.label(),
            plan.secs
        );
        let sampler = RssSampler::start(pid, SAMPLE_EVERY);
        let started = Instant::now();
        let stop_at = started + Duration::from_secs_f64(plan.secs);
        let tasks: Vec<_> = clients
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                let seed = plan.seed ^ ((i as u64 + 1) << 8) ^ walk as u64;
                tokio::spawn(walker(c, walk, plan.page, plan.depth, stop_at, seed))
            })
            .collect();
        clients = Vec::new();
        let mut paged = Paged::default();
        for t in tasks {
            let (c, p) = t.await.map_err(|e| format!("probe client: {e}"))??;
            clients.push(c);
            paged.merge(p);
        }
        let took = started.elapsed();
        let peak = sampler.peak_kib().await;
        peak_all = peak_all.max(peak);
        let label = walk.label();
        report.row(
            format!("{label}: pages read, messages, rate"),
            format!(
                "{} pages of up to {}, {} messages, {}",
                thousands(paged.pages),
                plan.page,
                thousands(paged.messages),
                per_sec(paged.pages, took).replace("/s", " pages/s")
            ),
            "",
        );
        report.row(
            format!("{label}: first page p50 / p99"),
            format!(
                "{} / {}",
                fmt_ms(paged.first.quantile(0.5)),
                fmt_ms(paged.first.quantile(0.99))
            ),
            "",
        );
        let p99 = paged.all.quantile(0.99);
        report.row(
            format!("{label}: every page p50 / p99 / p999"),
            paged.all.summary(),
            if walk == Walk::OldestFirst {
                "p99 within 2x of newest-first"
            } else {
                ""
            },
        );
        report.row(
            format!("{label}: pages not where they belong"),
            thousands(paged.wrong),
            "0",
        );
        report.row(
            format!("{label}: node RSS, peak"),
            format!("{} ({})", mib(peak), mib_delta(peak, rss_before)),
            "+32 MB at most",
        );
        p99s.push(p99);
    }
    let rss_paged = rss_kib(pid)?;
    drop(clients);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_closed = rss_kib(pid)?;
    if let [Some(newest), Some(oldest)] = p99s[..] {
        report.row(
            "oldest-first p99 / newest-first p99",
            format!(
                "{:.2}x",
                oldest.as_secs_f64() / newest.as_secs_f64().max(1e-9)
            ),
            "<= 2x",
        );
    }
    report.row(
        "node RSS: before / peak paging / right after / 2 s after the clients left",
        format!(
            "{} / {} / {} / {}",
            mib(rss_before),
            mib(peak_all),
            mib(rss_paged),
            mib(rss_closed)
        ),
        "",
    );
    report.row(
        format!(
            "{} clients paging: node RSS added (peak - before)",
            plan.clients
        ),
        mib_delta(peak_all, rss_before),
        "<= 32 MB",
    );

    let biggest = manifest
        .convs
        .iter()
        .max_by_key(|c| c.last_seq)
        .ok_or("the manifest has no conversations")?;
    let reader = biggest
        .members
        .first()
        .and_then(|&u| manifest.users.get(u))
        .ok_or("the biggest conversation has no active member")?;
    for &limit in &plan.sync_limits {
        eprintln!(
            "history probe: sync of conv {} from 0, limit {limit}",
            biggest.conv
        );
        let (ws, _, _) = target.open_authed(&reader.token).await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let before = rss_kib(pid)?;
        let sampler = RssSampler::start(pid, SAMPLE_EVERY);
        let mut synced = sync_from_zero(ws, biggest.conv, limit).await?;
        let peak = sampler.peak_kib().await;
        let label = format!(
            "sync from 0 of conv {} ({} entries), limit {limit}",
            biggest.conv,
            thousands(biggest.last_seq)
        );
        report.row(
            format!("{label}: time, rate, pages"),
            format!(
                "{:.2} s, {}, {} pages",
                synced.took.as_secs_f64(),
                per_sec(synced.messages, synced.took).replace("/s", " msgs/s"),
                thousands(synced.pages)
            ),
            "",
        );
        report.row(
            format!("{label}: page p50 / p99"),
            format!(
                "{} / {}",
                fmt_ms(synced.page_latency.quantile(0.5)),
                fmt_ms(synced.page_latency.quantile(0.99))
            ),
            "",
        );
        report.row(
            format!("{label}: messages / gaps"),
            format!("{} / {}", thousands(synced.messages), synced.gaps),
            format!("{} / 0", thousands(biggest.last_seq)),
        );
        report.row(
            format!("{label}: node RSS before / peak"),
            format!(
                "{} / {} ({})",
                mib(before),
                mib(peak),
                mib_delta(peak, before)
            ),
            "bounded",
        );
    }
    Ok(())
}

/// Pages `walk`-wise through the client's conversations until `stop_at`.
async fn walker(
    mut c: Client,
    walk: Walk,
    page: u32,
    depth: usize,
    stop_at: Instant,
    seed: u64,
) -> Res<(Client, Paged)> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = Paged::default();
    while Instant::now() < stop_at {
        let Some(&(conv, last)) = c.convs.choose(&mut rng) else {
            break;
        };
        let mut cursor: Option<u64> = None;
        for level in 0..depth.max(1) {
            if Instant::now() >= stop_at {
                break;
            }
            let frame = match (walk, cursor) {
                (Walk::NewestFirst, None) => {
                    format!(r#"{{"type":"history","conv":{conv},"limit":{page}}}"#)
                }
                (Walk::NewestFirst, Some(b)) => {
                    format!(r#"{{"type":"history","conv":{conv},"before":{b},"limit":{page}}}"#)
                }
                (Walk::OldestFirst, a) => format!(
                    r#"{{"type":"history","conv":{conv},"after":{},"limit":{page}}}"#,
                    a.unwrap_or(0)
                ),
            };
            let started = Instant::now();
            ws::send(&mut c.ws, frame).await?;
            let (messages, has_more) = tokio::time::timeout(PAGE_TIMEOUT, page_of(&mut c.ws, conv))
                .await
                .map_err(|_| format!("no history page of conv {conv} in {PAGE_TIMEOUT:?}"))??;
            let took = started.elapsed();
            if level == 0 {
                out.first.push(took);
            }
            out.all.push(took);
            out.pages += 1;
            out.messages += messages.len() as u64;
            if !in_place(&messages, walk, cursor, last) {
                out.wrong += 1;
            }
            cursor = match walk {
                Walk::NewestFirst => messages.first().map(|m| m.seq),
                Walk::OldestFirst => messages.last().map(|m| m.seq),
            };
            if !has_more || messages.is_empty() {
                break;
            }
        }
    }
    Ok((c, out))
}

/// Reads frames until the `history` answer for `conv`.
async fn page_of(ws: &mut Ws, conv: u64) -> Res<(Vec<Msg>, bool)> {
    loop {
        match ws::next_frame(ws).await? {
            Some(Incoming::History {
                conv: c,
                messages,
                has_more,
            }) if c == conv => return Ok((messages, has_more)),
            Some(Incoming::Error { code, message, .. }) => {
                return Err(format!("history of conv {conv}: {code}: {message}"))
            }
            Some(_) => {}
            None => return Err("the node closed a probe client's socket".into()),
        }
    }
}

/// Whether a page is ascending without gaps and starts (or ends) where it should: the
/// fill stored no events, so seqs are contiguous.
fn in_place(messages: &[Msg], walk: Walk, cursor: Option<u64>, last: u64) -> bool {
    let contiguous = messages.windows(2).all(|w| w[1].seq == w[0].seq + 1);
    let (Some(first), Some(newest)) = (messages.first(), messages.last()) else {
        return false;
    };
    contiguous
        && match (walk, cursor) {
            (Walk::NewestFirst, None) => newest.seq == last,
            (Walk::NewestFirst, Some(b)) => newest.seq + 1 == b,
            (Walk::OldestFirst, a) => first.seq == a.unwrap_or(0) + 1,
        }
}

/// What a sync from 0 saw.
struct Synced {
    took: Duration,
    pages: u64,
    messages: u64,
    gaps: u64,
    page_latency: Latencies,
}

/// Syncs `conv` from 0 in pages of `limit`, each after the last seq of the one before,
/// until `has_more` is false.
async fn sync_from_zero(mut ws: Ws, conv: u64, limit: u32) -> Res<Synced> {
    let started = Instant::now();
    let mut after = 0u64;
    let mut out = Synced {
        took: Duration::ZERO,
        pages: 0,
        messages: 0,
        gaps: 0,
        page_latency: Latencies::default(),
    };
    loop {
        let frame = format!(r#"{{"type":"sync","convs":{{"{conv}":{after}}},"limit":{limit}}}"#);
        let sent = Instant::now();
        ws::send(&mut ws, frame).await?;
        let has_more = tokio::time::timeout(PAGE_TIMEOUT, async {
            let mut more = false;
            loop {
                match ws::next_frame(&mut ws).await? {
                    Some(Incoming::SyncBatch {
                        conv: c,
                        messages,
                        has_more,
                    }) if c == conv => {
                        for m in &messages {
                            if after > 0 && m.seq != after + 1 {
                                out.gaps += 1;
                            }
                            after = m.seq;
                        }
                        out.messages += messages.len() as u64;
                        more = has_more && !messages.is_empty();
                    }
                    Some(Incoming::SyncDone {}) => return Ok(more),
                    Some(Incoming::Error { code, message, .. }) => {
                        return Err(format!("sync of conv {conv}: {code}: {message}"))
                    }
                    Some(_) => {}
                    None => return Err("the node closed the syncing socket".to_string()),
                }
            }
        })
        .await
        .map_err(|_| format!("no sync_batch of conv {conv} in {PAGE_TIMEOUT:?}"))??;
        out.page_latency.push(sent.elapsed());
        out.pages += 1;
        if !has_more {
            break;
        }
    }
    out.took = started.elapsed();
    Ok(out)
}
