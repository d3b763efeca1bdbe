//! `chatnode-load`: drives a running chatnode over real sockets (HTTP + WebSocket, the
//! real protocol) and prints one table per run: connect+auth rate and RSS per idle
//! connection, durable 1:1 throughput with ack and end-to-end latency, group fan-out,
//! the offline drain, the ceilings (raw fsync, raw sled group commit, store-only), and a
//! big store's history (filled over the protocol, then paged and synced).
//!
//! Every scenario is bounded in count and time and refuses non-loopback addresses.
//! `bench/run-all.sh` starts a node with the settings below and runs them all.

mod ceiling;
mod http;
mod report;
mod scenarios;
mod stats;
mod store_ceiling;
mod traffic;
mod users;
mod ws;

use std::{net::SocketAddr, path::PathBuf, sync::Arc};

use clap::{Args, Parser, Subcommand};

use report::Report;
use scenarios::history::{fill::FillPlan, probe::ProbePlan, shape::ShapePlan};
use scenarios::{connect::ConnectPlan, fanout::FanoutPlan, pairs::PairsPlan};

/// Errors of the tool: a message for the operator.
pub type Res<T> = Result<T, String>;

const NODE_ENV: &str = "\
The node under test needs its per-client limits raised, e.g.:
  CHATNODE__LIMITS__LOGINS_PER_MIN=1000000        (the tool registers its accounts)
  CHATNODE__LIMITS__MESSAGES_PER_SEC=1000000      (senders go far past 50/s)
  CHATNODE__LIMITS__MAX_CONNECTIONS_PER_IP=1000000
  CHATNODE__LIMITS__MAX_SESSIONS_PER_USER=1000    (connect: --per-user sockets per account)
  CHATNODE__LIMITS__MAX_CONNECTIONS=100000
and `ulimit -n` above the connection count for both processes.
bench/run-all.sh starts a release node on a temp data dir with exactly this.";

/// Load generator for a chatnode on this machine.
#[derive(Parser)]
#[command(version, about, after_help = NODE_ENV)]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Args)]
struct Common {
    /// The node's address (loopback only).
    #[arg(long, global = true, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// The node's process id, to read its RSS from /proc.
    #[arg(long, global = true)]
    node_pid: Option<u32>,
    /// Client sockets are spread over 127.0.0.1 ..= 127.0.0.N.
    #[arg(long, global = true, default_value_t = 8)]
    sources: u8,
    /// Where ceilings write their scratch stores (default: the temp dir).
    #[arg(long, global = true)]
    scratch: Option<PathBuf>,
    /// Tool worker threads (default: one per core).
    #[arg(long, global = true)]
    threads: Option<usize>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Idle authenticated connections in steps: connect+auth rate, node RSS per connection.
    Connect {
        /// Connection counts to reach, in steps.
        #[arg(long, value_delimiter = ',', default_value = "1000,10000,50000")]
        counts: Vec<usize>,
        /// Sockets per account (high by default: every registration costs the node
        /// ~19 MiB of RSS today, see docs/benchmarks.md).
        #[arg(long, default_value_t = 500)]
        per_user: usize,
        /// Handshakes in flight.
        #[arg(long, default_value_t = 128)]
        concurrency: usize,
        /// Seconds to hold everything before the ping check.
        #[arg(long, default_value_t = 2.0)]
        hold_secs: f64,
    },
    /// N pairs, a window of unacked messages per sender: durable msgs/s, latencies, loss.
    Pairs {
        /// Sender/receiver pairs.
        #[arg(long, default_value_t = 100)]
        pairs: usize,
        /// Unacked messages per sender.
        #[arg(long, default_value_t = 32)]
        window: usize,
        /// Seconds of sending.
        #[arg(long, default_value_t = 10.0)]
        secs: f64,
        /// Receivers send `delivered` every this many messages (0: never).
        #[arg(long, default_value_t = 100)]
        delivered_every: u64,
        /// Seconds of the store-only ceiling run (0: skip).
        #[arg(long, default_value_t = 5.0)]
        ceiling_secs: f64,
        /// Seconds of each paced run after the peak (0: skip them).
        #[arg(long, default_value_t = 5.0)]
        half_rate_secs: f64,
        /// Fractions of the peak rate the runs after the peak are paced at, in this
        /// order: 0.5 is the "half the peak"; 0.5,0.35,0.25 also shows the
        /// latency against load (half the peak still runs right after the peak).
        #[arg(long, value_delimiter = ',', default_value = "0.5")]
        load_fractions: Vec<f64>,
        /// Pace the main run at this total rate (msgs/s) instead of as fast as the
        /// windows allow: latency at a chosen load.
        #[arg(long)]
        rate: Option<f64>,
    },
    /// One sender into groups: deliveries/s.
    Fanout {
        /// Group sizes.
        #[arg(long, value_delimiter = ',', default_value = "50,500")]
        sizes: Vec<usize>,
        /// Unacked messages of the sender.
        #[arg(long, default_value_t = 16)]
        window: usize,
        /// Seconds of sending per group.
        #[arg(long, default_value_t = 5.0)]
        secs: f64,
        /// Receivers send `delivered` every this many messages (0: never).
        #[arg(long, default_value_t = 100)]
        delivered_every: u64,
    },
    /// Messages queued for an offline user, then connect to `sync_done`; a 1,000 sync.
    Drain {
        /// Messages to queue.
        #[arg(long, default_value_t = 10_000)]
        messages: u64,
        /// Unacked messages while queueing.
        #[arg(long, default_value_t = 64)]
        window: usize,
    },
    /// One pair, one message in flight: ack and end-to-end latency.
    Latency {
        /// Seconds of sending.
        #[arg(long, default_value_t = 5.0)]
        secs: f64,
    },
    /// Minutes of steady chat with sockets coming and going: node RSS each minute.
    Soak {
        /// How long.
        #[arg(long, default_value_t = 10.0)]
        minutes: f64,
        /// Chatting pairs.
        #[arg(long, default_value_t = 50)]
        pairs: usize,
        /// Their total send rate, msgs/s.
        #[arg(long, default_value_t = 1000.0)]
        rate: f64,
        /// Sockets opened (and dropped a second later) per second.
        #[arg(long, default_value_t = 50)]
        churn: usize,
    },
    /// Issue 25's big store: `history fill` fills a node over the protocol, `history
    /// probe` pages its history and syncs its biggest conversation (bench/history.sh).
    History {
        #[command(subcommand)]
        step: HistoryCmd,
    },
    /// No node: the disk's raw fsync rate and raw sled group commit.
    Ceiling {
        /// Seconds per measurement.
        #[arg(long, default_value_t = 3.0)]
        secs: f64,
        /// Writer thread counts for the group commit.
        #[arg(long, value_delimiter = ',', default_value = "1,16")]
        writers: Vec<usize>,
    },
}

#[derive(Subcommand)]
enum HistoryCmd {
    /// Fill a fresh node: direct chats and groups (one member of every group never
    /// connects), ~80-byte Latin and Chinese bodies, as fast as the node acks; everyone
    /// else reads everything. Writes the manifest `probe` reads.
    Fill {
        /// Messages to send in all.
        #[arg(long, default_value_t = 1_000_000)]
        messages: u64,
        /// Active accounts (the ghost comes on top).
        #[arg(long, default_value_t = 100)]
        users: usize,
        /// Direct conversations.
        #[arg(long, default_value_t = 600)]
        directs: usize,
        /// Group conversations.
        #[arg(long, default_value_t = 400)]
        groups: usize,
        /// Fewest members of a group, the ghost included.
        #[arg(long, default_value_t = 4)]
        group_min: usize,
        /// Most members of a group, the ghost included.
        #[arg(long, default_value_t = 9)]
        group_max: usize,
        /// Share of the messages sent in groups: the ghost's offline queue.
        #[arg(long, default_value_t = 0.4)]
        group_share: f64,
        /// Unacked sends per user.
        #[arg(long, default_value_t = 16)]
        window: usize,
        /// Readers send `read` after this many new messages of a conversation.
        #[arg(long, default_value_t = 50)]
        read_every: u64,
        /// Where to write the manifest (accounts, tokens, conversations).
        #[arg(long, default_value = "history-manifest.json")]
        manifest: PathBuf,
        /// Seed of the layout and the bodies.
        #[arg(long, default_value_t = 25)]
        seed: u64,
        /// Give up after this many seconds of sending.
        #[arg(long, default_value_t = 3600.0)]
        max_secs: f64,
    },
    /// Against a filled node (needs --node-pid): clients paging history newest-first,
    /// then oldest-first, p50/p99 and node RSS; then syncs of the biggest conversation
    /// from 0 with small limits, node RSS meanwhile.
    Probe {
        /// The manifest `history fill` wrote.
        #[arg(long, default_value = "history-manifest.json")]
        manifest: PathBuf,
        /// Clients paging at once.
        #[arg(long, default_value_t = 100)]
        clients: usize,
        /// Seconds of paging per kind.
        #[arg(long, default_value_t = 10.0)]
        secs: f64,
        /// Messages per page (the node clamps to 100).
        #[arg(long, default_value_t = 50)]
        page: u32,
        /// Pages a client reads in one conversation before it picks another.
        #[arg(long, default_value_t = 10)]
        depth: usize,
        /// `limit` of each far-behind sync (one sync per value).
        #[arg(long, value_delimiter = ',', default_value = "50,500")]
        sync_limits: Vec<u32>,
        /// Seed of the clients' picks.
        #[arg(long, default_value_t = 25)]
        seed: u64,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if let Some(n) = cli.common.threads {
        builder.worker_threads(n.max(1));
    }
    let outcome = builder
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))
        .and_then(|rt| rt.block_on(run(cli)));
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chatnode-load: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Res<()> {
    let common = cli.common;
    let scratch = common.scratch.clone().unwrap_or_else(std::env::temp_dir);
    let target = Arc::new(ws::Target::new(common.addr, common.sources)?);
    let prefix = run_prefix();
    let mut report = Report::default();
    let title = match cli.cmd {
        Cmd::Connect {
            counts,
            per_user,
            concurrency,
            hold_secs,
        } => {
            let plan = ConnectPlan {
                counts,
                per_user,
                concurrency,
                hold_secs,
            };
            scenarios::connect::run(&target, &prefix, &plan, common.node_pid, &mut report).await?;
            "connect: idle authenticated connections"
        }
        Cmd::Pairs {
            pairs,
            window,
            secs,
            delivered_every,
            ceiling_secs,
            half_rate_secs,
            load_fractions,
            rate,
        } => {
            let plan = PairsPlan {
                pairs,
                window,
                secs,
                delivered_every,
                rate,
            };
            scenarios::pairs::run(
                target,
                &prefix,
                plan,
                ceiling_secs,
                scenarios::pairs::AfterPeak {
                    secs: half_rate_secs,
                    fractions: &load_fractions,
                },
                &scratch,
                &mut report,
            )
            .await?;
            "pairs: durable 1:1 throughput"
        }
        Cmd::Fanout {
            sizes,
            window,
            secs,
            delivered_every,
        } => {
            let plan = FanoutPlan {
                sizes,
                window,
                secs,
                delivered_every,
            };
            scenarios::fanout::run(&target, &prefix, &plan, &mut report).await?;
            "fanout: group deliveries"
        }
        Cmd::Drain { messages, window } => {
            scenarios::drain::run(&target, &prefix, messages, window, &mut report).await?;
            "drain: offline queue and reconnect sync"
        }
        Cmd::Soak {
            minutes,
            pairs,
            rate,
            churn,
        } => {
            let plan = scenarios::soak::SoakPlan {
                minutes,
                pairs,
                rate,
                churn,
            };
            scenarios::soak::run(&target, &prefix, plan, common.node_pid, &mut report).await?;
            "soak: steady chat, sockets coming and going"
        }
        Cmd::Latency { secs } => {
            scenarios::pairs::latency(target, &prefix, secs, &mut report).await?;
            "latency: one pair, one message in flight"
        }
        Cmd::History {
            step:
                HistoryCmd::Fill {
                    messages,
                    users,
                    directs,
                    groups,
                    group_min,
                    group_max,
                    group_share,
                    window,
                    read_every,
                    manifest,
                    seed,
                    max_secs,
                },
        } => {
            let plan = FillPlan {
                shape: ShapePlan {
                    messages,
                    users,
                    directs,
                    groups,
                    group_min,
                    group_max,
                    group_share,
                },
                window,
                read_every,
                manifest,
                seed,
                max_secs,
            };
            scenarios::history::fill::run(&target, &prefix, &plan, common.node_pid, &mut report)
                .await?;
            "history fill: a big store over the protocol"
        }
        Cmd::History {
            step:
                HistoryCmd::Probe {
                    manifest,
                    clients,
                    secs,
                    page,
                    depth,
                    sync_limits,
                    seed,
                },
        } => {
            let plan = ProbePlan {
                manifest,
                clients,
                secs,
                page,
                depth,
                sync_limits,
                seed,
            };
            scenarios::history::probe::run(&target, &plan, common.node_pid, &mut report).await?;
            "history probe: paging and a far-behind sync"
        }
        Cmd::Ceiling { secs, writers } => {
            scenarios::ceilings::run(&scratch, secs, &writers, &mut report).await?;
            "ceilings: disk and sled, no node"
        }
    };
    if let Some(pid) = common.node_pid {
        if let Ok(rss) = stats::rss_kib(pid) {
            report.note(format!(
                "node RSS at the end: {} KiB",
                stats::thousands(rss)
            ));
        }
    }
    report.print(title);
    Ok(())
}

/// A short prefix that keeps this run's account names apart from earlier runs'.
fn run_prefix() -> String {
    let ms = chatnode::store::now_ms();
    format!("l{:x}", ms % 0xff_ffff)
}
