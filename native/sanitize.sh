#!/usr/bin/env bash
# Build the native core under AddressSanitizer and UndefinedBehaviorSanitizer
# in a scratch copy of the working tree (tracked and untracked files) and run
# the test suite against it.
#   native/sanitize.sh [pytest args...]
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
git -C "$src" ls-files -z --cached --others --exclude-standard | (cd "$src" && xargs -0 cp --parents -t "$work")
cp -r "$src/tests" "$work/" 2>/dev/null || true
cd "$work"
# EXTRA_CFLAGS=-DLBC_NO_COMPUTED_GOTO tests the portable switch-based loop instead.
flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g ${EXTRA_CFLAGS:-}"
CFLAGS="$flags" LDFLAGS="-fsanitize=address,undefined" python3 setup.py -q build_ext --inplace
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LIBBPF_COMPAT_SHARED="${LIBBPF_COMPAT_SHARED:-$src/../shared}"
LD_PRELOAD="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)" \
    python3 -m pytest -q -p no:cacheprovider "$@"
