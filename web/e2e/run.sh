#!/usr/bin/env bash
# End-to-end check of the bundled web client (web/): headless Chromium pages against a real
# node on 127.0.0.1:18800-18801 (kill -9 and restart included), axe-core on every screen,
# desktop and phone viewports, light and dark. .ci/run runs it too. Installs Debian's
# chromium (~100 MB) when missing. Screenshots and the node's log go to a temp dir named
# in the output. CHATNODE_BIN picks the binary (default: the debug build).
set -euo pipefail
cd "$(dirname "$0")"
command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }
[ -d node_modules/axe-core ] || PUPPETEER_SKIP_DOWNLOAD=1 npm ci --silent --no-audit --no-fund
(cd ../.. && cargo build --bin chatnode)
TARGET_DIR="${CARGO_TARGET_DIR:-../../target}"
CHATNODE_BIN="${CHATNODE_BIN:-$(cd "$TARGET_DIR" && pwd)/debug/chatnode}" node test.js
