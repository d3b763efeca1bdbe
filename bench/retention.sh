#!/usr/bin/env bash
# Retention under load: the same paced pairs run (half the peak, index on) against two
# copies of the 1,000,000-message store of `cargo bench --bench search` (messages 15 min
# to 3 h old), one with messages.retain_secs = 0 and one with 600, so that every one of
# the million expires while the run goes on; then how many messages are left.
#
#   cargo bench --bench search      # builds target/chatnode-bench/search-1000000 once
#   bench/retention.sh [RATE] [SECS] # default 19000 msgs/s for 30 s
set -euo pipefail
cd "$(dirname "$0")/.."
RATE="${1:-19000}"
SECS="${2:-30}"
SRC=target/chatnode-bench/search-1000000
PORT="${CHATNODE_BENCH_PORT:-18082}"
[ -f "$SRC/complete" ] || { echo "run cargo bench --bench search first ($SRC)" >&2; exit 2; }
cargo build --release --bins >&2
echo "- $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD), $(nproc) cores; pairs 100, window 32, paced at $RATE msgs/s for $SECS s"
for retain in 0 600 0 600; do
    DATA="$(mktemp -d "${TMPDIR:-/tmp}/chatnode-retention-XXXXXX")"
    cp -a "$SRC/." "$DATA/"
    rm -f "$DATA/complete"
    sync   # the copy's dirty pages would otherwise be written back during the run
    CHATNODE__SERVER__BIND="127.0.0.1:$PORT" CHATNODE__SERVER__DATA_DIR="$DATA" \
    CHATNODE__MESSAGES__RETAIN_SECS=$retain \
    CHATNODE__LIMITS__LOGINS_PER_MIN=1000000 CHATNODE__LIMITS__MESSAGES_PER_SEC=1000000 \
    CHATNODE__LIMITS__MAX_CONNECTIONS_PER_IP=1000000 CHATNODE__LIMITS__MAX_SESSIONS_PER_USER=1000 \
    RUST_LOG=info target/release/chatnode >"$DATA.log" 2>&1 &
    NODE=$!
    for _ in $(seq 1 200); do curl -s "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
    target/release/chatnode-load --addr "127.0.0.1:$PORT" --node-pid "$NODE" pairs --pairs 100 \
        --window 32 --rate "$RATE" --secs "$SECS" --ceiling-secs 0 --half-rate-secs 0 \
        | grep -E "end-to-end|acked msgs/s|lost" | sed "s/^/[retain=$retain] /"
    kill -TERM $NODE; wait $NODE 2>/dev/null || true
    left=$(CHATNODE__SERVER__DATA_DIR="$DATA" target/release/chatnode check 2>/dev/null \
        | grep -o "[0-9]* messages" | head -1 || true)
    echo "[retain=$retain] after the run: $left stored; $(grep -o 'deleted=[0-9]*' "$DATA.log" | head -1 || true)"
    rm -rf "$DATA" "$DATA.log"
done
