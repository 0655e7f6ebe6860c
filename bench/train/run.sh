#!/usr/bin/env bash
# bench/train: baseline CNN training throughput (forward + backward + AdamW step; batch 32; input
# 1x128x400; 2 threads) of cnntrain and of the same model in PyTorch, in one run, with peak memory and
# GFLOP/s beside OpenBLAS sgemm's. Environment: BIN, PY (Debian torch), PYPI_PY (optional current torch).
# PyTorch's loop is timed after two warm-up steps on one batch it reuses; cnntrain is a whole process
# (start, reading the data, the first step's page faults, the checkpoint), so it runs twice, on N and on
# 2N samples, and the ratios use the difference (the steady state: N samples more), the whole run beside;
# ROUNDS (3) such pairs, medians (a difference of two timings is noisier than either).
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-build/bin}; PY=${PY:-.venv/bin/python}; THREADS=${THREADS:-2}; N=${N:-640}
tmp=$(mktemp -d /dev/shm/bench-train.XXXXXX 2>/dev/null || mktemp -d); trap 'rm -rf "$tmp"' EXIT
cc -O2 -I/usr/include/x86_64-linux-gnu/openblas-pthread bench/train/sgemm.c -lopenblas -o "$tmp/sgemm"
"$PY" -c "
import numpy as np
r = np.random.default_rng(0)
x = r.standard_normal(($N, 1, 128, 400)).astype(np.float32)
y = r.integers(0, 10, $N).astype(np.int64)
np.save('$tmp/x.npy', x)
np.save('$tmp/x-labels.npy', y)
np.save('$tmp/x2.npy', np.concatenate([x, x]))
np.save('$tmp/x2-labels.npy', np.concatenate([y, y]))"
GF=1.107  # GFLOP per training sample: 3 x 0.369 GFLOP forward (the four 3x3 convolutions dominate)
sg=$("$tmp/sgemm" "$THREADS")
printf 'bench/train: baseline CNN, batch 32, 1x128x400, %s threads; OpenBLAS sgemm here: %s GFLOP/s\n' "$THREADS" "$sg"
run() { # samples file -> seconds (peak RSS in $tmp/rss)
    local t0 t1
    t0=$(date +%s.%N)
    /usr/bin/time -f '%M' -o "$tmp/rss" "$BIN/cnntrain" -q --train "$1" --epochs 1 --batch 32 --no-augment \
        --no-class-weights --threads "$THREADS" -o "$tmp/m.safetensors" --state "$tmp/s.safetensors"
    t1=$(date +%s.%N)
    echo "$t1 - $t0" | bc -l
}
# ROUNDS pairs (N, then 2N samples); the medians of the steady-state rates and of the whole runs' rates
rates=(); wholes=()
for ((r = 0; r < ${ROUNDS:-3}; r++)); do
    t_one=$(run "$tmp/x.npy"); ours_rss=$(( $(cat "$tmp/rss") / 1024 )) # memory of the N-sample run, as before
    t_two=$(run "$tmp/x2.npy")
    rates+=("$(echo "$N / ($t_two - $t_one)" | bc -l)"); wholes+=("$(echo "$N / $t_one" | bc -l)")
done
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
ours=$(median "${rates[@]}"); whole=$(median "${wholes[@]}")
# share of the FMA peak (bench/peak, passed by make bench as PEAK_GFLOPS) when it is known
of_peak() { [ -n "${PEAK_GFLOPS:-}" ] && printf '  (%.0f%% of the %s GFLOP/s peak)' "$(echo "100 * $1 / $PEAK_GFLOPS" | bc -l)" "$PEAK_GFLOPS" || true; }
printf '%-32s %7.1f samples/s  %6.1f GFLOP/s  peak RSS %5d MiB%s\n' "cnntrain (steady state)" "$ours" "$(echo "$ours * $GF" | bc -l)" "$ours_rss" \
    "$(of_peak "$(echo "$ours * $GF" | bc -l)")"
printf '%-32s %7.1f samples/s  (%d samples, start to checkpoint)\n' "cnntrain (whole run)" "$whole" "$N"
printf '%-32s %s\n' "cnntrain rounds (steady state)" "$(printf '%.1f ' "${rates[@]}")"
for pyname in PY PYPI_PY; do
    py=${!pyname:-}; [ -n "$py" ] && [ -x "$py" ] || continue
    read -r rate rss ver < <("$py" bench/train/peer.py "$THREADS" 10)
    printf '%-32s %7.1f samples/s  %6.1f GFLOP/s  peak RSS %5d MiB   cnntrain/torch: speed %.2fx (whole run %.2fx), memory %.2fx%s\n' \
        "torch $ver" "$rate" "$(echo "$rate * $GF" | bc -l)" "$rss" "$(echo "$ours / $rate" | bc -l)" "$(echo "$whole / $rate" | bc -l)" \
        "$(echo "$ours_rss / $rss" | bc -l)" "$(of_peak "$(echo "$rate * $GF" | bc -l)")"
done
