#!/usr/bin/env bash
# Keyward's benchmark suite (issue 12), in one run: reads against an nginx ceiling, AWS calls per
# operation at an empty and a full Region, sync at scale against LocalStack's saturated rate
# (and under [aws_rate_limits]), the store at 100,000 records, and the write baseline against a
# boto3 script. Not part of the test command. Usage:
#
#   scripts/bench.sh                 # the issue's sizes (about 20-30 minutes on 2 cores)
#   BENCH_QUICK=1 scripts/bench.sh   # 1,000 keys, 10,000 records, 3 s wrk runs (a few minutes)
#
# Sizes and knobs (environment; the defaults are the issue's):
#   BENCH_KEYS=10000          keys and aliases made in LocalStack's big Region (ops at scale, the sync)
#   BENCH_SYNC_SMALL=1000     keys of the small sync (peak RSS at 1k vs BENCH_KEYS)
#   BENCH_STORE_RECORDS=100000 records seeded for the store phase
#   BENCH_CREATES=50          creates of the write baseline (each side)
#   BENCH_WRK_SECS=10 BENCH_WRK_THREADS=2 BENCH_WRK_CONNS=64   the read runs
#   BENCH_STORE_SECS=3        each store query's wrk run (1 thread, 1 connection: its p50)
#   BENCH_SATURATE_SECS=10    LocalStack's saturated-rate measurement, per level of concurrency
#   BENCH_SATURATE_LEVELS=1x4,1x16,2x8,2x16   its levels (processes x threads); the best counts
#   BENCH_DRIVER_PROCS=2 BENCH_DRIVER_THREADS=16   the parallel boto3 driver making the keys
#   BENCH_RATE_FRACTION=0.5   [aws_rate_limits] as this fraction of the saturated rate
#   BENCH_PHASES="writes ops sync limited reads store"   a subset runs only those
#   KEYWARD_BIN=path          use this binary instead of building target/release/keyward
#   BENCH_OUT=dir             also copy the results (JSON, logs, report.txt) there
#   BENCH_KEEP=1              keep the work directory under /tmp
#
# It installs wrk and nginx (Debian packages) when missing, builds Keyward in release, starts
# LocalStack (scripts/localstack.sh), Keyward (fresh data directories, their self-signed
# certificates) and nginx, and stops every process it started (by PID) on exit, failure included.
# Timings are only valid on an otherwise idle machine: the load average is printed with them.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

if [ "${BENCH_QUICK:-0}" = 1 ]; then
  : "${BENCH_KEYS:=1000}" "${BENCH_SYNC_SMALL:=200}" "${BENCH_STORE_RECORDS:=10000}" "${BENCH_CREATES:=10}"
  : "${BENCH_WRK_SECS:=3}" "${BENCH_STORE_SECS:=1}" "${BENCH_SATURATE_SECS:=3}"
fi
BENCH_KEYS=${BENCH_KEYS:-10000}
BENCH_SYNC_SMALL=${BENCH_SYNC_SMALL:-1000}
BENCH_STORE_RECORDS=${BENCH_STORE_RECORDS:-100000}
BENCH_CREATES=${BENCH_CREATES:-50}
BENCH_WRK_SECS=${BENCH_WRK_SECS:-10}
BENCH_WRK_THREADS=${BENCH_WRK_THREADS:-2}
BENCH_WRK_CONNS=${BENCH_WRK_CONNS:-64}
BENCH_STORE_SECS=${BENCH_STORE_SECS:-3}
BENCH_SATURATE_SECS=${BENCH_SATURATE_SECS:-10}
BENCH_DRIVER_PROCS=${BENCH_DRIVER_PROCS:-2}
BENCH_DRIVER_THREADS=${BENCH_DRIVER_THREADS:-16}
BENCH_RATE_FRACTION=${BENCH_RATE_FRACTION:-0.5}
BENCH_SATURATE_LEVELS=${BENCH_SATURATE_LEVELS:-1x4,1x16,2x8,2x16}
BENCH_PHASES=${BENCH_PHASES:-writes ops sync limited reads store}

# Regions of LocalStack: each measurement has its own.
R_EMPTY=us-east-2        # ops at 0 keys
R_EMPTY_P=us-west-1      # the multi-Region primary replicated into R_EMPTY
R_BIG=eu-west-1          # BENCH_KEYS keys and aliases: ops at scale, the big sync, the saturation
R_BIG_P=eu-west-2        # the multi-Region primary replicated into R_BIG
R_SMALL=eu-central-1     # BENCH_SYNC_SMALL keys: the small sync, the filtered read page
R_WRITE_KW=ap-south-1    # the write baseline through Keyward
R_WRITE_PY=ap-southeast-1  # the write baseline's boto3 script
STORE_REGIONS=(us-east-1 us-west-2 eu-north-1 ap-northeast-1)

phase() { case " $BENCH_PHASES " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
step() { printf '\n==> [%s] %s (load %s)\n' "$(date -u +%H:%M:%S)" "$*" "$(cut -d' ' -f1-3 /proc/loadavg)" >&2; }
die() { echo "bench: $*" >&2; exit 1; }

LS_HOME="${KEYWARD_LOCALSTACK_HOME:-$HOME/.cache/keyward/localstack-4.10.0}"
PY="$LS_HOME/venv/bin/python"
DRIVER="$ROOT/scripts/bench/driver.py"
LUA="$ROOT/scripts/bench/report.lua"
export KEYWARD_ADMIN_PASSWORD="bench-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export KEYWARD_TOKEN_TTL_SECS=86400

WORK=$(mktemp -d /tmp/keyward-bench.XXXXXX)
chmod 755 "$WORK"   # nginx's workers (nobody) read its www directory
RES="$WORK/results"
mkdir -p "$RES"
KW_PIDS=()   # Keyward servers: SIGTERM, then SIGKILL
LS_PIDS=()   # LocalStack: SIGKILL (it keeps no state; SIGTERM can hang)
NGINX_PID=""

alive() { [ -d "/proc/$1" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }
stop_pid() {  # PID: SIGTERM, up to 10 s, then SIGKILL
  local pid=$1
  alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do alive "$pid" || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}
cleanup() {
  local rc=$?
  set +e
  [ -n "$NGINX_PID" ] && stop_pid "$NGINX_PID"
  for pid in "${KW_PIDS[@]}"; do stop_pid "$pid"; done
  for pid in "${LS_PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
  if [ -n "${BENCH_OUT:-}" ]; then
    mkdir -p "$BENCH_OUT" && cp -r "$RES"/. "$BENCH_OUT"/ && cp "$WORK"/*.log "$BENCH_OUT"/ 2>/dev/null
  fi
  if [ "${BENCH_KEEP:-0}" = 1 ] || [ $rc -ne 0 ]; then
    echo "bench: work directory kept: $WORK" >&2
  else
    rm -rf "$WORK"
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

jget() { "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval("d"+sys.argv[2]))' "$1" "$2"; }
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# --- tools
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx)
if [ ${#need[@]} -gt 0 ]; then
  step "installing ${need[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  # The nginx package would start a server on port 80: a policy-rc.d (as in Docker images)
  # stops that; one is put in place only for the install when there is none.
  made_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    made_policy=1
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" </dev/null
  [ $made_policy = 1 ] && $SUDO rm -f /usr/sbin/policy-rc.d
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
scripts/localstack.sh install

# --- Keyward
if [ -n "${KEYWARD_BIN:-}" ]; then
  BIN=$KEYWARD_BIN
else
  step "building Keyward (release)"
  cargo build --release -p keyward
  BIN="$ROOT/target/release/keyward"
fi
[ -x "$BIN" ] || die "no binary at $BIN"

MACHINE="$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/^Mem:/{print $2}') GiB RAM"
"$PY" - "$RES/config.json" <<PYEOF
import json, sys
json.dump({"date": "$(date -u +%Y-%m-%dT%H:%M:%SZ)", "machine": "$MACHINE", "load_before": "$(cut -d' ' -f1-3 /proc/loadavg)",
           "commit": "$(git rev-parse --short HEAD 2>/dev/null || echo '?')",
           "sizes": {"keys": $BENCH_KEYS, "sync_small": $BENCH_SYNC_SMALL, "store_records": $BENCH_STORE_RECORDS,
                     "creates": $BENCH_CREATES, "wrk_secs": $BENCH_WRK_SECS, "wrk_threads": $BENCH_WRK_THREADS,
                     "wrk_conns": $BENCH_WRK_CONNS, "store_secs": $BENCH_STORE_SECS, "saturate_secs": $BENCH_SATURATE_SECS,
                     "driver": "${BENCH_DRIVER_PROCS}x${BENCH_DRIVER_THREADS}", "rate_fraction": $BENCH_RATE_FRACTION}},
          open(sys.argv[1], "w"))
PYEOF

# start_keyward NAME [KEY=VALUE ...]: a fresh server; sets KW_PID, KW_URL, KW_DATA
start_keyward() {
  local name=$1; shift
  local port; port=$(free_port)
  KW_DATA="$WORK/$name"
  KW_URL="https://127.0.0.1:$port"
  local envs=()
  for e in "$@"; do envs+=(--env "$e"); done
  "$PY" "$DRIVER" start --bin "$BIN" --listen "127.0.0.1:$port" --data-dir "$KW_DATA" \
    --log "$WORK/$name.log" --settle "${SETTLE:-0}" "${envs[@]}" >"$RES/start_$name.json"
  KW_PID=$(jget "$RES/start_$name.json" '["pid"]')
  KW_PIDS+=("$KW_PID")
}
# setup NAME KMS REGION...: log in, add the connection and a container; sets TOKEN
setup() {
  local name=$1 kms=$2; shift 2
  "$PY" "$DRIVER" setup --url "$KW_URL" --password "$KEYWARD_ADMIN_PASSWORD" --endpoint "$LS" --kms "$kms" \
    --regions "$@" >"$RES/setup_$name.json"
  TOKEN=$(jget "$RES/setup_$name.json" '["token"]')
}
# wrk_json THREADS CONNS SECS URL: wrk's own output to wrk.log, its JSON line to stdout
wrk_json() {
  local o
  # --timeout 30s: wrk's default (2 s) drops slower answers from the latency figures
  o=$(wrk -t"$1" -c"$2" -d"$3"s --timeout 30s --latency -s "$LUA" -H "Authorization: Bearer $TOKEN" "$4")
  printf '%s\n%s\n' "--- wrk -t$1 -c$2 -d$3s $4" "$o" >>"$WORK/wrk.log"
  sed -n 's/^WRKJSON //p' <<<"$o"
}

step "starting LocalStack"
read -r LS_PID LS_PORT < <(scripts/localstack.sh start "$WORK/localstack")
LS_PIDS+=("$LS_PID")
LS="http://127.0.0.1:$LS_PORT"

if phase ops || phase sync || phase limited; then
  step "making $BENCH_KEYS keys and aliases in $R_BIG and $BENCH_SYNC_SMALL in $R_SMALL, in LocalStack directly"
  "$PY" "$DRIVER" populate --endpoint "$LS" --region "$R_BIG" --count "$BENCH_KEYS" --prefix big --aliases \
    --procs "$BENCH_DRIVER_PROCS" --threads "$BENCH_DRIVER_THREADS" | tee "$RES/populate_big.json" >&2
  "$PY" "$DRIVER" populate --endpoint "$LS" --region "$R_SMALL" --count "$BENCH_SYNC_SMALL" --prefix small --aliases \
    --procs "$BENCH_DRIVER_PROCS" --threads "$BENCH_DRIVER_THREADS" | tee "$RES/populate_small.json" >&2
fi

step "starting Keyward (fresh data directory)"
start_keyward main
echo "Keyward pid $KW_PID at $KW_URL, up in $(jget "$RES/start_main.json" '["startup_secs"]') s" >&2
MAIN_PID=$KW_PID MAIN_URL=$KW_URL MAIN_DATA=$KW_DATA
setup main bench "$R_EMPTY" "$R_EMPTY_P" "$R_BIG" "$R_BIG_P" "$R_SMALL" "$R_WRITE_KW"
MAIN_TOKEN=$TOKEN

if phase writes || phase reads; then
  step "write baseline: $BENCH_CREATES creates through Keyward, then the same AWS calls by a boto3 script"
  "$PY" "$DRIVER" creates --url "$MAIN_URL" --token "$MAIN_TOKEN" --kms bench --region "$R_WRITE_KW" \
    --count "$BENCH_CREATES" | tee "$RES/creates.json" >&2
  "$PY" "$DRIVER" baseline --endpoint "$LS" --region "$R_WRITE_PY" --count "$BENCH_CREATES" | tee "$RES/baseline.json" >&2
fi

if phase ops; then
  step "AWS calls per operation: an empty Region, then $R_BIG with $BENCH_KEYS keys and aliases"
  "$PY" "$DRIVER" ops --url "$MAIN_URL" --token "$MAIN_TOKEN" --kms bench --region "$R_EMPTY" \
    --primary-region "$R_EMPTY_P" --label empty >"$RES/ops_0.json"
  "$PY" "$DRIVER" ops --url "$MAIN_URL" --token "$MAIN_TOKEN" --kms bench --region "$R_BIG" \
    --primary-region "$R_BIG_P" --label big >"$RES/ops_big.json"
fi

if phase sync || phase limited; then
  step "sync of $R_SMALL ($BENCH_SYNC_SMALL keys), then of $R_BIG ($BENCH_KEYS keys)"
  "$PY" "$DRIVER" sync --url "$MAIN_URL" --token "$MAIN_TOKEN" --kms bench --region "$R_SMALL" --pid "$MAIN_PID" \
    | tee "$RES/sync_small.json" >&2
  "$PY" "$DRIVER" sync --url "$MAIN_URL" --token "$MAIN_TOKEN" --kms bench --region "$R_BIG" --pid "$MAIN_PID" \
    | tee "$RES/sync_big.json" >&2
  step "LocalStack's saturated call rate for the big sync's mix (processes x threads $BENCH_SATURATE_LEVELS, $BENCH_SATURATE_SECS s each)"
  MIX=$("$PY" -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["aws_calls"]))' "$RES/sync_big.json")
  "$PY" "$DRIVER" saturate --endpoint "$LS" --region "$R_BIG" --mix "$MIX" --secs "$BENCH_SATURATE_SECS" \
    --levels "$BENCH_SATURATE_LEVELS" | tee "$RES/saturate.json" >&2
fi

if phase reads; then
  step "reads: Keyward vs nginx serving the same bytes"
  ONE_ID=$(jget "$RES/creates.json" '["first_id"]')
  READ_NAMES=("GET /cckm/aws/keys/{id}" "GET /cckm/aws/keys?limit=100" "GET /cckm/aws/keys?region=$R_SMALL&limit=100")
  READ_PATHS=("/api/v1/cckm/aws/keys/$ONE_ID" "/api/v1/cckm/aws/keys?limit=100" "/api/v1/cckm/aws/keys?region=$R_SMALL&limit=100")
  READ_GOALS=(0.5 0.3 0.3)
  NG="$WORK/nginx"
  mkdir -p "$NG/www" "$NG/tmp"
  nginx_args=()
  for i in "${!READ_PATHS[@]}"; do
    "$PY" "$DRIVER" get --url "$MAIN_URL" --token "$MAIN_TOKEN" --path "${READ_PATHS[$i]}" --out "$NG/www/r$i.json" \
      >"$RES/body_$i.json"
    nginx_args+=(--path "${READ_PATHS[$i]}" --file "r$i.json")
  done
  chmod -R a+rX "$NG"
  CTYPE=$(jget "$RES/body_0.json" '["content_type"]')
  NG_PORT=$(free_port)
  "$PY" "$DRIVER" nginx-conf --dir "$NG" --cert "$MAIN_DATA/tls/cert.pem" --key "$MAIN_DATA/tls/key.pem" \
    --content-type "$CTYPE" --port "$NG_PORT" --workers auto "${nginx_args[@]}" >"$NG/nginx.conf"
  "$NGINX" -p "$NG" -c "$NG/nginx.conf" -g 'daemon off;' 2>>"$WORK/nginx.log" &
  NGINX_PID=$!
  for _ in $(seq 1 50); do curl -sk -o /dev/null "https://127.0.0.1:$NG_PORT/" && break; sleep 0.1; done
  for i in "${!READ_PATHS[@]}"; do  # byte-identical bodies, same Content-Type, TLS 1.3 on both
    a=$(curl -sk --tlsv1.3 -H "Authorization: Bearer $MAIN_TOKEN" "$MAIN_URL${READ_PATHS[$i]}" | sha256sum)
    b=$(curl -sk --tlsv1.3 "https://127.0.0.1:$NG_PORT${READ_PATHS[$i]}" | sha256sum)
    [ "$a" = "$b" ] || die "nginx's copy of ${READ_PATHS[$i]} differs from Keyward's answer"
    ca=$(curl -sk -o /dev/null -w '%{content_type}' -H "Authorization: Bearer $MAIN_TOKEN" "$MAIN_URL${READ_PATHS[$i]}")
    cb=$(curl -sk -o /dev/null -w '%{content_type}' "https://127.0.0.1:$NG_PORT${READ_PATHS[$i]}")
    [ "$ca" = "$cb" ] || die "Content-Type differs: Keyward '$ca', nginx '$cb'"
  done
  TOKEN=$MAIN_TOKEN
  : >"$RES/reads.lines"
  for i in "${!READ_PATHS[@]}"; do
    step "wrk ${READ_NAMES[$i]}"
    n=$(wrk_json "$BENCH_WRK_THREADS" "$BENCH_WRK_CONNS" "$BENCH_WRK_SECS" "https://127.0.0.1:$NG_PORT${READ_PATHS[$i]}")
    k=$(wrk_json "$BENCH_WRK_THREADS" "$BENCH_WRK_CONNS" "$BENCH_WRK_SECS" "$MAIN_URL${READ_PATHS[$i]}")
    echo "${READ_NAMES[$i]}|$(jget "$RES/body_$i.json" '["bytes"]')|$(jget "$RES/body_$i.json" '["records"]')|${READ_GOALS[$i]}|$k|$n" >>"$RES/reads.lines"
    echo "  Keyward $k" >&2
    echo "  nginx   $n" >&2
  done
  stop_pid "$NGINX_PID"; NGINX_PID=""
  "$PY" - "$RES/reads.lines" "$RES/reads.json" <<'PYEOF'
import json, sys
rows = []
def fig(w):
    w = json.loads(w)
    return {"rps": w["requests"] / (w["duration_us"] / 1e6), "p50_ms": w["p50_us"] / 1000, "p99_ms": w["p99_us"] / 1000,
            "errors": w["errors"] + w["status_errors"], "requests": w["requests"]}
for line in open(sys.argv[1]):
    name, size, records, goal, k, n = line.rstrip("\n").split("|")
    r = {"name": name, "bytes": int(size), "records": int(records), "goal_ratio": float(goal), "keyward": fig(k), "nginx": fig(n)}
    if name.endswith("{id}"):
        r["goal_p99_ms"] = 5
    rows.append(r)
json.dump(rows, open(sys.argv[2], "w"))
PYEOF
fi
step "stopping Keyward (main)"
stop_pid "$MAIN_PID"

if phase limited; then
  MIXJSON=$(cat "$RES/sync_big.json") SAT=$(cat "$RES/saturate.json") "$PY" - "$BENCH_RATE_FRACTION" >"$RES/limits.json" <<'PYEOF'
import json, os, sys
f = float(sys.argv[1])
calls = json.loads(os.environ["MIXJSON"])["aws_calls"]
rate = json.loads(os.environ["SAT"])["calls_per_sec"]
total = sum(calls.values())
# Operations with at least 5% of the calls get a quota: their share of f x the saturated rate.
limits = {op: max(1.0, round(f * rate * c / total, 1)) for op, c in calls.items() if c >= 0.05 * total}
# A token bucket starts full with one second's worth: that much goes at once.
min_allowed = max([total / rate] + [(calls[op] - l) / l for op, l in limits.items()])
print(json.dumps({"limits": limits, "min_allowed_secs": min_allowed, "env": ",".join(f"{k}={v}" for k, v in limits.items())}))
PYEOF
  LIMITS=$(jget "$RES/limits.json" '["env"]')
  step "sync of $R_BIG under KEYWARD_AWS_RATE_LIMITS=$LIMITS (a fresh Keyward)"
  start_keyward limited "KEYWARD_AWS_RATE_LIMITS=$LIMITS"
  setup limited bench "$R_BIG"
  "$PY" "$DRIVER" sync --url "$KW_URL" --token "$TOKEN" --kms bench --region "$R_BIG" --pid "$KW_PID" \
    | tee "$RES/sync_limited_raw.json" >&2
  stop_pid "$KW_PID"
  "$PY" -c 'import json,sys; a=json.load(open(sys.argv[1])); a.update(json.load(open(sys.argv[2]))); json.dump(a, open(sys.argv[3],"w"))' \
    "$RES/sync_limited_raw.json" "$RES/limits.json" "$RES/sync_limited.json"
fi

if phase store; then
  step "store: $BENCH_STORE_RECORDS records seeded with keyward admin seed-bench-records"
  start_keyward store
  setup store store "${STORE_REGIONS[@]}"
  stop_pid "$KW_PID"
  t0=$(date +%s%N)
  "$BIN" admin seed-bench-records --data-dir "$KW_DATA" --count "$BENCH_STORE_RECORDS" --kms store >&2
  SEED_MS=$(( ($(date +%s%N) - t0) / 1000000 ))
  echo "seeded in $SEED_MS ms" >&2
  STORE_DATA=$KW_DATA
  # the same data directory, restarted: start-up to the first HTTPS answer, then idle RSS
  port=$(free_port)
  KW_URL="https://127.0.0.1:$port"
  "$PY" "$DRIVER" start --bin "$BIN" --listen "127.0.0.1:$port" --data-dir "$STORE_DATA" \
    --log "$WORK/store.log" --settle 3 >"$RES/start_store_seeded.json"
  KW_PID=$(jget "$RES/start_store_seeded.json" '["pid"]')
  KW_PIDS+=("$KW_PID")
  cat "$RES/start_store_seeded.json" >&2
  mid=$((BENCH_STORE_RECORDS / 2))
  last=$((BENCH_STORE_RECORDS > 100 ? BENCH_STORE_RECORDS - 100 : 0))
  curl -sk -H "Authorization: Bearer $TOKEN" "$KW_URL/api/v1/cckm/aws/keys?skip=$mid&limit=1" >"$WORK/sample.json"
  S_ID=$(jq -r '.resources[0].id' "$WORK/sample.json")
  S_KEYID=$(jq -r '.resources[0].aws_param.KeyID' "$WORK/sample.json")
  S_ARN=$(jq -r '.resources[0].aws_param.Arn' "$WORK/sample.json")
  S_ALIAS=$(jq -r '.resources[0].aws_param.Alias[0]' "$WORK/sample.json" | sed 's|^alias/||')
  S_KMSID=$(jq -r '.resources[0].kms_id' "$WORK/sample.json")
  QUERIES=(
    "skip=0&limit=100" "skip=$mid&limit=100" "skip=$last&limit=100"
    "id=$S_ID&limit=100" "keyid=$S_KEYID&limit=100" "arn=$S_ARN&limit=100" "alias=$S_ALIAS&limit=100"
    "kms=store&limit=100" "kms_id=$S_KMSID&limit=100" "region=${STORE_REGIONS[2]}&limit=100" "cloud_name=aws&limit=100"
    "origin=EXTERNAL&limit=100" "keystate=Disabled&limit=100" "keyusage=SIGN_VERIFY&limit=100"
    "CustomerMasterKeySpec=RSA_2048&limit=100" "enabled=false&limit=100" "gone=false&limit=100"
    "key_material_origin=cckm&limit=100" "multi_region=true&limit=100" "multi_region_key_type=PRIMARY&limit=100"
    "rotation_job_enabled=false&limit=100" "job_config_id=00000000-0000-4000-8000-000000000000&limit=100"
    "tags=env=prod&limit=100" "tags=team&limit=100" "expiring_within=30d&limit=100"
    "keystate=Disabled&skip=$((BENCH_STORE_RECORDS / 20))&limit=100" "region=${STORE_REGIONS[2]}&skip=$((BENCH_STORE_RECORDS / 8))&limit=100"
    "sort=-createdAt&limit=100"
  )
  : >"$RES/store.lines"
  for q in "${QUERIES[@]}"; do
    url="$KW_URL/api/v1/cckm/aws/keys?$q"
    total=$(curl -sk -H "Authorization: Bearer $TOKEN" "$url" | jq -r '.total // "?"')
    w=$(wrk_json 1 1 "$BENCH_STORE_SECS" "$url")
    echo "$q|$total|$w" >>"$RES/store.lines"
    echo "  $q: total $total $w" >&2
  done
  sleep 2
  IDLE_AFTER=$(awk '/^VmRSS:/{print $2}' "/proc/$KW_PID/status")
  stop_pid "$KW_PID"
  "$PY" - "$RES/store.lines" "$RES/start_store_seeded.json" "$BENCH_STORE_RECORDS" "$IDLE_AFTER" "$RES/store.json" "$SEED_MS" <<'PYEOF'
import json, sys
start = json.load(open(sys.argv[2]))
qs = []
for line in open(sys.argv[1]):
    q, total, w = line.rstrip("\n").split("|", 2)
    w = json.loads(w)
    qs.append({"query": "GET /cckm/aws/keys?" + q, "total": total, "p50_ms": w["p50_us"] / 1000,
               "p99_ms": w["p99_us"] / 1000, "requests": w["requests"], "errors": w["errors"] + w["status_errors"]})
json.dump({"records": int(sys.argv[3]), "startup_secs": start["startup_secs"], "idle_rss_kib": start["rss_kib_after_settle"],
           "idle_rss_after_kib": int(sys.argv[4]), "seed_ms": int(sys.argv[6]), "queries": qs}, open(sys.argv[5], "w"))
PYEOF
fi

"$PY" -c 'import json,sys; c=json.load(open(sys.argv[1])); c["load_after"]=open("/proc/loadavg").read().split()[:3]; c["load_after"]=" ".join(c["load_after"]); json.dump(c, open(sys.argv[1],"w"))' "$RES/config.json"
step "report"
"$PY" "$DRIVER" report --dir "$RES" | tee "$RES/report.txt"
