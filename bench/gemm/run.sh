#!/usr/bin/env bash
# bench/gemm: our gemm_f32 against OpenBLAS on the engine's real GEMM shapes. One training step (forward,
# dx and dW) of each architecture in ARCHS at each batch size in BATCHES is run with AUDIOCNN_GEMM_LOG
# (lib/nn/gemm.h) to collect every GEMM call's shape; then bench/gemm/gemm.c times both kernels, one
# thread each as the engine calls them, on every distinct shape: GFLOP/s, the ratio, ours as a share of
# the one-core FMA peak (PEAK_GFLOPS_1, from bench/peak through make bench), and totals weighted by the
# calls. Environment: BUILD (build dir with libaudiocnn.a and bin/, default build), PY (numpy), ARCHS
# (default "baseline resnet18 efficientnet_b0"), BATCHES (default "16 32"), INPUT (default 1x128x400).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}; PY=${PY:-.venv/bin/python}; ARCHS=${ARCHS:-baseline resnet18 efficientnet_b0}
BATCHES=${BATCHES:-16 32}; INPUT=${INPUT:-1x128x400}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cc -O2 -Ilib -I/usr/include/x86_64-linux-gnu/openblas-pthread bench/gemm/gemm.c "$BUILD/libaudiocnn.a" -lopenblas -lm -lpthread \
    -o "$tmp/gemm"
IFS=x read -r C F T <<< "$INPUT"
echo "bench/gemm: gemm_f32 against OpenBLAS, one thread each, shapes of input $INPUT; load: $(uptime | sed 's/.*load average/load average/')"
for arch in $ARCHS; do
    for b in $BATCHES; do
        "$PY" -c "
import numpy as np
r = np.random.default_rng(0)
np.save('$tmp/x.npy', r.standard_normal(($b, $C, $F, $T)).astype(np.float32))
np.save('$tmp/x-labels.npy', (np.arange($b) % 2).astype(np.int64))"
        rm -f "$tmp/log"
        if ! AUDIOCNN_GEMM_LOG="$tmp/log" "$BUILD/bin/cnntrain" -q --arch "$arch" --epochs 1 --batch "$b" --no-augment \
            --no-class-weights --threads 1 --train "$tmp/x.npy" -o "$tmp/m.safetensors" --state "$tmp/s.safetensors" 2>"$tmp/err"; then
            echo "$arch batch $b: skipped: $(head -1 "$tmp/err")"; continue
        fi
        echo "== $arch, batch $b: $(wc -l < "$tmp/log") GEMM calls in one training step (+ the checkpoint's eval pass)"
        sort "$tmp/log" | uniq -c | sort -k3,3n -k4,4n -k5,5n | "$tmp/gemm" "${PEAK_GFLOPS_1:-0}"
    done
done
