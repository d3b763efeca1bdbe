#!/usr/bin/env bash
# Issue 25's figures on this machine: a store filled over the protocol with N messages
# (default 1,000,000), then what it costs on disk and in memory, how fast the node
# starts, pages history, backs up and checks.
#
#   bench/history.sh                  # 1,000,000 messages
#   bench/history.sh 3000000          # another size
#   bench/history.sh --smoke          # 20,000 messages, short probe: proves it all works
#
# Builds nothing: runs $NODE and $LOAD (default target/release/chatnode and
# target/release/chatnode-load, under $CARGO_TARGET_DIR when set). Steps: idle RSS of a
# node on an empty store; a fresh node (limits raised as in bench/run-all.sh, automatic
# backups off, storage.dedupe_window_secs=60) filled by `chatnode-load history fill`;
# wait until /metrics shows compaction backlog 0 after a completed pass and 60 s passed
# (dedupe pruning); du of data_dir; restart, time to /healthz, idle RSS after 10 s;
# `chatnode-load history probe`; `chatnode backup` and `chatnode check` against the
# running node (its RSS sampled); stop; `chatnode check` on the stopped store under
# /usr/bin/time -v. A markdown block of results goes to stdout and to
# $TARGET_DIR/bench-results/history-DATE-N.md.
#
# Env: NODE, LOAD, CHATNODE_BENCH_PORT (18090), MIN_FREE_GB (4: the fill stops if less
# would remain on the temp dir's disk), COMPACTION_TIMEOUT_SECS (1800), KEEP=1 keeps the
# temp dir (data dir, manifest, logs).
set -euo pipefail
cd "$(dirname "$0")/.."

MESSAGES=1000000
SMOKE=0
for arg in "$@"; do
    case "$arg" in
        --smoke) SMOKE=1; MESSAGES=20000 ;;
        -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
        *[!0-9]*|'') echo "usage: bench/history.sh [--smoke] [MESSAGES]" >&2; exit 2 ;;
        *) MESSAGES="$arg" ;;
    esac
done

TARGET_DIR="${CARGO_TARGET_DIR:-target}"
NODE="${NODE:-$TARGET_DIR/release/chatnode}"
LOAD="${LOAD:-$TARGET_DIR/release/chatnode-load}"
for bin in "$NODE" "$LOAD"; do
    [ -x "$bin" ] || { echo "no executable $bin (build with cargo build --release --bins, or set NODE / LOAD)" >&2; exit 2; }
done
PORT="${CHATNODE_BENCH_PORT:-18090}"
ADDR="127.0.0.1:$PORT"
MIN_FREE_GB="${MIN_FREE_GB:-4}"
COMPACTION_TIMEOUT_SECS="${COMPACTION_TIMEOUT_SECS:-1800}"
DEDUPE_WINDOW=60
if [ $SMOKE = 1 ]; then
    PROBE=(--clients 20 --secs 2 --sync-limits 50)
else
    PROBE=(--clients 100 --secs 10 --sync-limits 50,500)
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/chatnode-history-XXXXXX")"
DATA="$WORK/data"
MANIFEST="$WORK/manifest.json"
OUT_DIR="$TARGET_DIR/bench-results"
mkdir -p "$OUT_DIR"
OUT="$OUT_DIR/history-$(date -u +%Y-%m-%dT%H%M%SZ)-$MESSAGES.md"
RESULTS="$WORK/results.md"
: >"$RESULTS"

# Both the node and the tool hold one descriptor per connection.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

load_avg() { cut -d' ' -f1-3 /proc/loadavg; }
log() { echo "[$(date -u +%H:%M:%S) load $(load_avg)] $*" >&2; }
row() { printf '| %s | %s | %s | %s |\n' "$1" "$2" "$3" "$(load_avg)" >>"$RESULTS"; }
status_kib() { awk -v k="$2:" '$1==k{print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
mib() { awk -v k="$1" 'BEGIN{printf "%.1f MiB", k/1024}'; }
rss_line() { # PID -> "N MiB (anon A, file F)"
    echo "$(mib "$(status_kib "$1" VmRSS)") (anon $(mib "$(status_kib "$1" RssAnon)"), file $(mib "$(status_kib "$1" RssFile)"))"
}
free_kib() { df -Pk "$WORK" | awk 'NR==2{print $4}'; }
now_ms() { date +%s%3N; }
metric() { curl -fsS "http://$ADDR/metrics" 2>/dev/null | awk -v n="$1" '$1==n{print $2; exit}'; }

NODE_PID=""
node_env() { # DIR CMD...: runs CMD in place of this (sub)shell, with the node's settings
    exec env CHATNODE__SERVER__BIND="$ADDR" \
        CHATNODE__SERVER__DATA_DIR="$1" \
        CHATNODE__LIMITS__LOGINS_PER_MIN=1000000 \
        CHATNODE__LIMITS__MESSAGES_PER_SEC=1000000 \
        CHATNODE__LIMITS__MAX_CONNECTIONS_PER_IP=1000000 \
        CHATNODE__LIMITS__MAX_SESSIONS_PER_USER=1000 \
        CHATNODE__LIMITS__MAX_CONNECTIONS=100000 \
        CHATNODE__STORAGE__DEDUPE_WINDOW_SECS=$DEDUPE_WINDOW \
        CHATNODE__BACKUP__EVERY_SECS=0 \
        RUST_LOG="${RUST_LOG:-warn}" \
        "${@:2}"
}
# start_node DIR LOG: starts the node, waits for /healthz; STARTUP_MS is the time from
# the exec to the first 200.
start_node() {
    local t0
    if curl -fsS -o /dev/null "http://$ADDR/healthz" 2>/dev/null; then
        echo "something already answers on $ADDR (set CHATNODE_BENCH_PORT)" >&2; exit 1
    fi
    t0=$(now_ms)
    node_env "$1" "$NODE" >>"$2" 2>&1 &
    NODE_PID=$!
    while ! curl -fsS -o /dev/null "http://$ADDR/healthz" 2>/dev/null; do
        kill -0 "$NODE_PID" 2>/dev/null || { tail -20 "$2" >&2; echo "node did not start" >&2; exit 1; }
        [ $(( $(now_ms) - t0 )) -lt 600000 ] || { echo "no /healthz within 600 s" >&2; exit 1; }
        sleep 0.02
    done
    STARTUP_MS=$(( $(now_ms) - t0 ))
}
stop_node() {
    if [ -n "$NODE_PID" ]; then
        kill -TERM "$NODE_PID" 2>/dev/null || true
        wait "$NODE_PID" 2>/dev/null || true
        NODE_PID=""
    fi
}
cleanup() {
    stop_node
    if [ "${KEEP:-0}" = 1 ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# peak_rss PID WATCHED_PID FILE: samples PID's VmRSS every 50 ms while WATCHED_PID runs;
# the peak in KiB goes to FILE.
peak_rss() {
    local peak=0 r
    while kill -0 "$2" 2>/dev/null; do
        r=$(status_kib "$1" VmRSS); [ "${r:-0}" -gt "$peak" ] && peak=$r
        sleep 0.05
    done
    r=$(status_kib "$1" VmRSS); [ "${r:-0}" -gt "$peak" ] && peak=$r
    echo "$peak" >"$3"
}
du_split() { # -> "store S / search X / media M / total T" (bytes on disk)
    local s x m t
    s=$(du -s --block-size=1 "$DATA/store" | cut -f1)
    x=$(du -s --block-size=1 "$DATA/search" 2>/dev/null | cut -f1); x=${x:-0}
    m=$(du -s --block-size=1 "$DATA/media" 2>/dev/null | cut -f1); m=${m:-0}
    t=$(du -s --block-size=1 "$DATA" | cut -f1)
    echo "$s $x $m $t"
}
fmt_du() { # S X M T -> text, with bytes per message
    awk -v s="$1" -v x="$2" -v m="$3" -v t="$4" -v n="$MESSAGES" 'BEGIN{
        printf "store %.1f MB, search %.1f MB, media %.1f MB, total %.1f MB: %.0f B/msg (store %.0f, search %.0f)",
            s/1e6, x/1e6, m/1e6, t/1e6, t/n, s/n, x/n }'
}

{
    echo "## chatnode history bench, $(date -u '+%Y-%m-%d %H:%M UTC'), $MESSAGES messages$([ $SMOKE = 1 ] && echo " (smoke run)")"
    echo
    echo "- machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB"
    echo "- disk of the temp dir: $(df -h "$WORK" | awk 'NR==2{print $1", "$2", "$4" free"}')"
    echo "- load average at start: $(load_avg)"
    echo "- commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown); node $NODE"
    echo "- storage.dedupe_window_secs=$DEDUPE_WINDOW for this run: a store filled in minutes has every message"
    echo "  inside the default 7-day window (every dedupe entry kept); a store that is years old has all"
    echo "  but the last week's outside it. With 60 s, this store is measured as an old one is."
    echo "- automatic backups off (backup.every_secs=0): the runs below take their own."
} >"$WORK/head.md"
cat "$WORK/head.md" >&2

# 1. a node on an empty store
log "empty store: idle RSS"
start_node "$WORK/empty" "$WORK/empty.log"
EMPTY_STARTUP_MS=$STARTUP_MS
sleep 10
EMPTY_RSS_KIB=$(status_kib "$NODE_PID" VmRSS)
row "node on an empty store: start-up to /healthz; idle RSS 10 s later" "${EMPTY_STARTUP_MS} ms; $(rss_line "$NODE_PID")" ""
stop_node
rm -rf "$WORK/empty"

# 2. fill
need_kib=$(( MESSAGES * 1100 / 1024 + MIN_FREE_GB * 1024 * 1024 ))
if [ "$(free_kib)" -lt "$need_kib" ]; then
    log "warning: $(( $(free_kib) / 1024 )) MiB free; the fill may need ~$(( MESSAGES * 1100 / 1048576 )) MiB before compaction; it stops if less than $MIN_FREE_GB GB would remain"
fi
log "fill: $MESSAGES messages"
start_node "$DATA" "$WORK/node.log"
"$LOAD" --addr "$ADDR" --node-pid "$NODE_PID" history fill --messages "$MESSAGES" --manifest "$MANIFEST" \
    >"$WORK/fill.md" 2> >(tee "$WORK/fill.log" >&2) &
FILL_PID=$!
DISK_STOP=0
FREE0=$(free_kib)
MIN_FREE=$FREE0
while kill -0 "$FILL_PID" 2>/dev/null; do
    f=$(free_kib); [ "$f" -lt "$MIN_FREE" ] && MIN_FREE=$f
    if [ "$f" -lt $(( MIN_FREE_GB * 1024 * 1024 )) ]; then
        log "less than $MIN_FREE_GB GB free: stopping the fill"
        DISK_STOP=1
        kill -TERM "$FILL_PID" 2>/dev/null || true
        break
    fi
    sleep 1
done
FILL_RC=0
wait "$FILL_PID" || FILL_RC=$?
cat "$WORK/fill.md" >&2
if [ $DISK_STOP = 1 ] || [ $FILL_RC != 0 ]; then
    echo "fill failed (exit $FILL_RC, disk stop $DISK_STOP); see $WORK (KEEP=1 keeps it)" >&2
    cat "$WORK/head.md" "$WORK/fill.md" "$RESULTS" >"$OUT"
    exit 1
fi
FILL_END=$(date +%s)
row "disk: free space taken at the fill's low point (1 s samples); data_dir right after the fill" "$(mib $(( FREE0 - MIN_FREE ))); $(fmt_du $(du_split))" ""

# 3. compaction: backlog 0 after a completed pass, and a pass begun after 60 s
log "waiting for compaction (backlog 0 after a completed pass, dedupe window $DEDUPE_WINDOW s)"
P0=$(metric chatnode_compaction_passes_total); P0=${P0:-0}
P60=""
CAUGHT=""
DONE=0
last_log=0
while :; do
    sleep 2
    el=$(( $(date +%s) - FILL_END ))
    backlog=$(metric chatnode_compaction_backlog); passes=$(metric chatnode_compaction_passes_total)
    sealed=$(metric chatnode_compaction_sealed_total); pruned=$(metric chatnode_compaction_pruned_total)
    if [ -z "$CAUGHT" ] && [ "${backlog:-1}" = 0 ] && [ "${passes:-0}" -ge $(( P0 + 2 )) ]; then
        CAUGHT=$el
    fi
    if [ -z "$P60" ] && [ "$el" -ge "$DEDUPE_WINDOW" ]; then P60=$passes; fi
    if [ -n "$P60" ] && [ "${backlog:-1}" = 0 ] && [ "${passes:-0}" -ge $(( P60 + 2 )) ]; then DONE=1; break; fi
    if [ $(( el - last_log )) -ge 30 ]; then
        log "compaction: backlog $backlog, passes $passes, sealed $sealed, pruned $pruned ($el s after the fill)"
        last_log=$el
    fi
    [ "$el" -lt "$COMPACTION_TIMEOUT_SECS" ] || break
done
if [ $DONE = 1 ]; then
    row "compaction: backlog 0 after a completed pass" "${CAUGHT:-?} s after the fill; pruning done by $el s (sealed ${sealed}, pruned ${pruned}, passes ${passes})" "backlog 0"
else
    row "compaction: NOT caught up" "after $el s: backlog ${backlog:-?}, passes ${passes:-?}, sealed ${sealed:-?}, pruned ${pruned:-?}" "backlog 0"
fi
read -r S X M T <<<"$(du_split)"
row "on disk, node running, after compaction" "$(fmt_du "$S" "$X" "$M" "$T")" "<= 150 B/msg"
ls -la "$DATA" "$DATA/store" >"$WORK/ls.txt" 2>&1 || true

# 4. restart: start-up and idle RSS
log "restart"
t0=$(now_ms); stop_node; STOP_MS=$(( $(now_ms) - t0 ))
read -r S X M T <<<"$(du_split)"
row "on disk, node stopped" "$(fmt_du "$S" "$X" "$M" "$T")" "<= 150 B/msg"
start_node "$DATA" "$WORK/node.log"
row "stop (SIGTERM to exit) / start-up to /healthz" "${STOP_MS} ms / **${STARTUP_MS} ms**" "start-up < 2 s"
sleep 10
IDLE_RSS_KIB=$(status_kib "$NODE_PID" VmRSS)
row "idle RSS 10 s after start" "**$(rss_line "$NODE_PID")**" "< 64 MB"
row "idle RSS: big store minus empty store" "$(awk -v a="$IDLE_RSS_KIB" -v b="$EMPTY_RSS_KIB" 'BEGIN{printf "%+.1f MiB", (a-b)/1024}')" "<= 16 MB"

# 5. the probe
log "probe"
"$LOAD" --addr "$ADDR" --node-pid "$NODE_PID" history probe --manifest "$MANIFEST" "${PROBE[@]}" \
    >"$WORK/probe.md" 2> >(tee "$WORK/probe.log" >&2) || echo "probe failed: $(tail -1 "$WORK/probe.log")" >>"$WORK/probe.md"
cat "$WORK/probe.md" >&2
sleep 5

# 6. online backup, online check
log "online backup"
BASE=$(status_kib "$NODE_PID" VmRSS)
t0=$(now_ms)
/usr/bin/time -v -o "$WORK/backup.time" \
    env CHATNODE__SERVER__DATA_DIR="$DATA" "$NODE" backup "$WORK/backup.chatnode" >"$WORK/backup.out" 2>&1 &
BPID=$!
peak_rss "$NODE_PID" "$BPID" "$WORK/backup.peak" &
SPID=$!
BRC=0; wait "$BPID" || BRC=$?
BACKUP_MS=$(( $(now_ms) - t0 ))
wait "$SPID" || true
BPEAK=$(cat "$WORK/backup.peak")
BSIZE=$(stat -c %s "$WORK/backup.chatnode" 2>/dev/null || echo 0)
BMAX=$(awk -F': ' '/Maximum resident/{print $2}' "$WORK/backup.time")
row "online backup (exit $BRC): time, rate, file" "$(awk -v ms="$BACKUP_MS" -v n="$MESSAGES" -v b="$BSIZE" 'BEGIN{printf "%.1f s, %.0f messages/s, %.1f MB", ms/1000, n/(ms/1000), b/1e6}')" "states a rate"
row "online backup: node RSS before / peak" "$(mib "$BASE") / $(mib "$BPEAK") ($(awk -v a="$BPEAK" -v b="$BASE" 'BEGIN{printf "%+.1f MiB", (a-b)/1024}'))" "+32 MB at most"
row "online backup: the backup process's max RSS" "$(mib "${BMAX:-0}")" ""
row "online backup: what it printed" "$(tr '\n' ' ' <"$WORK/backup.out" | sed 's/|/\\|/g' | cut -c1-300)" ""
rm -f "$WORK/backup.chatnode"

log "online check"
sleep 2
BASE=$(status_kib "$NODE_PID" VmRSS)
t0=$(now_ms)
/usr/bin/time -v -o "$WORK/check-online.time" \
    env CHATNODE__SERVER__DATA_DIR="$DATA" "$NODE" check >"$WORK/check-online.out" 2>&1 &
CPID=$!
peak_rss "$NODE_PID" "$CPID" "$WORK/check-online.peak" &
SPID=$!
CRC=0; wait "$CPID" || CRC=$?
CHECK_MS=$(( $(now_ms) - t0 ))
wait "$SPID" || true
CPEAK=$(cat "$WORK/check-online.peak")
CMAX=$(awk -F': ' '/Maximum resident/{print $2}' "$WORK/check-online.time")
row "online check (exit $CRC): wall time; node RSS before / peak" "$(awk -v ms="$CHECK_MS" 'BEGIN{printf "%.1f s", ms/1000}'); $(mib "$BASE") / $(mib "$CPEAK") ($(awk -v a="$CPEAK" -v b="$BASE" 'BEGIN{printf "%+.1f MiB", (a-b)/1024}'))" "+32 MB at most"
row "online check: the check process's max RSS" "$(mib "${CMAX:-0}")" ""
row "online check: its lines" "$(grep -E '^(checked in|check:)' "$WORK/check-online.out" | tr '\n' ' ' | sed 's/|/\\|/g')" "states a rate"

# 7. stopped check
log "stop; check on the stopped store"
stop_node
t0=$(now_ms)
CRC=0
/usr/bin/time -v -o "$WORK/check.time" \
    env CHATNODE__SERVER__DATA_DIR="$DATA" "$NODE" check >"$WORK/check.out" 2>&1 || CRC=$?
CHECK_MS=$(( $(now_ms) - t0 ))
CMAX=$(awk -F': ' '/Maximum resident/{print $2}' "$WORK/check.time")
row "stopped check (exit $CRC): wall time (a copy of the store first), max RSS" "$(awk -v ms="$CHECK_MS" 'BEGIN{printf "%.1f s", ms/1000}'), $(mib "${CMAX:-0}") ($(awk -v a="${CMAX:-0}" -v b="$IDLE_RSS_KIB" 'BEGIN{printf "%+.1f MiB", (a-b)/1024}') against the idle node)" "+32 MB at most"
while IFS= read -r line; do
    row "stopped check: its line" "$(sed 's/|/\\|/g' <<<"$line")" ""
done < <(grep -E '^(trees|checked in|check:|search index)' "$WORK/check.out")

{
    cat "$WORK/head.md"
    echo
    echo "### fill (chatnode-load history fill)"
    sed -n '/^| /,$p' "$WORK/fill.md"
    echo
    echo "### store, start-up, memory, backup, check"
    echo
    echo "| figure | value | target | load average |"
    echo "|---|---|---|---|"
    cat "$RESULTS"
    echo
    echo "### probe (chatnode-load history probe ${PROBE[*]})"
    sed -n '/^| /,$p' "$WORK/probe.md"
} >"$OUT"
echo
cat "$OUT"
echo >&2
echo "results: $OUT" >&2
