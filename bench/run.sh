#!/usr/bin/env bash
# The benchmarks of apigw. Needs nginx and wrk (installed from Debian when missing).
#   bench/run.sh                 # router scaling + apigw vs nginx, 5 rounds of 5 s
#   bench/run.sh --rounds 3 ...  # options go to bench/run.py
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v nginx >/dev/null || ! command -v wrk >/dev/null; then
  command -v apt-get >/dev/null || { echo "bench: nginx and wrk are needed" >&2; exit 1; }
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light wrk >/dev/null
fi
export PATH="$HOME/.cargo/bin:$PATH"
command -v tansu >/dev/null || cargo install tansu --features dynostore --locked
echo "== route lookup against the number of APIs"
cargo bench -q -p apigw-proxy --bench router
echo
echo "== apigw vs nginx"
cargo build -q --release -p apigw
target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
exec python3 bench/run.py --apigw "$target/release/apigw" "$@"
