//! `history fill`: issue 25's store, filled over the protocol as fast as the node takes it.
//!
//! Every active user has one socket. It sends its share of each of its conversations'
//! messages, round robin over them, keeping a window of unacked sends; it reads what
//! the others send and confirms it with `read` (which also moves `delivered`) every few
//! messages per conversation and once more at the end, so the only offline queue that
//! grows is the ghost's. At the end it writes the manifest for `history probe`.

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use rand::{rngs::StdRng, SeedableRng};
use tokio::{sync::watch, task::JoinHandle};

use super::bodies::Bodies;
use super::shape::{self, Account, ConvEntry, Manifest, Planned, ShapePlan};
use crate::report::Report;
use crate::stats::{mib, per_sec, rss_kib, thousands, Latencies, RssSampler};
use crate::users::{self, User};
use crate::ws::{self, Incoming, Target, Ws};
use crate::Res;

/// A receiver pings this often while it only reads (the node's heartbeat is 90 s).
const HEARTBEAT: Duration = Duration::from_secs(20);

/// How long the closing `read`s and their `pong` may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(60);

/// What to fill.
#[derive(Debug, Clone)]
pub struct FillPlan {
    /// The store's shape.
    pub shape: ShapePlan,
    /// Unacked sends per user.
    pub window: usize,
    /// A reader sends `read` after this many new messages of a conversation.
    pub read_every: u64,
    /// Where the manifest goes.
    pub manifest: PathBuf,
    /// Seed of the layout and the bodies.
    pub seed: u64,
    /// Give up after this many seconds of sending.
    pub max_secs: f64,
}

/// Counters every user's task adds to.
struct Shared {
    acked: AtomicU64,
    refused: AtomicU64,
    body_bytes: AtomicU64,
    /// Users whose every send is answered.
    done: AtomicUsize,
    /// Highest acked seq, per conversation index.
    last_seqs: Vec<AtomicU64>,
    /// Acks, per conversation index.
    acked_in: Vec<AtomicU64>,
}

/// One user's part.
struct Work {
    user: usize,
    ws: Ws,
    /// (conversation index, conversation id, messages left to send).
    sends: Vec<(usize, u64, u64)>,
    /// Every conversation of the user: id -> index.
    convs: HashMap<u64, usize>,
    seed: u64,
}

/// What one user's task saw.
#[derive(Default)]
struct Outcome {
    ack_latency: Latencies,
    received: u64,
    reads: u64,
    unanswered: u64,
    first_error: Option<String>,
}

/// Fills the node and writes the manifest; rows go to `report`.
pub async fn run(
    target: &Arc<Target>,
    prefix: &str,
    plan: &FillPlan,
    node_pid: Option<u32>,
    report: &mut Report,
) -> Res<()> {
    let mut rng = StdRng::seed_from_u64(plan.seed);
    let layout = shape::layout(&plan.shape, &mut rng)?;
    let n_users = plan.shape.users;
    eprintln!("history fill: registering {} accounts", n_users + 1);
    let started = Instant::now();
    let mut names = users::names(prefix, "h", n_users);
    names.push(format!("{prefix}ghost"));
    let mut accounts = users::register_all(target.addr, names, 4).await?;
    let ghost = accounts.pop().ok_or("the ghost's account is missing")?;
    let registered = started.elapsed();
    eprintln!("history fill: creating {} conversations", layout.len());
    let convs = create(target, &accounts, &ghost, &layout).await?;

    let mut sends: Vec<Vec<(usize, u64, u64)>> = vec![Vec::new(); n_users];
    let mut member_of: Vec<HashMap<u64, usize>> = vec![HashMap::new(); n_users];
    for (ci, (p, &conv)) in layout.iter().zip(&convs).enumerate() {
        for (&m, &n) in p.members.iter().zip(&p.sends) {
            member_of[m].insert(conv, ci);
            if n > 0 {
                sends[m].push((ci, conv, n));
            }
        }
    }
    eprintln!("history fill: connecting {n_users} users");
    let sockets = crate::scenarios::connect_all(target, &accounts).await?;
    let shared = Arc::new(Shared {
        acked: AtomicU64::new(0),
        refused: AtomicU64::new(0),
        body_bytes: AtomicU64::new(0),
        done: AtomicUsize::new(0),
        last_seqs: layout.iter().map(|_| AtomicU64::new(0)).collect(),
        acked_in: layout.iter().map(|_| AtomicU64::new(0)).collect(),
    });
    let bodies = Arc::new(Bodies::new());
    let (finish_tx, finish_rx) = watch::channel(false);
    let planned = plan.shape.messages;
    eprintln!(
        "history fill: sending {} messages, window {} per user",
        thousands(planned),
        plan.window
    );
    let sampler = node_pid.map(|p| RssSampler::start(p, Duration::from_millis(500)));
    let epoch = Instant::now();
    let tasks: Vec<JoinHandle<Res<Outcome>>> = sockets
        .into_iter()
        .zip(sends)
        .zip(member_of)
        .enumerate()
        .map(|(user, ((ws, sends), convs))| {
            let work = Work {
                user,
                ws,
                sends,
                convs,
                seed: plan.seed ^ (user as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            };
            tokio::spawn(user_task(
                work,
                plan.window,
                plan.read_every,
                shared.clone(),
                bodies.clone(),
                finish_rx.clone(),
            ))
        })
        .collect();
    drop(finish_rx);

    let deadline = epoch + Duration::from_secs_f64(plan.max_secs);
    let mut printed = (epoch, 0u64);
    let mut timed_out = false;
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if shared.done.load(Ordering::Relaxed) >= n_users || tasks.iter().any(|t| t.is_finished()) {
            break;
        }
        if Instant::now() >= deadline {
            timed_out = true;
            break;
        }
        if printed.0.elapsed() >= Duration::from_secs(5) {
            let acked = shared.acked.load(Ordering::Relaxed);
            let rss = node_pid
                .and_then(|p| rss_kib(p).ok())
                .map(|k| format!(", node RSS {}", mib(k)))
                .unwrap_or_default();
            eprintln!(
                "history fill: {} of {} acked ({} in the last 5 s){rss}",
                thousands(acked),
                thousands(planned),
                per_sec(acked - printed.1, printed.0.elapsed())
            );
            printed = (Instant::now(), acked);
        }
    }
    let took = epoch.elapsed();
    let _ = finish_tx.send(true);
    let mut ack_latency = Latencies::default();
    let (mut received, mut reads, mut unanswered) = (0u64, 0u64, 0u64);
    let mut first_error = None;
    for t in tasks {
        match t.await.map_err(|e| format!("user task: {e}"))? {
            Ok(o) => {
                ack_latency.merge(o.ack_latency);
                received += o.received;
                reads += o.reads;
                unanswered += o.unanswered;
                if first_error.is_none() {
                    first_error = o.first_error;
                }
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    let peak = match sampler {
        Some(s) => Some(s.peak_kib().await),
        None => None,
    };

    let acked = shared.acked.load(Ordering::Relaxed);
    let refused = shared.refused.load(Ordering::Relaxed);
    let entries: Vec<ConvEntry> = layout
        .iter()
        .zip(&convs)
        .enumerate()
        .map(|(ci, (p, &conv))| ConvEntry {
            conv,
            group: p.group,
            members: p.members.clone(),
            last_seq: shared.last_seqs[ci].load(Ordering::Relaxed),
            acked: shared.acked_in[ci].load(Ordering::Relaxed),
        })
        .collect();
    let in_groups: u64 = entries.iter().filter(|c| c.group).map(|c| c.acked).sum();
    let biggest = entries.iter().max_by_key(|c| c.acked);
    let manifest = Manifest {
        prefix: prefix.to_string(),
        users: accounts
            .iter()
            .map(|u| Account {
                name: u.name.clone(),
                token: u.token.clone(),
            })
            .collect(),
        ghost: ghost.name.clone(),
        convs: entries.clone(),
        messages: acked,
    };
    manifest.save(&plan.manifest)?;

    let directs = layout.iter().filter(|p| !p.group).count();
    report.row(
        "accounts",
        format!(
            "{n_users} active + 1 who never connects; registered in {:.1} s",
            registered.as_secs_f64()
        ),
        "",
    );
    report.row(
        "conversations",
        format!(
            "{directs} direct, {} groups of {}-{} members (the ghost in every group)",
            layout.len() - directs,
            plan.shape.group_min,
            plan.shape.group_max
        ),
        "",
    );
    report.row(
        "messages acked / planned",
        format!("{} / {}", thousands(acked), thousands(planned)),
        "",
    );
    report.row(
        "fill: time, rate",
        format!(
            "{:.1} s, {}",
            took.as_secs_f64(),
            per_sec(acked, took.max(Duration::from_millis(1)))
        ),
        "",
    );
    report.row("ack latency p50 / p99 / p999", ack_latency.summary(), "");
    report.row(
        "in groups (the ghost's offline queue)",
        format!(
            "{} ({:.1}%)",
            thousands(in_groups),
            100.0 * in_groups as f64 / acked.max(1) as f64
        ),
        "40%",
    );
    if let Some(b) = biggest {
        report.row(
            "biggest conversation",
            format!(
                "conv {} ({}), {} messages, last seq {}",
                b.conv,
                if b.group { "group" } else { "direct" },
                thousands(b.acked),
                thousands(b.last_seq)
            ),
            "",
        );
    }
    report.row(
        "body bytes, mean",
        format!(
            "{:.1} B (half Latin words, half Chinese)",
            shared.body_bytes.load(Ordering::Relaxed) as f64 / planned.max(1) as f64
        ),
        "~80 B",
    );
    report.row(
        "messages pushed to readers / `read` frames sent",
        format!("{} / {}", thousands(received), thousands(reads)),
        "",
    );
    report.row(
        "refused / unanswered sends",
        format!("{refused} / {unanswered}"),
        "0 / 0",
    );
    if let Some(k) = peak {
        report.row("node RSS, peak during the fill", mib(k), "");
    }
    report.note(format!("manifest: {}", plan.manifest.display()));
    if timed_out {
        report.note(format!(
            "stopped after --max-secs {}: not every send was answered",
            plan.max_secs
        ));
    }
    if let Some(e) = &first_error {
        report.note(format!("first error: {e}"));
    }
    if acked != planned {
        report.print("history fill: incomplete");
        return Err(format!(
            "only {acked} of {planned} messages were acked ({})",
            first_error.unwrap_or_else(|| "no error frame".into())
        ));
    }
    Ok(())
}

/// Creates the conversations of `layout` (8 requests at once); their ids, in order.
async fn create(
    target: &Target,
    accounts: &[User],
    ghost: &User,
    layout: &[Planned],
) -> Res<Vec<u64>> {
    let addr = target.addr;
    let jobs: Vec<(usize, &Planned)> = layout.iter().enumerate().collect();
    crate::scenarios::bounded(jobs, 8, |(i, p)| async move {
        let owner = &accounts[p.members[0]];
        if p.group {
            let mut names: Vec<String> = p.members[1..]
                .iter()
                .map(|&m| accounts[m].name.clone())
                .collect();
            names.push(ghost.name.clone());
            users::group(addr, owner, &format!("history {i}"), &names).await
        } else {
            users::direct(addr, owner, &accounts[p.members[1]].name).await
        }
    })
    .await
}

/// One user's socket: sends its share, reads and confirms the others', then a last
/// `read` of every conversation once `finish` says everyone is done.
async fn user_task(
    mut w: Work,
    window: usize,
    read_every: u64,
    shared: Arc<Shared>,
    bodies: Arc<Bodies>,
    mut finish: watch::Receiver<bool>,
) -> Res<Outcome> {
    let mut rng = StdRng::seed_from_u64(w.seed);
    let mut out = Outcome::default();
    let mut inflight: HashMap<String, (usize, Instant)> = HashMap::new();
    let mut remaining: u64 = w.sends.iter().map(|s| s.2).sum();
    let mut next = 0usize;
    let mut n = 0u64;
    // conv -> (highest seq seen, messages since the last `read`)
    let mut seen: HashMap<u64, (u64, u64)> = HashMap::new();
    let mut reported = false;
    let mut pings = 0u32;
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    heartbeat.tick().await;
    loop {
        let mut queued = false;
        while inflight.len() < window && remaining > 0 {
            while w.sends[next].2 == 0 {
                next = (next + 1) % w.sends.len();
            }
            let (ci, conv) = (w.sends[next].0, w.sends[next].1);
            w.sends[next].2 -= 1;
            next = (next + 1) % w.sends.len();
            remaining -= 1;
            n += 1;
            let client_id = format!("h{}-{n}", w.user);
            let body = bodies.body(&mut rng);
            shared
                .body_bytes
                .fetch_add(body.len() as u64, Ordering::Relaxed);
            let frame = serde_json::json!({
                "type": "send", "conv": conv, "client_id": client_id, "kind": "text", "body": body
            });
            ws::feed(&mut w.ws, frame.to_string()).await?;
            inflight.insert(client_id, (ci, Instant::now()));
            queued = true;
        }
        if queued {
            ws::flush(&mut w.ws).await?;
        }
        if !reported && remaining == 0 && inflight.is_empty() {
            reported = true;
            shared.done.fetch_add(1, Ordering::Relaxed);
        }
        tokio::select! {
            frame = ws::next_frame(&mut w.ws) => match frame? {
                Some(Incoming::Ack { client_id, seq }) => {
                    if let Some((ci, at)) = inflight.remove(&client_id) {
                        out.ack_latency.push(at.elapsed());
                        shared.acked.fetch_add(1, Ordering::Relaxed);
                        shared.acked_in[ci].fetch_add(1, Ordering::Relaxed);
                        shared.last_seqs[ci].fetch_max(seq, Ordering::Relaxed);
                    }
                }
                Some(Incoming::Message { msg }) => {
                    out.received += 1;
                    if w.convs.contains_key(&msg.conv) {
                        let e = seen.entry(msg.conv).or_default();
                        e.0 = e.0.max(msg.seq);
                        e.1 += 1;
                        if read_every > 0 && e.1 >= read_every {
                            e.1 = 0;
                            let frame = format!(
                                r#"{{"type":"read","conv":{},"seq":{}}}"#,
                                msg.conv, e.0
                            );
                            ws::send(&mut w.ws, frame).await?;
                            out.reads += 1;
                        }
                    }
                }
                Some(Incoming::Error { code, message, reference }) => {
                    out.first_error.get_or_insert(format!("{code}: {message}"));
                    if let Some(r) = reference {
                        if inflight.remove(&r).is_some() {
                            shared.refused.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                Some(Incoming::Pong {}) => pings = pings.saturating_sub(1),
                Some(_) => {}
                None => return Err(format!("the node closed user {}'s socket", w.user)),
            },
            changed = finish.changed() => {
                if changed.is_err() || *finish.borrow() {
                    break;
                }
            }
            _ = heartbeat.tick() => {
                ws::send(&mut w.ws, r#"{"type":"ping","ts":0}"#.to_string()).await?;
                pings += 1;
            }
        }
    }
    out.unanswered = inflight.len() as u64;
    // everyone reads everything: the last seq of each of the user's conversations
    for (&conv, &ci) in &w.convs {
        let last = shared.last_seqs[ci].load(Ordering::Relaxed);
        if last > 0 {
            ws::feed(
                &mut w.ws,
                format!(r#"{{"type":"read","conv":{conv},"seq":{last}}}"#),
            )
            .await?;
            out.reads += 1;
        }
    }
    // the session hands each `read` on to its conversation before it answers this ping
    ws::feed(&mut w.ws, r#"{"type":"ping","ts":1}"#.to_string()).await?;
    ws::flush(&mut w.ws).await?;
    pings += 1;
    tokio::time::timeout(CLOSE_TIMEOUT, async {
        loop {
            match ws::next_frame(&mut w.ws).await? {
                Some(Incoming::Pong {}) => {
                    pings -= 1;
                    if pings == 0 {
                        return Ok(());
                    }
                }
                Some(_) => {}
                None => return Err(format!("the node closed user {}'s socket", w.user)),
            }
        }
    })
    .await
    .map_err(|_| format!("user {}: no pong after the last reads", w.user))??;
    Ok(out)
}
