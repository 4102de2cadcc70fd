#!/usr/bin/env bash
# Installs (once) and starts LocalStack's KMS service on a free loopback port, as measured in
# ../shared/spec/kms-emulator.md, with STS and EC2 (through moto) for account details. Usage:
#   scripts/localstack.sh install          # create the venv if missing
#   scripts/localstack.sh start STATEDIR   # start; prints "PID PORT" on stdout when ready
set -euo pipefail

LS_HOME="${KEYWARD_LOCALSTACK_HOME:-$HOME/.cache/keyward/localstack-4.10.0}"
PY="${PYTHON:-python3}"

install() {
  if [ -x "$LS_HOME/venv/bin/python" ] && [ -f "$LS_HOME/.installed" ]; then
    # STS (GetCallerIdentity) and EC2 (DescribeRegions) answer POST /cckm/aws/accounts; LocalStack
    # serves them through moto, which installs made before that lack.
    if [ ! -f "$LS_HOME/.installed-moto" ]; then
      "$LS_HOME/venv/bin/pip" install --quiet --disable-pip-version-check 'moto-ext[ec2]==5.1.12.post22'
      touch "$LS_HOME/.installed-moto"
    fi
    return 0
  fi
  rm -rf "$LS_HOME"
  mkdir -p "$LS_HOME"
  "$PY" -m venv "$LS_HOME/venv"
  "$LS_HOME/venv/bin/pip" install --quiet --disable-pip-version-check \
    'localstack-core[base-runtime]==4.10.0' 'cbor2<6' 'pyopenssl<25' 'cryptography<45' \
    'ciphertrust-sdk' 'moto-ext[ec2]==5.1.12.post22'
  touch "$LS_HOME/.installed" "$LS_HOME/.installed-moto"
}

free_port() {
  "$PY" - <<'PYEOF'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PYEOF
}

start() {
  local dir="$1"
  mkdir -p "$dir/root"
  local port
  port=$(free_port)
  OVERRIDE_IN_DOCKER=0 GATEWAY_SERVER=hypercorn GATEWAY_LISTEN="127.0.0.1:$port" SERVICES="${KEYWARD_LOCALSTACK_SERVICES:-kms,sts,ec2}" \
    EAGER_SERVICE_LOADING=1 DNS_ADDRESS=0 DISABLE_EVENTS=1 SKIP_SSL_CERT_DOWNLOAD=1 \
    FILESYSTEM_ROOT="$dir/root" \
    setsid "$LS_HOME/venv/bin/python" -m localstack.runtime.main >"$dir/localstack.log" 2>&1 </dev/null &
  local pid=$!
  for _ in $(seq 1 120); do
    if curl -fsS "http://127.0.0.1:$port/_localstack/health" 2>/dev/null | grep -q '"kms": *"running"'; then
      echo "$pid $port"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "LocalStack exited; its log:" >&2
      tail -50 "$dir/localstack.log" >&2
      return 1
    fi
    sleep 0.5
  done
  echo "LocalStack did not become ready in 60 s; its log:" >&2
  tail -50 "$dir/localstack.log" >&2
  kill -9 "$pid" 2>/dev/null || true
  return 1
}

case "${1:-}" in
  install) install ;;
  start) install; start "${2:?state dir}" ;;
  *) echo "usage: $0 install | start STATEDIR" >&2; exit 2 ;;
esac
