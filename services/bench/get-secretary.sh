#!/usr/bin/env bash
# One command: GetSecretary over gRPC vs pgbench on the same 20,000-row table, same concurrency.
# Needs PostgreSQL (SHEQU_BENCH_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/postgres)
# and pgbench (Debian package postgresql-15).
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release -p shequ-personnel -p shequ-bench
exec target/release/shequ-bench get-secretary
