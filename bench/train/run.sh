#!/usr/bin/env bash
# bench/train: baseline CNN training throughput (forward + backward + AdamW step; batch 32; input
# 1x128x400; 2 threads) of cnntrain and of the same model in PyTorch, in one run, with peak memory and
# GFLOP/s beside OpenBLAS sgemm's. Environment: BIN, PY (Debian torch), PYPI_PY (optional current torch).
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-build/bin}; PY=${PY:-.venv/bin/python}; THREADS=${THREADS:-2}; N=${N:-640}
tmp=$(mktemp -d /dev/shm/bench-train.XXXXXX 2>/dev/null || mktemp -d); trap 'rm -rf "$tmp"' EXIT
cc -O2 -I/usr/include/x86_64-linux-gnu/openblas-pthread bench/train/sgemm.c -lopenblas -o "$tmp/sgemm"
"$PY" -c "
import numpy as np
r = np.random.default_rng(0)
np.save('$tmp/x.npy', r.standard_normal(($N, 1, 128, 400)).astype(np.float32))
np.save('$tmp/x-labels.npy', r.integers(0, 10, $N).astype(np.int64))"
GF=1.107  # GFLOP per training sample: 3 x 0.369 GFLOP forward (the four 3x3 convolutions dominate)
sg=$("$tmp/sgemm" "$THREADS")
printf 'bench/train: baseline CNN, batch 32, 1x128x400, %s threads; OpenBLAS sgemm here: %s GFLOP/s\n' "$THREADS" "$sg"
t0=$(date +%s.%N)
/usr/bin/time -f '%M' -o "$tmp/rss" "$BIN/cnntrain" -q --train "$tmp/x.npy" --epochs 1 --batch 32 --no-augment \
    --no-class-weights --threads "$THREADS" -o "$tmp/m.safetensors" --state "$tmp/s.safetensors"
t1=$(date +%s.%N)
ours=$(echo "$N / ($t1 - $t0)" | bc -l); ours_rss=$(( $(cat "$tmp/rss") / 1024 ))
# share of the FMA peak (bench/peak, passed by make bench as PEAK_GFLOPS) when it is known
of_peak() { [ -n "${PEAK_GFLOPS:-}" ] && printf '  (%.0f%% of the %s GFLOP/s peak)' "$(echo "100 * $1 / $PEAK_GFLOPS" | bc -l)" "$PEAK_GFLOPS" || true; }
printf '%-32s %7.1f samples/s  %6.1f GFLOP/s  peak RSS %5d MiB%s\n' "cnntrain" "$ours" "$(echo "$ours * $GF" | bc -l)" "$ours_rss" \
    "$(of_peak "$(echo "$ours * $GF" | bc -l)")"
for pyname in PY PYPI_PY; do
    py=${!pyname:-}; [ -n "$py" ] && [ -x "$py" ] || continue
    read -r rate rss ver < <("$py" bench/train/peer.py "$THREADS" 10)
    printf '%-32s %7.1f samples/s  %6.1f GFLOP/s  peak RSS %5d MiB   cnntrain/torch: speed %.2fx, memory %.2fx%s\n' \
        "torch $ver" "$rate" "$(echo "$rate * $GF" | bc -l)" "$rss" "$(echo "$ours / $rate" | bc -l)" "$(echo "$ours_rss / $rss" | bc -l)" \
        "$(of_peak "$(echo "$rate * $GF" | bc -l)")"
done
