#!/usr/bin/env bash
# The search index under the pairs benchmark's peak: the same `bench/run-all.sh pairs`
# run with the index on, off, and on again (so drift shows), while /metrics is sampled
# every 200 ms for the indexer's backlog (durable entries not applied yet: its lag).
#
#   bench/search-lag.sh            # full pairs runs (about 3 minutes)
#   bench/search-lag.sh --smoke    # seconds
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${CHATNODE_BENCH_PORT:-18080}"
export CHATNODE_BENCH_PORT="$PORT"
cargo build --release --bins >&2

sample() {
    local out=$1 max=0 last=0 n=0
    while :; do
        v=$(curl -s --max-time 1 "http://127.0.0.1:$PORT/metrics" 2>/dev/null \
            | awk '/^chatnode_search_backlog /{print $2}') || true
        if [ -n "${v:-}" ]; then
            n=$((n + 1)); last=$v
            [ "$v" -gt "$max" ] && max=$v
            echo "$max $last $n" >"$out"
        fi
        sleep 0.2
    done
}

for mode in true false true; do
    echo "== search.index=$mode" >&2
    tmp=$(mktemp)
    sample "$tmp" &
    sampler=$!
    CHATNODE__SEARCH__INDEX=$mode bench/run-all.sh "$@" pairs 2>/dev/null \
        | grep -E "peak|ceiling|half|acked|p99|msgs/s" | sed "s/^/[index=$mode] /"
    kill "$sampler" 2>/dev/null || true
    read -r max last n <"$tmp" || { max=-; last=-; n=0; }
    echo "[index=$mode] indexer backlog over $n samples: max $max entries, last $last"
    rm -f "$tmp"
done
