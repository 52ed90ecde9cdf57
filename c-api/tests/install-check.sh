#!/usr/bin/env bash
# Checks an installed libzkha (make install PREFIX=DIR) the way a packager and a C/C++ user
# would: a SONAME and a versioned file with its links; stripped libraries with their debug
# info beside them; zkha.pc without an rpath; no absolute path in the package files; and,
# from a moved copy of the tree, a CMake project with find_package(zkha 0.1 REQUIRED) that
# builds, links (shared and static) and runs a session against a test-kit ensemble, while
# find_package(zkha 0.2) is refused. Usage: c-api/tests/install-check.sh PREFIX
set -euo pipefail
prefix=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
fail() { echo "install-check: $*" >&2; exit 1; }
lib=$(ls "$prefix"/lib/libzkha.so.*.*.* 2>/dev/null | head -1)
[[ -n $lib ]] || fail "no libzkha.so.<version> in $prefix/lib"
version=${lib##*/libzkha.so.}
major=${version%%.*}

soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[[ $soname == "libzkha.so.$major" ]] || fail "$lib: SONAME '$soname', expected libzkha.so.$major"
[[ $(readlink "$prefix/lib/libzkha.so.$major") == "libzkha.so.$version" ]] || fail "libzkha.so.$major does not link to libzkha.so.$version"
[[ $(readlink "$prefix/lib/libzkha.so") == "libzkha.so.$major" ]] || fail "libzkha.so does not link to libzkha.so.$major"
if readelf -S "$lib" | grep -q '\.debug_info'; then fail "$lib carries debug info"; fi
readelf -S "$prefix/lib/.debug/libzkha.so.$version.debug" | grep -q '\.debug_info' \
  || fail "no debug info in lib/.debug/libzkha.so.$version.debug"
"$root/scripts/check-debuglink" "$lib" "$prefix/lib/.debug/libzkha.so.$version.debug" >/dev/null
if readelf -S "$prefix/lib/libzkha.a" 2>/dev/null | grep -q '\.debug_info'; then fail "libzkha.a carries debug info"; fi

export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
libs=$(pkg-config --libs zkha)
[[ $libs != *rpath* ]] || fail "pkg-config --libs zkha forces an rpath: $libs"
[[ $(pkg-config --modversion zkha) == "$version" ]] || fail "zkha.pc version $(pkg-config --modversion zkha), library $version"
# ZKHA_BUILT_PREFIX: where the tree was installed, when PREFIX is an unpacked copy of it.
for p in "$prefix" ${ZKHA_BUILT_PREFIX:+"$ZKHA_BUILT_PREFIX"}; do
  if grep -rl "$p" "$prefix/lib/pkgconfig" "$prefix/lib/cmake"; then fail "absolute paths of $p in the package files above"; fi
done

# The tree moved elsewhere still works (relocatable), from CMake.
moved=$(mktemp -d)
trap 'rm -rf "$moved"' EXIT
cp -a "$prefix" "$moved/zkha"
pc_inc=$(PKG_CONFIG_PATH=$moved/zkha/lib/pkgconfig pkg-config --cflags zkha)
[[ $pc_inc == *"$moved/zkha/lib/pkgconfig/../../include"* ]] || fail "moved zkha.pc gives $pc_inc"
cmake -S "$here/consumer" -B "$moved/build" -DCMAKE_PREFIX_PATH="$moved/zkha" >/dev/null
cmake --build "$moved/build" >/dev/null
readelf -d "$moved/build/consumer" | grep -q "NEEDED.*\[libzkha.so.$major\]" || fail "consumer does not record libzkha.so.$major"
if readelf -d "$moved/build/consumer_static" | grep -q 'libzkha'; then fail "consumer_static needs libzkha.so"; fi
. "$root/scripts/lib/ensemble.sh"
trap 'ensemble_stop_all; rm -rf "$moved"' EXIT
ensemble_start ens
export ZKHA_TEST_CONNECT=$(json_get "$ens" '["connect_string"]')
"$moved/build/consumer" | grep -q "^zkha $version$" || fail "consumer did not run"
"$moved/build/consumer_static" | grep -q "^session 0x" || fail "consumer_static opened no session"
if cmake -S "$here/consumer" -B "$moved/build-02" -DCMAKE_PREFIX_PATH="$moved/zkha" -DZKHA_WANT=0.2 >/dev/null 2>&1; then
  fail "find_package(zkha 0.2) accepted version $version"
fi
echo "install-check: libzkha $version (SONAME libzkha.so.$major) in $prefix: stripped with debug info beside it, zkha.pc without rpath, relocatable; a CMake project (find_package(zkha 0.1), shared and static) builds and runs from a moved copy; 0.2 is refused"
