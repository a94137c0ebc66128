#!/usr/bin/env bash
# Reliability and security checks of apigw (issue #10; figures in docs/reliability.md).
#
#   scripts/reliability.sh               # everything below at full length (about 35 minutes)
#   scripts/reliability.sh smoke         # CI: each fuzz target for 20 s
#   scripts/reliability.sh fuzz [S]      # cargo fuzz: expr, plugin_content, signature, http1, S s each (300)
#   scripts/reliability.sh api [N]       # schemathesis on /openapi.json, N examples per operation (500)
#   scripts/reliability.sh clients       # hostile clients, faults, control-plane security, secrets
#   scripts/reliability.sh durability [R] # kill -9 during control-plane writes, R times (50)
#   scripts/reliability.sh soak [S]      # S s of mixed load with config changes every second (600)
#
# Needs what scripts/test.sh needs (run it once first: it installs and starts the services),
# plus cargo-fuzz (installed when missing; the fuzz targets build with RUSTC_BOOTSTRAP=1 on the
# stable toolchain) and nginx + wrk for the soak (installed from Debian when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
export PATH="$HOME/.cargo/bin:$PATH"

fail() { echo "scripts/reliability.sh: $*" >&2; exit 1; }
step() { printf '\n== %s\n' "$*"; }

target_dir() {
  cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])'
}

fuzz() {
  local seconds=$1
  command -v cargo-fuzz >/dev/null || {
    step "installing cargo-fuzz"
    cargo install cargo-fuzz --locked || fail "could not install cargo-fuzz"
  }
  local work=${APIGW_FUZZ_WORK:-$HOME/.cache/apigw/fuzz-corpus}
  export CARGO_TARGET_DIR=${APIGW_FUZZ_TARGET_DIR:-$HOME/.cache/apigw/fuzz-target}
  # cargo fuzz needs nightly-only flags (sanitizer coverage); the stable compiler takes them
  # with RUSTC_BOOTSTRAP.
  export RUSTC_BOOTSTRAP=1
  (cd fuzz && cargo fuzz build -O) || fail "the fuzz targets do not build"
  for t in expr plugin_content signature http1; do
    step "fuzzing $t for $seconds s"
    mkdir -p "$work/$t"
    # New inputs go to the work corpus; the committed seeds are read only.
    (cd fuzz && cargo fuzz run -O "$t" "$work/$t" "corpus/$t" -- \
        -max_total_time="$seconds" -max_len=4096 -print_final_stats=1 2>&1 | tail -n 12) \
      || fail "fuzz target $t found a crash (fuzz/artifacts/$t)"
  done
  unset CARGO_TARGET_DIR RUSTC_BOOTSTRAP
}

venv() {
  local venv=${APIGW_VENV:-$root/.venv}
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv" || fail "could not create a venv at $venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r tests/sdk/requirements.txt \
    || fail "could not install the test requirements from PyPI"
  echo "$venv"
}

api() {
  local examples=$1 v
  v=$(venv)
  cargo build -q -p apigw
  step "schemathesis: $examples examples per operation"
  APIGW_BIN="$(target_dir)/debug/apigw" APIGW_FUZZ_EXAMPLES=$examples \
    bash -c "cd tests/sdk && '$v/bin/python' -m pytest -p no:cacheprovider -q test_openapi_fuzz.py" \
    || fail "schemathesis found a failure"
}

clients() {
  step "hostile clients, faults, control-plane security, secrets"
  cargo nextest run -p apigw --no-fail-fast --test hostile_clients --test faults \
    --test control_plane_auth --test secrets
}

durability() {
  step "kill -9 during control-plane writes, $1 times"
  APIGW_DURABILITY_ROUNDS=$1 cargo nextest run -p apigw --test durability --no-capture
}

soak() {
  if ! command -v nginx >/dev/null || ! command -v wrk >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light wrk >/dev/null \
      || fail "nginx and wrk are needed for the soak"
  fi
  step "building the release binary"
  cargo build -q --release -p apigw
  step "soak: $1 s"
  python3 scripts/soak.py --apigw "$(target_dir)/release/apigw" --seconds "$1"
}

case "${1:-all}" in
  smoke) fuzz 20 ;;
  fuzz) fuzz "${2:-300}" ;;
  api) api "${2:-500}" ;;
  clients) clients ;;
  durability) durability "${2:-50}" ;;
  soak) soak "${2:-600}" ;;
  all)
    fuzz 300
    api 500
    clients
    durability 50
    soak 600
    step "all reliability checks passed"
    ;;
  *) fail "unknown part ${1}: smoke, fuzz, api, clients, durability, soak or all" ;;
esac
