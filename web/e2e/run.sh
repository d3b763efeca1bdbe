#!/usr/bin/env bash
# End-to-end check of the bundled web client (web/index.html): two headless Chromium
# pages against a real release node on 127.0.0.1:18800 (kill -9 and restart included).
# Not part of CI: it installs Debian's chromium (~100 MB). Screenshots and the node's
# log go to a temp dir named in the output.
set -euo pipefail
cd "$(dirname "$0")"
command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }
[ -d node_modules/puppeteer-core ] || PUPPETEER_SKIP_DOWNLOAD=1 npm install --silent --no-audit --no-fund
(cd ../.. && cargo build --release --bin chatnode)
node test.js
