#!/usr/bin/env bash
# schemathesis against the live server: starts `keyward serve` on 127.0.0.1:0 with a fresh data
# dir, logs in as admin, creates an AWS connection and a KMS container to LocalStack's KMS, then
# runs schemathesis (its own venv under ~/.cache/keyward, installed once) over every operation
# of /api/v1/openapi.json with the admin token: no server errors, status codes and response
# bodies as documented. Prints the figures (operations, requests, failures); exits non-zero on
# any failure or when fewer than KEYWARD_ST_MIN_REQUESTS requests were made.
#
# Uses the LocalStack at $KEYWARD_TEST_KMS_ENDPOINT, or starts one (scripts/localstack.sh).
# Knobs: KEYWARD_ST_MAX_TIME (seconds of generation, default 120), KEYWARD_ST_MIN_REQUESTS
# (default 1000), KEYWARD_ST_SEED, KEYWARD_BIN (default: cargo build, target/debug/keyward).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)

ST_VERSION=4.32.5
ST_HOME="${KEYWARD_SCHEMATHESIS_HOME:-$HOME/.cache/keyward/schemathesis-$ST_VERSION}"
PY="${PYTHON:-python3}"
MAX_TIME="${KEYWARD_ST_MAX_TIME:-120}"
MIN_REQUESTS="${KEYWARD_ST_MIN_REQUESTS:-1000}"

install() {
  if [ -x "$ST_HOME/venv/bin/st" ] && [ -f "$ST_HOME/.installed" ]; then
    return 0
  fi
  rm -rf "$ST_HOME"
  mkdir -p "$ST_HOME"
  "$PY" -m venv "$ST_HOME/venv"
  "$ST_HOME/venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$ST_VERSION"
  touch "$ST_HOME/.installed"
}

if [ "${1:-}" = install ]; then
  install
  exit 0
fi
install

WORK=$(mktemp -d /tmp/keyward-schemathesis.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  [ -n "${KEYWARD_ST_KEEP:-}" ] && echo "kept $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT

if [ -z "${KEYWARD_TEST_KMS_ENDPOINT:-}" ]; then
  read -r LS_PID LS_PORT < <(scripts/localstack.sh start "$WORK/localstack")
  PIDS+=("$LS_PID")
  KEYWARD_TEST_KMS_ENDPOINT="http://127.0.0.1:$LS_PORT"
fi

BIN="${KEYWARD_BIN:-}"
if [ -z "$BIN" ]; then
  cargo build --quiet -p keyward --bin keyward
  BIN="$ROOT/target/debug/keyward"
fi

PASSWORD="st-admin-password-$RANDOM$RANDOM"
KEYWARD_ADMIN_PASSWORD="$PASSWORD" KEYWARD_TOKEN_TTL_SECS=3600 KEYWARD_SCHEDULER_TICK_SECS=0 \
  KEYWARD_AWS_MAX_ATTEMPTS=2 KEYWARD_AWS_CONNECT_TIMEOUT_SECS=2 KEYWARD_AWS_ATTEMPT_TIMEOUT_SECS=10 \
  KEYWARD_AWS_OPERATION_TIMEOUT_SECS=25 \
  "$BIN" serve --listen 127.0.0.1:0 --data-dir "$WORK/data" \
  >"$WORK/server.out" 2>"$WORK/server.err" </dev/null &
PIDS+=("$!")
url=""
for _ in $(seq 1 120); do
  url=$(sed -n 's/^keyward listening on //p' "$WORK/server.out" | head -1)
  [ -n "$url" ] && break
  sleep 0.5
done
if [ -z "$url" ]; then
  echo "schemathesis: the server did not start:"; cat "$WORK/server.err"
  exit 1
fi
CA="$WORK/data/tls/cert.pem"
PYBIN="$ST_HOME/venv/bin/python"

# Log in, create what the routes work on (a connection and a KMS container to LocalStack, keys,
# a template, a job config and its run, a vault key, a sync job, a user) and write the config
# that makes schemathesis use their ids in half of the `{id}` it generates.
URL="$url" CA="$CA" PASSWORD="$PASSWORD" KMS="$KEYWARD_TEST_KMS_ENDPOINT" \
  "$PYBIN" "$ROOT/tests/schemathesis/setup.py" "$WORK/token" "$WORK/schemathesis.toml" "$WORK/openapi.json"
TOKEN=$(cat "$WORK/token")

echo "schemathesis $ST_VERSION against $url (LocalStack KMS at $KEYWARD_TEST_KMS_ENDPOINT), ${MAX_TIME}s"
st_status=0
seed_args=()
[ -n "${KEYWARD_ST_SEED:-}" ] && seed_args=(--seed "$KEYWARD_ST_SEED")
# From the temporary directory: schemathesis keeps a cache (.schemathesis/) in its working directory.
(cd "$WORK" && "$ST_HOME/venv/bin/st" --config-file "$WORK/schemathesis.toml" run "$WORK/openapi.json" \
  --url "$url" \
  --tls-verify "$CA" \
  -H "Authorization: Bearer $TOKEN" \
  --checks "${KEYWARD_ST_CHECKS:-not_a_server_error,status_code_conformance,response_schema_conformance}" \
  --max-time "$MAX_TIME" \
  --request-timeout 30 \
  --workers 2 \
  --no-color \
  --report ndjson --report-ndjson-path "$WORK/events.ndjson" \
  "${seed_args[@]}" "$@") >"$WORK/st.out" 2>&1 || st_status=$?
grep -E "Specification:|Operations:|Configuration:|Dictionaries:" "$WORK/st.out" || true
tail -80 "$WORK/st.out"

# The figures, from the run's events.
"$PYBIN" - "$WORK/events.ndjson" "$MIN_REQUESTS" "$st_status" "$WORK/openapi.json" <<'PYEOF' || exit 1
import json, sys
path, minimum, status = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
doc = json.load(open(sys.argv[4]))
documented = {f"{m.upper()} {p}" for p, item in doc["paths"].items() for m in item}
operations, requests, failures = set(), 0, {}
methods = ("GET ", "POST ", "PUT ", "PATCH ", "DELETE ")
for line in open(path):
    ev = json.loads(line)
    body = ev.get("ScenarioFinished")
    if not body:
        continue
    rec = body.get("recorder") or {}
    label = rec.get("label") or ""
    if label.startswith(methods):
        operations.add(label)
    requests += len(rec.get("interactions") or {})
    for checks in (rec.get("checks") or {}).values():
        for c in checks:
            if c.get("status") == "failure":
                f = (c.get("failure_info") or {}).get("failure") or {}
                key = ((f.get("operation") or label).strip(),
                       (f.get("title") or c.get("name") or "").strip(),
                       (f.get("message") or "").strip().split(chr(10))[0])
                failures[key] = failures.get(key, 0) + 1
for (op, title, first), n in sorted(failures.items()):
    print(f"  failure: {op}: {title}: {first} ({n}x)")
print(f"schemathesis figures: operations {len(operations)} of {len(documented)}, requests {requests}, failures {len(failures)} (exit {status})")
if status != 0 or failures:
    print("FAILED: schemathesis found failures (above)")
    sys.exit(1)
missing = sorted(documented - operations)
if missing:
    print("FAILED: operations of the document schemathesis did not test: " + ", ".join(missing))
    sys.exit(1)
if requests < minimum:
    print(f"FAILED: only {requests} requests, fewer than {minimum}")
    sys.exit(1)
PYEOF
