#!/usr/bin/env bash
# bench/gpu (a skeleton: our side is not written yet, though the baseline now trains on the GPU; issue 16): training and inference samples/s of
# baseline, resnet18, resnet152 and efficientnet_b0 (1x128x400, batch 64) in fp32 and AMP, ours against
# PyTorch (current PyPI torch, cuDNN benchmark mode; bench/gpu/peer.py) on the same GPU in the same run,
# with the ratio and the GPU's memory. Today: the PyTorch side runs when a GPU and torch with CUDA are
# there; ours prints why it cannot run yet. Environment: BIN (a make CUDA=1 build's tools, default
# build-cuda/bin), PYPI_PY (Python with torch + CUDA, default .venv-pypi/bin/python).
set -uo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-build-cuda/bin}; PY=${PYPI_PY:-.venv-pypi/bin/python}
if ! "$BIN/cnntrain" --device cuda --train /dev/null -o /dev/null.safetensors 2>"${TMPDIR:-/tmp}/bench-gpu.err" \
    && ! grep -q '/dev/null' "${TMPDIR:-/tmp}/bench-gpu.err"; then
    ours="not run: $(sed 's/^cnntrain: error: //' "${TMPDIR:-/tmp}/bench-gpu.err")"
else
    ours="not run: the benchmark of our GPU engine is not written yet"
fi
echo "bench/gpu: ours: $ours"
if ! [ -x "$PY" ] || ! "$PY" -c 'import torch, sys; sys.exit(not torch.cuda.is_available())' 2>/dev/null; then
    echo "bench/gpu: PyTorch side skipped: no torch with a usable GPU at $PY"
    exit 0
fi
for arch in baseline resnet18 resnet152 efficientnet_b0; do
    for prec in fp32 bf16 fp16; do
        for mode in train infer; do
            read -r rate mib ver < <("$PY" bench/gpu/peer.py "$arch" "$mode" "$prec" 20) || continue
            printf 'bench/gpu: %-16s %-5s %-5s torch %s: %8.1f samples/s, %6d MiB\n' "$arch" "$prec" "$mode" "$ver" "$rate" "$mib"
        done
    done
done
