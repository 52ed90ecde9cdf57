#!/usr/bin/env bash
# Runs the C/C++ suite (CTest) against test-kit ensembles (a plain one, and TLS-only,
# DIGEST-MD5 and Kerberos ones for test_security): plain, under AddressSanitizer /
# LeakSanitizer, and under valgrind. Usage: c-api/tests/run.sh [plain|asan|valgrind|all]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
root=$(cd "$here/.." && pwd)
mode=${1:-all}
export ZKHA_TESTKIT="$root/target/debug/zkha-testkit"
. "$root/scripts/lib/ensemble.sh"
ensemble_start plain
export ZKHA_TEST_CONNECT=$(json_get "$plain" '["connect_string"]')
# Secured ensembles for test_security (docs/testkit.md): TLS-only with client certificates,
# SASL DIGEST-MD5 required (users zkha and other), and Kerberos with the kit's own KDC.
ensemble_start tls --tls
export ZKHA_TEST_TLS_CONNECT=$(json_get "$tls" '["connect_string"]') ZKHA_TEST_TLS_DIR=$(json_get "$tls" '["tls"]["dir"]')
export ZKHA_TEST_TLS_HANDLE=$(json_get "$tls" '["handle"]')
ensemble_start digest --sasl-digest zkha:secret,other:pw2
export ZKHA_TEST_DIGEST_CONNECT=$(json_get "$digest" '["connect_string"]')
export ZKHA_TEST_DIGEST_JAAS=$(json_get "$digest" '["sasl_digest"]["users"][0]["jaas"]')  # user zkha
ensemble_start krb --kerberos
export ZKHA_TEST_KRB_CONNECT=$(json_get "$krb" '["connect_string"]') ZKHA_TEST_KRB_DIR=$(json_get "$krb" '["kerberos"]["dir"]')
export ZKHA_TEST_KRB_REALM=$(json_get "$krb" '["kerberos"]["realm"]') KRB5_CONFIG=$(json_get "$krb" '["kerberos"]["krb5_conf"]')
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
