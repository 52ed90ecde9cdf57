# Sourced by the shell checks (c-api/tests/run.sh, c-api/tests/install-check.sh,
# scripts/wheel-check, scripts/maven-check): one-node test-kit ensembles (docs/testkit.md),
# stopped when the sourcing script exits. A script with an EXIT trap of its own calls
# ensemble_stop_all in it.
#   ensemble_start VAR [ARGS...]  starts one (`zkha-testkit ensemble start --nodes 1 ARGS`);
#                                 VAR holds its JSON
#   json_get JSON '["key"]...'    one value of such JSON
ZKHA_TESTKIT=${ZKHA_TESTKIT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/target/debug/zkha-testkit}
export ZKHA_TESTKIT
_ensemble_handles=()

ensemble_stop_all() {
  local h
  for h in "${_ensemble_handles[@]}"; do "$ZKHA_TESTKIT" ensemble stop "$h" >/dev/null 2>&1 || true; done
  _ensemble_handles=()
}
trap ensemble_stop_all EXIT

json_get() { python3 -c "import json,sys; print(json.load(sys.stdin)$2)" <<<"$1"; }

ensemble_start() {
  local j
  j=$("$ZKHA_TESTKIT" ensemble start --nodes 1 --owner-pid $$ --json "${@:2}")
  printf -v "$1" '%s' "$j"
  _ensemble_handles+=("$(json_get "$j" '["handle"]')")
}
