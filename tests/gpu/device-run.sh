#!/usr/bin/env bash
# Runs on a borrowed GPU machine, over the working tree with gpukit/ (tests/gpu/kit.sh) carried along: unpacks
# the kit, finds the machine's own cuDNN and cuBLAS (the system's, else CUDA_HOME's, else a Python wheel's:
# a CUDA image with PyTorch has cuDNN only as nvidia-cudnn), says what the machine is, then runs within
# BUDGET seconds (default 540, so that one 600 s call holds it all):
#   tests   tests/gpu/run.sh with the kit's programs and its FSDD copy
#   bench   bench/gpu/run.sh against the machine's python3 (PyTorch), resnet18 first, until the budget ends
#   memcheck  compute-sanitizer over tests/gpu/layers (not by default: add it to PHASES)
#   profile   Nsight Compute's kernel times over bench/gpu's training steps of PROFILE_ARCH (resnet18) at
#             batch 64, summed per kernel name, the 25 largest (not by default)
# Environment: PHASES (default "tests bench"), BUDGET, ARCHS (bench's order), OUT (logs: device.log, the
# whole output; gpu-tests.log; bench.log). A library that still cannot be found ends the run at once, naming it.
# Usage (device run): carry ["gpukit"], command "bash tests/gpu/device-run.sh", timeout_s 600.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
t0=$(date +%s)
BUDGET=${BUDGET:-540}
PHASES=${PHASES:-tests bench}
left() { echo $((t0 + BUDGET - $(date +%s))); }
OUT=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/device-run.XXXXXX")}
mkdir -p "$OUT"
say() { echo "device-run: $*"; }

main() {

[ -f gpukit/kit.tar.xz ] || { say "error: no gpukit/kit.tar.xz (tests/gpu/kit.sh makes it; carry gpukit)"; return 1; }
K=${KIT_DIR:-/tmp/gpukit}
rm -rf "$K" && mkdir -p "$K" || return 1
if command -v xz >/dev/null; then
    tar -C "$K" -xJf gpukit/kit.tar.xz
else
    python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' gpukit/kit.tar.xz "$K"
fi || { say "error: cannot unpack gpukit/kit.tar.xz"; return 1; }
K=$K/kit
sed 's/^/kit: /' "$K/MANIFEST"

# The directory holding a library, by its soname: the loader's cache, the CUDA toolkit, then the wheels
# of the machine's python3 (nvidia/*/lib).
lib_dir() {
    local f d
    f=$(ldconfig -p 2>/dev/null | awk -v n="$1" '$1 == n {print $NF; exit}')
    [ -n "$f" ] && { dirname "$f"; return 0; }
    for d in "${CUDA_HOME:-/usr/local/cuda}/lib64" /usr/local/cuda/lib64 /usr/local/cuda/lib /usr/lib/x86_64-linux-gnu; do
        [ -e "$d/$1" ] && { echo "$d"; return 0; }
    done
    python3 - "$1" 2>/dev/null <<'PY'
import glob, os, site, sys
for sp in site.getsitepackages() + [site.getusersitepackages()]:
    for f in sorted(glob.glob(os.path.join(sp, "nvidia", "*", "lib", sys.argv[1]))):
        print(os.path.dirname(f)); sys.exit(0)
sys.exit(1)
PY
}
LDP=$K/lib
for so in libcudart.so.13 libcublasLt.so.13 libcublas.so.13 libcudnn.so.9; do
    d=$(lib_dir $so) || { say "error: $so not found on this machine (loader cache, CUDA_HOME, python wheels)"; return 1; }
    case ":$LDP:" in *":$d:"*) ;; *) LDP=$LDP:$d ;; esac
    say "$so from $d ($(basename "$(readlink -f "$d/$so")"))"
done
export LD_LIBRARY_PATH=$LDP${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
for p in "$K"/build/bin/* "$K"/build/tests/gpu/layers "$K"/build/bench/gpu; do
    if ldd "$p" | grep -q 'not found'; then
        say "error: $(basename "$p") cannot load: $(ldd "$p" | grep 'not found' | tr -s ' \t\n' ' ')"
        return 1
    fi
done
say "GPU: $(nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader 2>&1 | head -1)"
say "CPU: $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo), $(nproc) cores; python3 $(python3 -c \
    'import torch; print("torch", torch.__version__, "cuDNN", torch.backends.cudnn.version())' 2>&1 | tail -1)"

rc=0
for phase in $PHASES; do
    case $phase in
    memcheck)
        n=$(($(left) - 30)); [ $n -gt 240 ] && n=240
        say "memcheck: compute-sanitizer over tests/gpu/layers (at most $n s)"
        timeout $n compute-sanitizer --error-exitcode 9 --print-limit 20 "$K/build/tests/gpu/layers" \
            >"$OUT/memcheck.log" 2>&1
        r=$?
        grep -E '^(=========|not ok)' "$OUT/memcheck.log" | head -40
        say "memcheck: exit $r$([ $r = 124 ] && echo ' (timed out)')"
        [ $r = 0 ] || [ $r = 124 ] || rc=1
        ;;
    tests)
        n=$(($(left) - 30)); [ $n -gt 480 ] && n=480
        say "tests: tests/gpu/run.sh (at most $n s)"
        SHARED=$K/shared timeout $n bash tests/gpu/run.sh "$K/build/tests/gpu/layers" 2>&1 | tee "$OUT/gpu-tests.log"
        r=${PIPESTATUS[0]}
        say "tests: $(grep -c '^ok' "$OUT/gpu-tests.log") ok, $(grep -c '^not ok' "$OUT/gpu-tests.log") not ok," \
            "$(grep -c '^skip' "$OUT/gpu-tests.log") skip; exit $r$([ "$r" = 124 ] && echo ' (timed out)')"
        [ "$r" = 0 ] && ! grep -q '^not ok' "$OUT/gpu-tests.log" || rc=1
        if ! grep -q '^ok' "$OUT/gpu-tests.log"; then
            say "error: nothing ran on a GPU: $(grep -m1 '^skip' "$OUT/gpu-tests.log")"
            rc=1
        fi
        ;;
    bench)
        say "bench: bench/gpu/run.sh until $(($(left) - 10)) s from now"
        BUILD=$K/build PYPI_PY=$(command -v python3) DEADLINE=$((t0 + BUDGET - 10)) AUDIOCNN_ALGO_LOG=1 \
            ARCHS=${ARCHS:-resnet18 efficientnet_b0 baseline resnet152} bash bench/gpu/run.sh 2>&1 | tee "$OUT/bench.log"
        ;;
    profile)
        n=$(($(left) - 20)); [ $n -gt 240 ] && n=240
        a=${PROFILE_ARCH:-resnet18}
        say "profile: ncu over $a's training steps (at most $n s)"
        timeout $n ncu --csv --metrics gpu__time_duration.sum --print-units base "$K/build/bench/gpu" "$a" train 64 2 \
            >"$OUT/profile.csv" 2>"$OUT/profile.err"
        say "profile: exit $?"
        python3 - "$OUT/profile.csv" <<'PY' || tail -5 "$OUT/profile.err"
import csv, sys
rows = [r for r in csv.reader(open(sys.argv[1])) if len(r) > 5]  # the program's own lines and ==PROF== aside
h = next(i for i, r in enumerate(rows) if "Kernel Name" in r and "Metric Value" in r)
name, value = rows[h].index("Kernel Name"), rows[h].index("Metric Value")
tot, cnt = {}, {}
for r in rows[h + 1:]:
    try: v = float(r[value].replace(",", ""))
    except ValueError: continue
    k = r[name][:90]; tot[k] = tot.get(k, 0) + v; cnt[k] = cnt.get(k, 0) + 1
all_ns = sum(tot.values()) or 1
print("profile: %d launches, %.1f ms of kernel time (3 warm-up steps, then the timed ones)" % (sum(cnt.values()), all_ns / 1e6))
for k in sorted(tot, key=tot.get, reverse=True)[:25]:
    print("profile: %5.1f%% %9.3f ms %5d x  %s" % (100 * tot[k] / all_ns, tot[k] / 1e6, cnt[k], k))
PY
        ;;
    *) say "error: unknown phase $phase (tests, bench, memcheck, profile)"; rc=1 ;;
    esac
done
say "done in $(($(date +%s) - t0)) s, exit $rc"
return $rc
}
main 2>&1 | tee "$OUT/device.log"
exit "${PIPESTATUS[0]}"
