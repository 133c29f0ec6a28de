#!/usr/bin/env bash
# Benchmark (not a test): GetSecretary reached three ways in one run, same load tool (h2load),
# same concurrency, same secretary:
#   (a) gRPC straight to the personnel service (h2c, pre-framed request body);
#   (b) gRPC through nginx `grpc_pass` with upstream keepalive (Debian nginx);
#   (c) REST/JSON through shequ-gateway over HTTP/1.1 (GET /v1/secretaries/{id}).
# Each arm runs ROUNDS times, interleaved a,b,c,a,b,c,...; the median round is reported:
# throughput, p50 and p99 (from h2load's per-request log), then the ratios c/a and c/b and the
# p50 the gateway adds. Under load on 2 cores the added p50 mostly reflects the throughput ratio
# (queueing), so a second phase runs every arm with ONE request in flight, where the added p50 is
# the gateway's own cost per request.
#
# Environment: CONCURRENCY (default 16 in-flight requests: 16 connections x 1 stream),
# DURATION seconds per round (10), ROUNDS (3), SEED secretaries (200),
# SHEQU_BENCH_POSTGRES_URL to put the personnel service on a fresh PostgreSQL database
# (default: a temporary SQLite file). Needs h2load + nghttp (nghttp2-client) and nginx.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
concurrency=${CONCURRENCY:-16}
duration=${DURATION:-10}
rounds=${ROUNDS:-3}
seed=${SEED:-200}
# The load tool and nginx are not on a fresh machine: install them from Debian when we can.
if ! command -v h2load >/dev/null || ! command -v nghttp >/dev/null || ! command -v nginx >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get install -y -q nghttp2-client nginx >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q nghttp2-client nginx >/dev/null; }
    fi
fi
for tool in h2load nghttp nginx python3 curl; do
    command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install nghttp2-client nginx)"; exit 1; }
done

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ -n "${SHEQU_BENCH_POSTGRES_URL:-}" ]; then
        psql "$SHEQU_BENCH_POSTGRES_URL" -qc "DROP DATABASE IF EXISTS shequ_gateway_bench WITH (FORCE)" || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

cargo build --release --locked -p shequ-tests --bin shequ-dev-stack -p shequ-gateway --bin shequ-gateway
target_dir=${CARGO_TARGET_DIR:-$root/target}

database_args=()
if [ -n "${SHEQU_BENCH_POSTGRES_URL:-}" ]; then
    psql "$SHEQU_BENCH_POSTGRES_URL" -qc "DROP DATABASE IF EXISTS shequ_gateway_bench WITH (FORCE)" -c "CREATE DATABASE shequ_gateway_bench"
    database_args=(--database-url "${SHEQU_BENCH_POSTGRES_URL%/*}/shequ_gateway_bench")
fi

echo "--- starting personnel (seeding $seed secretaries), gateway and nginx"
"$target_dir/release/shequ-dev-stack" --no-gateway --seed "$seed" --info-file "$work/stack.json" "${database_args[@]}" >"$work/stack.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 600); do [ -s "$work/stack.json" ] && break; sleep 0.2; done
[ -s "$work/stack.json" ] || { cat "$work/stack.log"; exit 1; }
field() { python3 -c "import json,sys; v=json.load(open('$work/stack.json'))[sys.argv[1]]; print(v[len(v)//2] if isinstance(v,list) else v)" "$1"; }
personnel=$(field personnel)
token=$(field token)
secretary=$(field secretaries)
personnel_port=${personnel##*:}

gateway_port=$(free_port)
# GATEWAY_WORKERS sets the gateway's tokio worker threads (default: one per core).
env ${GATEWAY_WORKERS:+TOKIO_WORKER_THREADS=$GATEWAY_WORKERS} \
    SHEQU_HTTP__LISTEN="127.0.0.1:$gateway_port" SHEQU_BACKENDS__PERSONNEL="$personnel" \
    SHEQU_BACKENDS__IDENTITY="$(python3 -c "import json; print(json.load(open('$work/stack.json'))['services']['identity'])")" \
    SHEQU_AUTH__MODE=development SHEQU_AUTH__SIGNING_KEY_PEM="$(field signing_key_pem)" \
    SHEQU_AUTH__RATE_PER_SECOND=1000000000 SHEQU_AUTH__RATE_BURST=4000000000 \
    "$target_dir/release/shequ-gateway" >"$work/gateway.log" 2>&1 &
pids+=($!)

nginx_port=$(free_port)
mkdir -p "$work/nginx"
cat >"$work/nginx/nginx.conf" <<NGINX
worker_processes auto;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log $work/nginx/access.log;
    client_body_temp_path $work/nginx/body;
    proxy_temp_path $work/nginx/proxy;
    fastcgi_temp_path $work/nginx/fastcgi;
    uwsgi_temp_path $work/nginx/uwsgi;
    scgi_temp_path $work/nginx/scgi;
    # nginx closes a connection after 1000 requests by default (keepalive_requests, which also
    # governs HTTP/2 since 1.19.7); h2load's duration mode does not reconnect, so raise it on both
    # sides or the arm measures reconnection stalls instead of proxying.
    keepalive_requests 1000000;
    upstream personnel {
        server 127.0.0.1:$personnel_port;
        keepalive 32;
        keepalive_requests 1000000;
    }
    server {
        listen 127.0.0.1:$nginx_port http2;
        location / {
            grpc_pass grpc://personnel;
        }
    }
}
NGINX
nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" &
pids+=($!)

for _ in $(seq 1 200); do
    curl -sf "http://127.0.0.1:$gateway_port/readyz" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -sf "http://127.0.0.1:$gateway_port/readyz" >/dev/null || { cat "$work/gateway.log"; exit 1; }

# GetSecretaryRequest { name = 1 } as a gRPC length-prefixed frame.
python3 - "$secretary" "$work/request.bin" <<'PY'
import struct, sys
name = sys.argv[1].encode()
message = b"\x0a" + bytes([len(name)]) + name
open(sys.argv[2], "wb").write(b"\x00" + struct.pack(">I", len(message)) + message)
PY

grpc_headers=(-H "content-type: application/grpc" -H "te: trailers" -H "authorization: Bearer $token")
grpc_check() {
    nghttp -v "${grpc_headers[@]}" -d "$work/request.bin" "$1" >"$work/check.txt" 2>&1 || true
    grep -q "grpc-status: 0" "$work/check.txt" || { echo "gRPC check of $1 failed:"; cat "$work/check.txt"; exit 1; }
}
rpc=/shequ.personnel.v1.PersonnelService/GetSecretary
grpc_check "http://127.0.0.1:$personnel_port$rpc"
grpc_check "http://127.0.0.1:$nginx_port$rpc"
rest="http://127.0.0.1:$gateway_port/v1/$secretary"
curl -sf -H "authorization: Bearer $token" "$rest" | grep -q '"name"' || { echo "REST check failed"; exit 1; }

run_arm() { # arm round concurrency seconds
    local arm=$1 tag=$2 clients=$3 seconds=$4 log="$work/$1-$2.tsv"
    case $arm in
        a) h2load -c "$clients" -m 1 -D "$seconds" --warm-up-time=2 "${grpc_headers[@]}" -d "$work/request.bin" --log-file="$log" "http://127.0.0.1:$personnel_port$rpc" ;;
        b) h2load -c "$clients" -m 1 -D "$seconds" --warm-up-time=2 "${grpc_headers[@]}" -d "$work/request.bin" --log-file="$log" "http://127.0.0.1:$nginx_port$rpc" ;;
        c) h2load --h1 -c "$clients" -D "$seconds" --warm-up-time=2 -H "authorization: Bearer $token" --log-file="$log" "$rest" ;;
    esac >"$work/$arm-$tag.out" 2>&1
    echo "  $tag arm $arm: $(grep -E '^requests:' "$work/$arm-$tag.out")"
}
echo "--- load: $concurrency in flight, ${duration}s per round, $rounds rounds per arm, secretary $secretary"
for round in $(seq 1 "$rounds"); do
    for arm in a b c; do run_arm "$arm" "load$round" "$concurrency" "$duration"; done
done
latency_duration=${LATENCY_DURATION:-5}
echo "--- latency: 1 in flight, ${latency_duration}s per round, $rounds rounds per arm"
for round in $(seq 1 "$rounds"); do
    for arm in a b c; do run_arm "$arm" "one$round" 1 "$latency_duration"; done
done

python3 - "$work" "$rounds" "$concurrency" <<'PY'
import sys
work, rounds, concurrency = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
names = {"a": "gRPC direct", "b": "gRPC via nginx grpc_pass", "c": "REST via shequ-gateway"}

def measure(arm, tag):
    ok, latencies, first, last = 0, [], None, None
    for line in open(f"{work}/{arm}-{tag}.tsv"):
        parts = line.split()
        if len(parts) < 3 or int(parts[1]) != 200:
            continue
        start, micros = int(parts[0]), int(parts[2])
        ok += 1
        latencies.append(micros)
        first = start if first is None else min(first, start)
        last = start + micros if last is None else max(last, start + micros)
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] / 1000.0
    seconds = (last - first) / 1e6  # h2load logs only the measured period (after warm-up)
    return {"rps": ok / seconds, "p50": pick(0.50), "p99": pick(0.99)}

def phase(prefix, title):
    print(title)
    results = {}
    for arm in "abc":
        runs = [measure(arm, f"{prefix}{r}") for r in range(1, rounds + 1)]
        median = sorted(runs, key=lambda m: m["rps"])[len(runs) // 2]
        results[arm] = median
        each = ", ".join("%.0f" % m["rps"] for m in runs)
        print(f"  ({arm}) {names[arm]:<26} {median['rps']:>8.0f} req/s   p50 {median['p50']:6.2f} ms   p99 {median['p99']:6.2f} ms   (rounds: {each} req/s)")
    return results

load = phase("load", f"under load, {concurrency} in flight (median round by throughput):")
one = phase("one", "one request in flight:")
a, b, c = load["a"], load["b"], load["c"]
print()
print(f"throughput c/a = {c['rps'] / a['rps']:.2f}   (target >= 0.5)")
print(f"throughput c/b = {c['rps'] / b['rps']:.2f}   (target >= 0.8)")
print(f"throughput b/a = {b['rps'] / a['rps']:.2f}")
print(f"added p50 under load:      {c['p50'] - a['p50']:+.2f} ms vs direct, {c['p50'] - b['p50']:+.2f} ms vs nginx")
print(f"added p50, one in flight:  {one['c']['p50'] - one['a']['p50']:+.2f} ms vs direct, {one['c']['p50'] - one['b']['p50']:+.2f} ms vs nginx   (target <= 1 ms)")
print(f"added p99 under load:      {c['p99'] - a['p99']:+.2f} ms vs direct")
PY
