#!/usr/bin/env bash
# Installs what the tests need and runs them all: formatting, lints, unit and integration tests
# (against LocalStack's KMS), the ciphertrust-sdk compatibility check, and schemathesis over the
# OpenAPI document against the live server (tests/schemathesis/run.sh).
# Works on a fresh machine of this kind, as root or with sudo, with or without a terminal.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

step() { printf '\n==> %s\n' "$*"; }

# --- system packages (only what is missing)
need_apt=()
command -v curl >/dev/null || need_apt+=(curl)
command -v cc >/dev/null || need_apt+=(gcc)
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
# SoftHSM2 (the HSM of the PKCS#11 tests) and pkcs11-tool (to look into its token)
[ -f /usr/lib/softhsm/libsofthsm2.so ] && command -v softhsm2-util >/dev/null || need_apt+=(softhsm2)
command -v pkcs11-tool >/dev/null || need_apt+=(opensc)
if [ ${#need_apt[@]} -gt 0 ]; then
  step "installing system packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" </dev/null
fi

# --- LocalStack (KMS emulator) and the Python packages of the compatibility check
step "installing LocalStack 4.10.0 and ciphertrust-sdk (once)"
scripts/localstack.sh install
step "installing schemathesis (once)"
tests/schemathesis/run.sh install
LS_HOME="${KEYWARD_LOCALSTACK_HOME:-$HOME/.cache/keyward/localstack-4.10.0}"

WORK=$(mktemp -d /tmp/keyward-test.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

step "starting LocalStack's KMS on 127.0.0.1"
read -r LS_PID LS_PORT < <(scripts/localstack.sh start "$WORK/localstack")
PIDS+=("$LS_PID")
export KEYWARD_TEST_KMS_ENDPOINT="http://127.0.0.1:$LS_PORT"
echo "LocalStack KMS at $KEYWARD_TEST_KMS_ENDPOINT (pid $LS_PID)"

step "creating a SoftHSM2 token for the HSM tests"
mkdir -p "$WORK/softhsm/tokens"
cat >"$WORK/softhsm/softhsm2.conf" <<CONF
directories.tokendir = $WORK/softhsm/tokens
objectstore.backend = file
log.level = ERROR
CONF
export SOFTHSM2_CONF="$WORK/softhsm/softhsm2.conf"
export KEYWARD_TEST_PKCS11_MODULE=/usr/lib/softhsm/libsofthsm2.so
export KEYWARD_TEST_PKCS11_TOKEN=keyward-test
export KEYWARD_TEST_PKCS11_PIN="test-pin-$RANDOM$RANDOM"
softhsm2-util --init-token --free --label "$KEYWARD_TEST_PKCS11_TOKEN" \
  --so-pin "so-pin-$RANDOM$RANDOM" --pin "$KEYWARD_TEST_PKCS11_PIN" >/dev/null
echo "token $KEYWARD_TEST_PKCS11_TOKEN in $WORK/softhsm/tokens"

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "cargo test"
cargo test --workspace --no-fail-fast 2>&1 | tee "$WORK/cargo-test.log"
test_status=${PIPESTATUS[0]}

step "ciphertrust-sdk compatibility (the PyPI client logs in and refreshes against Keyward)"
SDK_PASSWORD="sdk-check-password-1"
KEYWARD_ADMIN_PASSWORD="$SDK_PASSWORD" target/debug/keyward serve --listen 127.0.0.1:0 --data-dir "$WORK/sdk-data" \
  >"$WORK/sdk-server.out" 2>"$WORK/sdk-server.err" </dev/null &
PIDS+=("$!")
url=""
for _ in $(seq 1 120); do
  url=$(sed -n 's/^keyward listening on //p' "$WORK/sdk-server.out" | head -1)
  [ -n "$url" ] && break
  sleep 0.5
done
sdk_status=1
if [ -n "$url" ]; then
  KEYWARD_URL="$url" KEYWARD_USER=admin KEYWARD_PASSWORD="$SDK_PASSWORD" \
    KEYWARD_CA_CERT="$WORK/sdk-data/tls/cert.pem" \
    "$LS_HOME/venv/bin/python" tests/python/ciphertrust_sdk_login.py 2>"$WORK/sdk-client.err" && sdk_status=0
  [ $sdk_status -eq 0 ] || tail -30 "$WORK/sdk-client.err"
else
  echo "the server for the SDK check did not start:"; cat "$WORK/sdk-server.err"
fi

step "schemathesis over /api/v1/openapi.json against the live server"
st_status=0
KEYWARD_BIN="$ROOT/target/debug/keyward" tests/schemathesis/run.sh || st_status=$?

if [ "$test_status" -ne 0 ] || [ "$sdk_status" -ne 0 ] || [ "$st_status" -ne 0 ]; then
  echo "FAILED: cargo test exit $test_status, ciphertrust-sdk check exit $sdk_status, schemathesis exit $st_status"
  exit 1
fi
echo "all tests passed in ${SECONDS}s"
