#!/usr/bin/env bash
# Runs the C/C++ suite (CTest) against a test-kit ensemble: plain, under AddressSanitizer /
# LeakSanitizer, and under valgrind. Usage: c-api/tests/run.sh [plain|asan|valgrind|all]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
root=$(cd "$here/.." && pwd)
mode=${1:-all}
testkit="$root/target/debug/zkha-testkit"
json=$("$testkit" ensemble start --nodes 1 --owner-pid $$ --json)
handle=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["handle"])' <<<"$json")
export ZKHA_TEST_CONNECT=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["connect_string"])' <<<"$json")
trap '"$testkit" ensemble stop "$handle" >/dev/null 2>&1 || true' EXIT
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
  for t in errors election revoke locks stores flink_config; do
    ZKHA_TEST_SLOW=1 valgrind --quiet --leak-check=full --show-possibly-lost=no --errors-for-leak-kinds=definite,indirect --error-exitcode=9 \
      "$root/target/c-tests/test_zkha" "$t"
  done
  echo "valgrind: 0 errors, 0 definite/indirect leaks"
fi
