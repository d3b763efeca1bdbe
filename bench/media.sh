#!/usr/bin/env bash
# Media figures of docs/benchmarks.md: the node's RSS while a 1 GiB upload streams to
# disk, and a 100 MiB Range read through the node against reading the same file from
# disk with dd (both from the page cache after a first read, then both cold after
# dropping caches when run as root).
#
#   bench/media.sh               # 1 GiB upload, 100 MiB reads
#   UPLOAD_MB=100 bench/media.sh # smaller
set -euo pipefail
cd "$(dirname "$0")/.."
UPLOAD_MB="${UPLOAD_MB:-1024}"
READ_MB="${READ_MB:-100}"
PORT="${CHATNODE_BENCH_PORT:-18081}"
BASE="http://127.0.0.1:$PORT"
cargo build --release --bin chatnode >&2
DATA="$(mktemp -d "${TMPDIR:-/tmp}/chatnode-media-XXXXXX")"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/chatnode-media-files-XXXXXX")"
CHATNODE__SERVER__BIND="127.0.0.1:$PORT" CHATNODE__SERVER__DATA_DIR="$DATA" \
CHATNODE__MEDIA__MAX_UPLOAD_MB=$((UPLOAD_MB + 16)) CHATNODE__MEDIA__QUOTA_MB=$((UPLOAD_MB * 2 + 256)) \
RUST_LOG=warn target/release/chatnode >"$DATA.log" 2>&1 &
NODE=$!
trap 'kill $NODE 2>/dev/null || true; wait $NODE 2>/dev/null || true; rm -rf "$DATA" "$DATA.log" "$WORK"' EXIT
for _ in $(seq 1 100); do curl -s "$BASE/healthz" >/dev/null && break; sleep 0.1; done
TOKEN=$(curl -s -X POST "$BASE/api/register" -H 'Content-Type: application/json' \
    -d '{"username":"bench","password":"correct horse battery"}' | sed 's/.*"token":"\([^"]*\)".*/\1/')
rss() { awk '/^VmRSS/{print $2}' "/proc/$NODE/status"; }

echo "- machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(date -u '+%Y-%m-%d %H:%M UTC'); commit $(git rev-parse --short HEAD)"
head -c "$((UPLOAD_MB * 1048576))" /dev/urandom >"$WORK/big.bin"
sleep 1
BEFORE=$(rss); PEAK=$BEFORE
( while kill -0 $NODE 2>/dev/null; do r=$(rss); [ "$r" -gt "$(cat "$WORK/peak" 2>/dev/null || echo 0)" ] && echo "$r" >"$WORK/peak"; sleep 0.05; done ) &
SAMPLER=$!
START=$(date +%s.%N)
ANSWER=$(curl -s -X POST "$BASE/api/media" -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/octet-stream' -H 'X-Filename: big.bin' -T "$WORK/big.bin")
END=$(date +%s.%N)
kill $SAMPLER 2>/dev/null || true
PEAK=$(cat "$WORK/peak" 2>/dev/null || echo "$BEFORE")
echo "| ${UPLOAD_MB} MiB upload | $(awk "BEGIN{printf \"%.1f\", $END - $START}") s | RSS before $((BEFORE / 1024)) MiB, peak $((PEAK / 1024)) MiB: +$(( (PEAK - BEFORE) / 1024 )) MiB |"
echo "  answer: $ANSWER" | cut -c1-200

# a READ_MB file, then Range reads of it through the node against dd of the stored file
head -c "$((READ_MB * 1048576))" /dev/urandom >"$WORK/video.bin"
URL=$(curl -s -X POST "$BASE/api/media" -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: video/mp4' -H 'X-Filename: video.mp4' -T "$WORK/video.bin" | sed 's/.*"url":"\([^"]*\)".*/\1/')
STORED=$(find "$DATA/media" -type f -size "$((READ_MB * 1024))k" | head -1)
range() { curl -s -o /dev/null -w '%{speed_download}' -H "Authorization: Bearer $TOKEN" -r "0-$((READ_MB * 1048576 - 1))" "$BASE$URL"; }
ddread() { dd if="$STORED" of=/dev/null bs=1M 2>&1 | awk '/copied/{print $(NF-1), $NF}'; }
range >/dev/null; ddread >/dev/null   # warm
echo "| ${READ_MB} MiB Range read, page cache | node $(range | awk '{printf "%.0f MB/s", $1/1e6}') | dd $(ddread) |"
if [ "$(id -u)" = 0 ] && sync && echo 3 >/proc/sys/vm/drop_caches 2>/dev/null; then
    A=$(range | awk '{printf "%.0f MB/s", $1/1e6}')
    sync; echo 3 >/proc/sys/vm/drop_caches
    echo "| ${READ_MB} MiB Range read, cold | node $A | dd $(ddread) |"
fi
