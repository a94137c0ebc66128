#!/usr/bin/env bash
# The whole test suite of apigw, from a fresh machine: checks formatting and lints, builds,
# runs the Rust tests, prepares a Python venv with the official Huawei Cloud SDK and runs the
# SDK tests and schemathesis against the real binary, then fuzzes each parser briefly
# (scripts/reliability.sh smoke). Fails loudly when something it needs cannot be had.
#
#   scripts/test.sh            # everything
#
# Settings (all optional):
#   CARGO_TARGET_DIR   where cargo builds (default: target/ in the repository)
#   APIGW_VENV         the Python venv for the SDK tests (default: .venv in the repository)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

fail() { echo "scripts/test.sh: $*" >&2; exit 1; }
step() { printf '\n== %s\n' "$*"; }

command -v cargo >/dev/null || fail "cargo is not installed (https://rustup.rs)"
command -v python3 >/dev/null || fail "python3 is needed for the SDK tests"

# Redis: use the one that answers on 127.0.0.1:6379, else start a local one.
command -v redis-server >/dev/null || {
  command -v apt-get >/dev/null || fail "redis-server is needed by the tests"
  step "installing redis-server"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null \
    || fail "could not install redis-server"
}
if ! (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then
  step "starting a local Redis on 127.0.0.1:6379"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --logfile /tmp/apigw-test-redis.log || fail "could not start redis-server"
  for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null && break; sleep 0.1; done
fi
(exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null || fail "Redis does not answer on 127.0.0.1:6379"
export APIGW_TEST_REDIS_URL=${APIGW_TEST_REDIS_URL:-redis://127.0.0.1:6379/0}

# PostgreSQL: use the one that answers on 127.0.0.1:5432 (database `test`), else start one.
pg_up() { (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }
if ! pg_up; then
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    command -v apt-get >/dev/null || fail "PostgreSQL is needed by the tests"
    step "installing PostgreSQL"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null \
      || fail "could not install PostgreSQL"
  fi
  step "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start \
    || fail "could not start PostgreSQL"
  for _ in $(seq 50); do pg_up && break; sleep 0.2; done
fi
pg_up || fail "PostgreSQL does not answer on 127.0.0.1:5432"
export APIGW_TEST_PG_URL=${APIGW_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/test}
if command -v psql >/dev/null; then
  psql "${APIGW_TEST_PG_URL%/*}/postgres" -tAc "SELECT 1 FROM pg_database WHERE datname='test'" | grep -q 1 \
    || psql "${APIGW_TEST_PG_URL%/*}/postgres" -qc "CREATE DATABASE test" \
    || fail "could not create the test database"
fi

# A Kafka-protocol broker for the kafka_log tests: tansu, with in-memory storage and SQLite
# storage (the SCRAM tests keep their users across a restart), built once and kept in
# ~/.cargo/bin (the first build takes about 20 minutes here). A stamp records the features.
export PATH="$HOME/.cargo/bin:$PATH"
tansu_features=dynostore,libsql
tansu_stamp="$HOME/.cargo/bin/.tansu-features"
if ! command -v tansu >/dev/null || [ "$(cat "$tansu_stamp" 2>/dev/null)" != "$tansu_features" ]; then
  step "installing tansu (Kafka-compatible broker, features $tansu_features) with cargo install"
  CARGO_TARGET_DIR="${TANSU_TARGET_DIR:-$HOME/.cache/apigw/tansu-target}" \
    cargo install tansu --features "$tansu_features" --locked --force || fail "could not install tansu"
  echo "$tansu_features" > "$tansu_stamp"
fi
command -v tansu >/dev/null || fail "tansu is not on PATH"
command -v openssl >/dev/null || {
  command -v apt-get >/dev/null || fail "the openssl CLI is needed by the tests (test certificates)"
  apt-get update -qq && apt-get install -y -qq openssl >/dev/null || fail "could not install openssl"
}

{ command -v chromium >/dev/null && command -v chromedriver >/dev/null; } || {
  command -v apt-get >/dev/null || fail "chromium and chromedriver are needed by the console's browser test"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null \
    || fail "could not install chromium and chromium-driver (the console's browser test)"
}

step "format and lints"
cargo fmt --all -- --check || fail "cargo fmt --check failed: run cargo fmt --all"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "Rust tests"
cargo build --workspace --locked
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
  cargo test --workspace --locked --doc
else
  cargo test --workspace --locked --no-fail-fast
fi

step "official Python SDK tests"
venv=${APIGW_VENV:-$root/.venv}
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" || fail "could not create a Python venv at $venv (apt-get install python3-venv)"
fi
"$venv/bin/pip" install -q --disable-pip-version-check -r tests/sdk/requirements.txt \
  || fail "could not install the SDK test requirements from PyPI"
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
export APIGW_BIN="$target_dir/debug/apigw"
[ -x "$APIGW_BIN" ] || fail "the apigw binary was not built at $APIGW_BIN"
(cd tests/sdk && "$venv/bin/python" -m pytest -p no:cacheprovider -q)

step "reliability smoke: each fuzz target for 20 s"
scripts/reliability.sh smoke

step "all tests passed"
