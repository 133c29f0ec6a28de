#!/usr/bin/env bash
# The gateway's contract checks, for .ci/run:
#   1. start the personnel service and the gateway (shequ-dev-stack: throw-away keys, a temporary
#      SQLite database, a few seeded secretaries);
#   2. dump GET /openapi.json and validate it with openapi-spec-validator (PyPI);
#   3. run schemathesis (PyPI) against the running gateway with a province administrator's token,
#      every check (`--checks all`) and every phase (examples, coverage, fuzzing, stateful): at
#      least SHEQU_ST_MIN_CASES generated cases (default 500), failing on any 5xx response, on
#      any response that does not conform to the document (status code, content type, headers,
#      body schema), on invalid input (per the document) that is accepted, and on valid input
#      that is refused. The only 400s to valid input that pass are those listed, per operation
#      and reason, in beyond_schema.toml: rules no JSON Schema can state (see that file).
#      schemathesis runs through schemathesis_run.py, which applies that list and works around a
#      hypothesis/CPython 3.11 crash while *describing* generated strategies (see that file).
# Usage: gateway/ci/check-openapi.sh [--database-url URL]  (extra arguments go to shequ-dev-stack)
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
work=$(mktemp -d)
stack_pid=
cleanup() {
    if [ -n "$stack_pid" ] && kill -0 "$stack_pid" 2>/dev/null; then
        kill -TERM "$stack_pid"
        wait "$stack_pid" || true
    fi
    [ -n "${SHEQU_KEEP_WORK:-}" ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT

python3 -m pip install --quiet --disable-pip-version-check "openapi-spec-validator==0.9.*" "schemathesis==4.32.5" 2>/dev/null

cargo build --locked -p shequ-tests --bin shequ-dev-stack
target_dir=${CARGO_TARGET_DIR:-$root/target}
"$target_dir/debug/shequ-dev-stack" --seed 5 --info-file "$work/stack.json" "$@" >"$work/stack.log" 2>&1 &
stack_pid=$!
for _ in $(seq 1 300); do
    [ -s "$work/stack.json" ] && break
    kill -0 "$stack_pid" 2>/dev/null || { cat "$work/stack.log"; exit 1; }
    sleep 0.2
done
[ -s "$work/stack.json" ] || { echo "the dev stack did not start"; cat "$work/stack.log"; exit 1; }
field() { python3 -c "import json,sys; v=json.load(open('$work/stack.json'))[sys.argv[1]]; print(v if isinstance(v,str) else json.dumps(v))" "$1"; }
gateway=$(field gateway)
export SHEQU_TOKEN
SHEQU_TOKEN=$(field token)
secretaries=$(field secretaries)

echo "--- OpenAPI document validation"
curl -sSf "$gateway/openapi.json" -o "$work/openapi.json"
python3 -m openapi_spec_validator "$work/openapi.json"
curl -sSf "$gateway/docs" -o "$work/docs.html" && grep -q "openapi.json" "$work/docs.html"

echo "--- schemathesis"
# Known identifiers for part of the generated path parameters, so that cases reach the services'
# logic instead of stopping at "not found"; the rest stay random.
ids=$(python3 -c "import json,sys; print(json.dumps([n.split('/',1)[1] for n in json.loads(sys.argv[1])]))" "$secretaries")
cat >"$work/schemathesis.toml" <<TOML
headers = { Authorization = "Bearer \${SHEQU_TOKEN}" }

[dictionaries.secretaries]
values = $ids
[dictionaries.provinces]
values = ["440000000000", "110000000000"]
[dictionaries.regions]
values = ["440000000000", "440305000000", "440305001001", "110000000000"]
[dictionaries.items]
values = ["NL01", "NL13", "NL30"]

[parameters]
"path.secretary" = { dictionary = "secretaries", probability = 0.6 }
"path.province" = { dictionary = "provinces", probability = 0.6 }
"path.region" = { dictionary = "regions", probability = 0.6 }
"path.negativeListItem" = { dictionary = "items", probability = 0.6 }
TOML
min_cases=${SHEQU_ST_MIN_CASES:-500}
set +e
# from the work folder: schemathesis keeps a cache (.schemathesis/) in the current directory
cd "$work"
python3 "$root/gateway/ci/schemathesis_run.py" --config-file "$work/schemathesis.toml" run "$gateway/openapi.json" \
    --checks all \
    --max-examples 40 --seed 20261127 --workers 2 --no-color \
    --suppress-health-check filter_too_much,too_slow \
    --report junit --report-junit-path "$work/junit.xml" >"$work/schemathesis.txt" 2>&1
status=$?
cd "$root"
set -e
# The summary; on a failure, everything before it too (each failing case with its reproduction).
if [ "$status" = 0 ]; then tail -n 40 "$work/schemathesis.txt"; else cat "$work/schemathesis.txt"; fi
# What the gateway answered during the run, by status (from its own metrics).
curl -sSf "$gateway/metrics" | python3 -c '
import collections, re, sys
counts = collections.Counter()
for line in sys.stdin:
    m = re.match(r"shequ_gateway_http_requests_total\{.*status=\"(\d+)\"\} (\d+)", line)
    if m:
        counts[m.group(1)] += int(m.group(2))
print("gateway responses by status:", dict(sorted(counts.items())))
'
[ "$status" = 0 ] || { echo "schemathesis reported failures (exit $status)"; exit 1; }
cases=$(grep -Eo '([0-9]+) generated' "$work/schemathesis.txt" | tail -n1 | grep -Eo '^[0-9]+')
[ -n "$cases" ] && [ "$cases" -ge "$min_cases" ] || { echo "only ${cases:-0} cases generated, need $min_cases"; exit 1; }
echo "schemathesis (--checks all): $cases cases, no server errors, no responses outside the document, invalid input refused, valid input accepted (but for beyond_schema.toml)"
