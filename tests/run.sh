#!/usr/bin/env bash
# Runs every test and counts its report lines ("ok", "not ok", "skip"). Environment: BIN (tools),
# UNITS (unit test binaries), DRIVERS (C drivers the Python parity tests run), PY (Python with the references; may be missing, then those tests skip),
# GPU_TESTS (tests/gpu's program; tests/gpu/run.sh skips its groups without a GPU).
set -u
cd "$(dirname "$0")/.."
export BIN PY DRIVERS
export TESTS=$PWD/tests
export SHARED=${SHARED:-$(cd .. && pwd)/shared}
export TMPROOT=$(mktemp -d)
trap 'rm -rf "$TMPROOT"' EXIT
export TMPDIR=$TMPROOT # the Python tests' tempfile.mkdtemp() folders go with it (resnet152 fixtures: ~0.5 GB)
pass=0 fail=0 skip=0
log=$TMPROOT/log
run() { # name, command...
    local name=$1; shift
    "$@" >"$log" 2>"$log.err"
    local rc=$?
    local p f s
    p=$(grep -c '^ok ' "$log"); f=$(grep -c '^not ok ' "$log"); s=$(grep -c '^skip ' "$log")
    grep -E '^(not ok|skip) ' "$log" | sed "s|^|  [$name] |"
    if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
        echo "  [$name] not ok: exited $rc"; sed 's/^/    /' "$log.err" | tail -n 20; f=1
    fi
    [ "${VERBOSE:-0}" = 1 ] && sed "s|^|  [$name] |" "$log"
    printf '%-28s %4d passed %3d failed %3d skipped\n' "$name" "$p" "$f" "$s"
    pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
}
for u in ${UNITS:-}; do run "unit/$(basename "$u")" "$u"; done
for t in tests/cli/*.sh; do [ "$(basename "$t")" = lib.sh ] || run "cli/$(basename "$t" .sh)" bash "$t"; done
run "gpu" bash tests/gpu/run.sh
for t in tests/py/test_*.py; do
    [ -e "$t" ] || continue
    if [ -x "${PY:-}" ]; then run "py/$(basename "$t" .py)" "$PY" "$t"
    else echo "skip $(basename "$t"): no Python reference environment" >"$log"; run "py/$(basename "$t" .py)" cat "$log"; fi
done
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" = 0 ]
