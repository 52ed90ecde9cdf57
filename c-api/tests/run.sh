#!/usr/bin/env bash
# Runs the C/C++ suite (CTest) against test-kit ensembles (a plain one, and TLS-only,
# DIGEST-MD5 and Kerberos ones for test_security): plain, under AddressSanitizer /
# LeakSanitizer, and under valgrind. Usage: c-api/tests/run.sh [plain|asan|valgrind|all]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
root=$(cd "$here/.." && pwd)
mode=${1:-all}
export ZKHA_TESTKIT="$root/target/debug/zkha-testkit"
handles=()
trap 'for h in "${handles[@]}"; do "$ZKHA_TESTKIT" ensemble stop "$h" >/dev/null 2>&1 || true; done' EXIT
# start VAR ARGS...: a one-node ensemble; VAR=its JSON; its handle is stopped on exit.
start() {
  local j
  j=$("$ZKHA_TESTKIT" ensemble start --nodes 1 --owner-pid $$ --json "${@:2}")
  printf -v "$1" '%s' "$j"
  handles+=("$(jq_ "$j" '["handle"]')")
}
jq_() { python3 -c "import json,sys; print(json.load(sys.stdin)$2)" <<<"$1"; }
start plain
export ZKHA_TEST_CONNECT=$(jq_ "$plain" '["connect_string"]')
# Secured ensembles for test_security (docs/testkit.md): TLS-only with client certificates,
# SASL DIGEST-MD5 required (users zkha and other), and Kerberos with the kit's own KDC.
start tls --tls
export ZKHA_TEST_TLS_CONNECT=$(jq_ "$tls" '["connect_string"]') ZKHA_TEST_TLS_DIR=$(jq_ "$tls" '["tls"]["dir"]')
export ZKHA_TEST_TLS_HANDLE=$(jq_ "$tls" '["handle"]')
start digest --sasl-digest zkha:secret,other:pw2
export ZKHA_TEST_DIGEST_CONNECT=$(jq_ "$digest" '["connect_string"]')
export ZKHA_TEST_DIGEST_JAAS=$(jq_ "$digest" '["sasl_digest"]["users"][0]["jaas"]')  # user zkha
start krb --kerberos
export ZKHA_TEST_KRB_CONNECT=$(jq_ "$krb" '["connect_string"]') ZKHA_TEST_KRB_DIR=$(jq_ "$krb" '["kerberos"]["dir"]')
export ZKHA_TEST_KRB_REALM=$(jq_ "$krb" '["kerberos"]["realm"]') KRB5_CONFIG=$(jq_ "$krb" '["kerberos"]["krb5_conf"]')
# No ticket cache to fall back on: only a keytab can log in.
export KRB5CCNAME=FILE:/nonexistent/zkha-c-tests-ccache
export ZKHA_LOCK_HOLDER="$root/target/debug/zkha-lock"

build() { # dir, extra cmake args
  cmake -S "$here" -B "$1" -DZKHA_LIB_DIR="$root/target/debug" "${@:2}" >/dev/null
  cmake --build "$1" -j2 >/dev/null
}

if [[ $mode == plain || $mode == all ]]; then
  build "$root/target/c-tests"
  (cd "$root/target/c-tests" && ctest --output-on-failure)
fi
if [[ $mode == asan || $mode == all ]]; then
  build "$root/target/c-tests-asan" -DZKHA_ASAN=ON
  # Rust's runtime keeps a few allocations reachable until exit (statics, thread-locals);
  # LeakSanitizer reports only unreachable memory, so no suppressions are needed.
  (cd "$root/target/c-tests-asan" && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 ctest --output-on-failure)
fi
if [[ $mode == valgrind || $mode == all ]]; then
  build "$root/target/c-tests"
  vg() {
    ZKHA_TEST_SLOW=1 valgrind --quiet --leak-check=full --show-possibly-lost=no --errors-for-leak-kinds=definite,indirect --error-exitcode=9 \
      "$root/target/c-tests/$1" "$2"
  }
  for t in contract errors election revoke locks stores fences watches flink_config metrics doctor; do vg test_zkha "$t"; done
  # Not kerberos: its reverse lookup (getnameinfo) leaves glibc's per-thread resolver
  # configuration behind, which valgrind counts as lost; ASan/LSan checks that test.
  for t in options tls tls_errors digest auth_acl; do vg test_security "$t"; done
  echo "valgrind: 0 errors, 0 definite/indirect leaks"
fi
