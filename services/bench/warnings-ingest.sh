#!/usr/bin/env bash
# One command: the community brain's replay (5,000 terminals × 200 indicators per round) through
# the warnings service on PostgreSQL against psql \copy of the same rows, and the latency from an
# alarming reading to its warning on the Watch stream. Needs PostgreSQL
# (SHEQU_BENCH_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/postgres) and psql.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release -p shequ-warnings -p shequ-bench
exec target/release/shequ-bench warnings-ingest
