#!/usr/bin/env bash
# One command: GetSecretary over gRPC vs pgbench on the same 20,000-row table, same concurrency.
# Needs PostgreSQL (SHEQU_BENCH_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/postgres)
# and pgbench (Debian package postgresql-15).
set -euo pipefail
cd "$(dirname "$0")/../.."
# The load tool is not on a fresh machine: install it from Debian when we can (root, apt reachable).
if ! command -v h2load >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get install -y -q nghttp2-client >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q nghttp2-client >/dev/null; }
    else
        echo "missing h2load: apt-get install nghttp2-client" >&2; exit 1
    fi
fi
cargo build --release -p shequ-personnel -p shequ-bench
exec target/release/shequ-bench get-secretary
