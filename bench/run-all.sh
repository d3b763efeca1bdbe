#!/usr/bin/env bash
# Reproduces the figures of docs/benchmarks.md on this machine.
#
#   bench/run-all.sh                 # full runs (a few minutes), every scenario
#   bench/run-all.sh --smoke         # seconds per scenario: proves it all works
#   bench/run-all.sh pairs latency   # only these (ceiling connect pairs latency fanout drain
#                                    # benches soak; soak is 10 minutes and not in the default set)
#
# For each scenario it starts a fresh release node on a temp data dir (same disk as
# the temp dir) with the per-client limits raised, runs `chatnode-load`, and stops the
# node. Loopback only. Tables go to stdout and to target/bench-results/DATE.md.
set -euo pipefail
cd "$(dirname "$0")/.."

SMOKE=0
SCENARIOS=()
for arg in "$@"; do
    case "$arg" in
        --smoke) SMOKE=1 ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) SCENARIOS+=("$arg") ;;
    esac
done
[ ${#SCENARIOS[@]} -gt 0 ] || SCENARIOS=(ceiling connect pairs latency fanout drain benches)

PORT="${CHATNODE_BENCH_PORT:-18080}"
ADDR="127.0.0.1:$PORT"
LOAD=target/release/chatnode-load
NODE=target/release/chatnode
OUT_DIR=target/bench-results
mkdir -p "$OUT_DIR"
SUFFIX=""
[ $SMOKE = 0 ] || SUFFIX="-smoke"
OUT="$OUT_DIR/$(date -u +%Y-%m-%dT%H%M%SZ)$SUFFIX.md"

# Both the node and the tool hold one descriptor per connection.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

if [ $SMOKE = 1 ]; then
    CONNECT=(--counts 200,1000 --per-user 500 --hold-secs 1)
    PAIRS=(--pairs 10 --window 8 --secs 2 --ceiling-secs 1 --half-rate-secs 1 --load-fractions 0.5,0.25)
    LATENCY=(--secs 1)
    FANOUT=(--sizes 20,50 --secs 1)
    DRAIN=(--messages 2000)
    CEILING=(--secs 0.5)
    SOAK=(--minutes 0.25 --pairs 10 --rate 200 --churn 10)
    BENCH_ENV=(CHATNODE_BENCH_MESSAGES=20000)
    BENCH_ARGS=(-- --warm-up-time 0.2 --measurement-time 0.5 --noplot)
else
    CONNECT=(--counts 1000,10000,50000 --per-user 500 --hold-secs 2)
    PAIRS=(--pairs 100 --window 32 --secs 10 --ceiling-secs 5 --half-rate-secs 5 --load-fractions 0.5,0.35,0.25)
    LATENCY=(--secs 5)
    FANOUT=(--sizes 50,500 --secs 5)
    DRAIN=(--messages 10000)
    CEILING=(--secs 3)
    SOAK=(--minutes 10)
    BENCH_ENV=()
    BENCH_ARGS=(-- --noplot)
fi

{
    echo "# chatnode benchmarks, $(date -u '+%Y-%m-%d %H:%M UTC')${SUFFIX:+ (smoke run)}"
    echo
    echo "- machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB"
    echo "- disk of the temp dir: $(df -h "${TMPDIR:-/tmp}" | awk 'NR==2{print $1", "$2}')"
    echo "- load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
} | tee "$OUT"

echo "== cargo build --release --bins" >&2
cargo build --release --bins >&2

NODE_PID=""
DATA=""
start_node() {
    DATA="$(mktemp -d "${TMPDIR:-/tmp}/chatnode-bench-XXXXXX")"
    CHATNODE__SERVER__BIND="$ADDR" \
    CHATNODE__SERVER__DATA_DIR="$DATA" \
    CHATNODE__LIMITS__LOGINS_PER_MIN=1000000 \
    CHATNODE__LIMITS__MESSAGES_PER_SEC=1000000 \
    CHATNODE__LIMITS__MAX_CONNECTIONS_PER_IP=1000000 \
    CHATNODE__LIMITS__MAX_SESSIONS_PER_USER=1000 \
    CHATNODE__LIMITS__MAX_CONNECTIONS=100000 \
    RUST_LOG="${RUST_LOG:-warn}" \
        "$NODE" >"$DATA.log" 2>&1 &
    NODE_PID=$!
    for _ in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then return 0; fi
        kill -0 "$NODE_PID" 2>/dev/null || { cat "$DATA.log" >&2; echo "node did not start" >&2; exit 1; }
        sleep 0.1
    done
    echo "node did not listen on $ADDR within 10 s" >&2
    exit 1
}
stop_node() {
    if [ -n "$NODE_PID" ]; then
        kill -TERM "$NODE_PID" 2>/dev/null || true
        wait "$NODE_PID" 2>/dev/null || true
        NODE_PID=""
    fi
    if [ -n "$DATA" ]; then
        rm -rf "$DATA" "$DATA.log"
        DATA=""
    fi
}
trap stop_node EXIT

with_node() {
    start_node
    "$LOAD" --addr "$ADDR" --node-pid "$NODE_PID" "$@" | tee -a "$OUT"
    stop_node
}

for s in "${SCENARIOS[@]}"; do
    echo "== $s" >&2
    case "$s" in
        ceiling) "$LOAD" ceiling "${CEILING[@]}" | tee -a "$OUT" ;;
        connect) with_node connect "${CONNECT[@]}" ;;
        pairs)   with_node pairs "${PAIRS[@]}" ;;
        latency) with_node latency "${LATENCY[@]}" ;;
        fanout)  with_node fanout "${FANOUT[@]}" ;;
        drain)   with_node drain "${DRAIN[@]}" ;;
        soak)    with_node soak "${SOAK[@]}" ;;
        benches) env "${BENCH_ENV[@]}" cargo bench --bench '*' "${BENCH_ARGS[@]}" 2>&1 \
                     | grep -E '^[a-z_]+/|time:|thrpt:' | grep -v '%' | tee -a "$OUT" ;;
        *) echo "unknown scenario: $s" >&2; exit 2 ;;
    esac
done
echo >&2
echo "results: $OUT" >&2
