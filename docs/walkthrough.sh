#!/usr/bin/env bash
# The production walk-through of docs/operations.md, as a script CI runs: every service and the
# gateway as separate processes on PostgreSQL, production mode, people signing in through an
# identity provider (a JWKS file made here), an integrating system's first API key, health,
# metrics on the admin listener, audit verification (and the wrong master key named), a backup
# restored and verified, and a rotation of the gateway's signing key without downtime.
#
#   docs/walkthrough.sh            # uses target/debug binaries (cargo build first)
#   SHEQU_BIN_DIR=target/release docs/walkthrough.sh
#
# Needs PostgreSQL at 127.0.0.1:5432 with trust auth (SHEQU_WALKTHROUGH_PG to change), curl,
# python3 with the `cryptography` package (installed from PyPI when missing).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${SHEQU_BIN_DIR:-$root/target/debug}
pg=${SHEQU_WALKTHROUGH_PG:-postgres://postgres@127.0.0.1:5432}
work=$(mktemp -d)
suffix=$$
pids=()
databases=()

step() { printf '\n--- %s\n' "$*"; }
fail() { echo "WALKTHROUGH FAILED: $*" >&2; for f in "$work"/logs/*.log; do echo "== $f"; tail -20 "$f"; done >&2; exit 1; }
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    # SHEQU_WALKTHROUGH_KEEP=1 keeps the databases, keys and logs to look into a failure.
    [ -z "${SHEQU_WALKTHROUGH_KEEP:-}" ] || { echo "kept $work"; return; }
    for db in "${databases[@]}"; do psql "$pg/postgres" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true; done
    rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
python3 -c 'import cryptography' 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check cryptography
mkdir -p "$work/logs"

step "1. keys: the gateway's signing pair, each service's master key and own key pair"
"$bin/shequ-gateway" keygen "$work/keys/gateway"
# Every service of the suite, each its own process with its own database and keys.
services=(personnel identity training warnings)
for s in "${services[@]}"; do "$bin/shequ-$s" keygen "$work/keys/$s"; done
mkdir -p "$work/keys/services"
for s in "${services[@]}"; do cp "$work/keys/$s/service-key.pub.pem" "$work/keys/services/$s.pub.pem"; done
# the services trust the gateway's public key (a copy they can be given a second key in, to rotate)
cp "$work/keys/gateway/signing-key.pub.pem" "$work/keys/trusted-signing-keys.pem"
[ "$(stat -c %a "$work/keys/personnel/master.key")" = 600 ] || fail "master key readable by others"

step "2. a database per service"
for s in "${services[@]}"; do
    db="shequ_walk_${s}_$suffix"
    psql "$pg/postgres" -qc "CREATE DATABASE $db"
    databases+=("$db")
done

# The environment of service $1 on port $2 (what a Kubernetes Deployment sets).
service_env() {
    local s=$1 listen=$2
    cat <<ENV
DATABASE_URL=$pg/shequ_walk_${s}_$suffix
SHEQU_SERVER__LISTEN=127.0.0.1:$listen
SHEQU_CRYPTO__MASTER_KEY=$(cat "$work/keys/$s/master.key")
SHEQU_AUTH__PUBLIC_KEY_FILE=$work/keys/trusted-signing-keys.pem
SHEQU_AUTH__SERVICE_KEY_FILE=$work/keys/$s/service-key.pem
SHEQU_AUTH__SERVICE_KEYS_DIR=$work/keys/services
SHEQU_AUDIT__ARCHIVE_DIR=$work/archive/$s
SHEQU_TELEMETRY__LOG_FORMAT=text
ENV
    # Where each calls or follows another: training and warnings follow personnel's feed,
    # personnel follows training's (certificates for the professional ladder).
    case $s in
        training | warnings) echo "SHEQU_DEPENDENCIES__PERSONNEL__ADDRESS=http://127.0.0.1:${port[personnel]}" ;;
        personnel) echo "SHEQU_DEPENDENCIES__TRAINING__ADDRESS=http://127.0.0.1:${port[training]}" ;;
    esac
    # Training's credentials name the gateway's public address (status lists, verification page).
    [ "$s" != training ] || echo "SHEQU_SERVICE__PUBLIC_BASE_URL=http://127.0.0.1:$gateway_port"
}
declare -A port service_pid
for s in "${services[@]}"; do port[$s]=$(free_port); done
gateway_port=$(free_port)
admin_port=$(free_port)
start_service() {
    local s=$1
    service_env "$s" "${port[$s]}" >"$work/$s.env"
    (set -a; . "$work/$s.env"; set +a; exec "$bin/shequ-$s") >>"$work/logs/$s.log" 2>&1 &
    service_pid[$s]=$!
    pids+=($!)
}
wait_port() {
    for _ in $(seq 1 150); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
    return 1
}

step "3. the services, each its own process (migrations run on first start)"
for s in "${services[@]}"; do start_service "$s"; done
for s in "${services[@]}"; do wait_port "${port[$s]}" || fail "$s did not listen"; done
grep -q $'\x1b\[' "$work/logs/personnel.log" && fail "colour codes in a log file"

step "4. the province's identity provider (an Ed25519 key and its JWKS, made here)"
python3 - "$work" <<'PY'
import base64, json, sys, time
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives import serialization
work = sys.argv[1]
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
key = Ed25519PrivateKey.generate()
public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
json.dump({"keys": [{"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "kid": "gd-idp-1", "x": b64(public)}]},
          open(f"{work}/jwks.json", "w"))
def token(sub, roles, scope):
    header = {"alg": "EdDSA", "typ": "JWT", "kid": "gd-idp-1"}
    now = int(time.time())
    claims = {"iss": "https://idp.example.gd.gov.cn", "aud": "shequ", "sub": sub, "iat": now,
              "exp": now + 3600, "roles": roles, "region_scope": scope}
    signing_input = b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())
    return signing_input + "." + b64(key.sign(signing_input.encode()))
open(f"{work}/district-admin.jwt", "w").write(token("zhangwei", ["district_admin"], "440305000000"))
open(f"{work}/auditor.jwt", "w").write(token("liqiang", ["auditor"], "440305000000"))
PY

step "5. the gateway, production mode, OIDC, an admin listener (env file shared with a service: it carries DATABASE_URL too)"
start_gateway() {
    cat >"$work/gateway.env" <<ENV
DATABASE_URL=$pg/shequ_walk_personnel_$suffix
SHEQU_HTTP__LISTEN=127.0.0.1:$gateway_port
SHEQU_HTTP__ADMIN_LISTEN=127.0.0.1:$admin_port
SHEQU_AUTH__MODE=production
SHEQU_AUTH__SIGNING_KEY_FILE=$1
SHEQU_AUTH__PROVINCE=440000000000
SHEQU_AUTH__OIDC__ISSUER=https://idp.example.gd.gov.cn
SHEQU_AUTH__OIDC__JWKS_FILE=$work/jwks.json
SHEQU_BACKENDS__PERSONNEL=http://127.0.0.1:${port[personnel]}
SHEQU_BACKENDS__IDENTITY=http://127.0.0.1:${port[identity]}
SHEQU_BACKENDS__TRAINING=http://127.0.0.1:${port[training]}
SHEQU_BACKENDS__WARNINGS=http://127.0.0.1:${port[warnings]}
SHEQU_TELEMETRY__LOG_FORMAT=text
ENV
    (set -a; . "$work/gateway.env"; set +a; exec "$bin/shequ-gateway") >>"$work/logs/gateway.log" 2>&1 &
    gateway_pid=$!
    pids+=($!)
    for _ in $(seq 1 150); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$gateway_port/readyz")" = 200 ] && return 0
        sleep 0.1
    done
    fail "the gateway never became ready: $(curl -s "http://127.0.0.1:$gateway_port/readyz")"
}
start_gateway "$work/keys/gateway/signing-key.pem"
api="http://127.0.0.1:$gateway_port"
person="Authorization: Bearer $(cat "$work/district-admin.jwt")"
# request: METHOD PATH [BODY] [AUTH HEADER]; prints the body, leaves the status in $status
request() {
    local auth=${4:-$person}
    local out
    out=$(curl -s -w '\n%{http_code}' -X "$1" "$api$2" -H "$auth" -H 'content-type: application/json' ${3:+-d "$3"})
    status=${out##*$'\n'}
    body=${out%$'\n'*}
}
expect() { [ "$status" = "$1" ] || fail "$2: expected $1, got $status: $body"; }
field() { python3 -c "import json,sys; v=json.loads(sys.argv[1]); [v:=v[k] for k in sys.argv[2:]]; print(v)" "$body" "$@"; }

step "6. a person signs in through the identity provider and appoints a secretary (today)"
request POST /v1/secretaries "{\"displayName\":\"王芳\",\"gender\":\"GENDER_FEMALE\",\"birthDate\":\"1985-01-01\",\"idNumber\":\"440305198501010028\",\"phoneNumber\":\"13800138000\",\"education\":\"EDUCATION_BACHELOR\",\"politicalStatus\":\"POLITICAL_STATUS_CPC_MEMBER\",\"region\":\"440305001001\",\"appointmentDate\":\"$(date -u +%Y-%m-%d)\",\"communityWorkStartDate\":\"2015-07-01\"}"
expect 200 "create a secretary"
secretary=$(field name)
request GET "/v1/$secretary"
expect 200 "read it back"
[ "$(field idNumber)" = "440305************" ] || fail "personal data not masked: $body"
request GET "/v1/$secretary" "" "Authorization: Bearer not-a-token"
expect 401 "a bad token"

step "6b. the services talk to each other with their own credentials: personnel's feed gives the new secretary a cultivation plan in training"
for _ in $(seq 1 100); do
    request GET "/v1/$secretary/cultivationPlan"
    [ "$status" = 200 ] && break
    sleep 0.2
done
expect 200 "the cultivation plan made from personnel's appointment event"

step "6c. a warning raised for the secretary's community, with its running deadline"
request POST /v1/warnings '{"title":"暴雨积水","colour":"COLOUR_BLUE","category":"flood","region":"440305001001"}'
expect 200 "raise a blue warning"
warning=$(field name)
request GET "/v1/$warning"
expect 200 "read the warning back"
[ "$(field state)" = WARNING_STATE_OPEN ] || fail "a new warning is open: $body"
# blue: 48 hours to respond, from creation
python3 -c 'import json,sys,datetime as d
w=json.loads(sys.argv[1]); r=w["deadlines"][-1]
t=lambda s: d.datetime.fromisoformat(s.replace("Z","+00:00"))
assert r["kind"]=="DEADLINE_KIND_RESPOND" and t(r["dueTime"])-t(r["startTime"])==d.timedelta(hours=48), r' "$body" \
    || fail "the running deadline of a blue warning: $body"

step "7. the first API key of an integrating system, used, then revoked"
request POST /v1/apiKeys "{\"displayName\":\"南山区数据共享平台\",\"roles\":[\"integration\"],\"scope\":\"440305000000\",\"expireTime\":\"$(date -u -d '+90 days' +%Y-%m-%dT%H:%M:%SZ)\"}"
expect 200 "issue an API key"
secret=$(field secret)
key_name=$(field apiKey name)
request GET /v1/regions/440305000000/secretaries "" "Authorization: ApiKey $secret"
expect 200 "the integrating system lists secretaries"
request POST "/v1/$key_name:revoke" '{}'
expect 200 "revoke the key"
sleep 0.2
request GET /v1/regions/440305000000/secretaries "" "Authorization: ApiKey $secret"
expect 401 "a revoked key"

step "8. health and metrics"
[ "$(curl -s "$api/healthz")" = '{"status":"ok"}' ] || fail "healthz"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$api/metrics")" = 404 ] || fail "metrics on the public listener"
curl -s "http://127.0.0.1:$admin_port/metrics" | grep -q shequ_gateway_http_requests_total || fail "metrics on the admin listener"

step "9. audit verification of each service (and the wrong master key named)"
for s in "${services[@]}"; do
    (set -a; . "$work/$s.env"; set +a; "$bin/shequ-$s" audit-verify) || fail "$s audit chain"
done
if (set -a; . "$work/personnel.env"; set +a; SHEQU_CRYPTO__MASTER_KEY=$(cat "$work/keys/identity/master.key") "$bin/shequ-personnel" audit-verify) >"$work/wrong-key.txt" 2>&1; then
    fail "audit-verify accepted the wrong master key"
fi
grep -q "crypto.master_key" "$work/wrong-key.txt" || fail "the wrong key is not named: $(cat "$work/wrong-key.txt")"
request GET /v1/personnel/regions/440305000000/auditEntries "" "Authorization: Bearer $(cat "$work/auditor.jwt")"
expect 200 "an auditor reads the audit log"

step "10. a backup of each database, restored and verified"
for s in "${services[@]}"; do
    pg_dump -Fc "$pg/shequ_walk_${s}_$suffix" >"$work/$s.dump"
    restored="shequ_walk_${s}_restored_$suffix"
    psql "$pg/postgres" -qc "CREATE DATABASE $restored"
    databases+=("$restored")
    pg_restore --no-owner -d "$pg/$restored" "$work/$s.dump"
    (set -a; . "$work/$s.env"; set +a; DATABASE_URL="$pg/$restored" "$bin/shequ-$s" audit-verify) || fail "restored $s"
    ! grep -a -q 440305198501010028 "$work/$s.dump" || fail "plaintext ID number in the $s backup"
done

step "11. rotating the gateway's signing key without downtime"
ready() {
    for _ in $(seq 1 150); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "$api/readyz")" = 200 ] && return 0
        sleep 0.1
    done
    fail "not ready: $(curl -s "$api/readyz")"
}
old_token_check() { ready; request GET "/v1/$secretary"; expect 200 "$1"; }
"$bin/shequ-gateway" keygen "$work/keys/gateway-next"
# a. the services trust both keys (restart one at a time; here, each in turn)
cat "$work/keys/gateway/signing-key.pub.pem" "$work/keys/gateway-next/signing-key.pub.pem" >"$work/keys/trusted-signing-keys.pem"
for s in "${services[@]}"; do
    kill "${service_pid[$s]}"; wait "${service_pid[$s]}" 2>/dev/null || true
    start_service "$s"; wait_port "${port[$s]}" || fail "$s did not come back"
done
old_token_check "the old key still works while both are trusted"
# b. the gateway signs with the new key
kill "$gateway_pid"; wait "$gateway_pid" 2>/dev/null || true
start_gateway "$work/keys/gateway-next/signing-key.pem"
old_token_check "calls work under the new key"
# c. the old key is no longer trusted
cp "$work/keys/gateway-next/signing-key.pub.pem" "$work/keys/trusted-signing-keys.pem"
for s in "${services[@]}"; do
    kill "${service_pid[$s]}"; wait "${service_pid[$s]}" 2>/dev/null || true
    start_service "$s"; wait_port "${port[$s]}" || fail "$s did not come back"
done
old_token_check "calls work with the old key retired"

step "walk-through complete"
