#!/usr/bin/env bash
# bench/gpu: training and inference samples/s of baseline, resnet18, resnet152 and efficientnet_b0 (1x128x400,
# batch 64) on GPU 0: ours (bench/gpu/bench.c, built by make as BUILD/bench/gpu: cnntrain's and cnneval's
# engine under --device cuda, each batch through the pinned staging ring, the logits to the host every step)
# against PyTorch (current PyPI torch, cuDNN benchmark mode; bench/gpu/peer.py) in the same run, with the
# ratio and the device memory (ours: in use after the run beyond the CUDA context; torch: its allocator's
# peak), and the GPU's busy share during our timed steps (NVML's utilisation samples: below 100% the GPU
# waited for the host, the data path or the launches). fp32 lines are true fp32 on both sides (PyTorch's
# TF32 switched off); tf32 lines run ours with --tf32 against PyTorch's defaults (TF32 convolutions); bf16
# and fp16 lines run our AMP (bench --amp, as cnntrain --amp: conv/linear in half with fp32 accumulation,
# fp16 with loss scaling) against PyTorch's autocast (+ GradScaler for fp16). Environment:
# BUILD (a make CUDA=1 build, default build-cuda), PYPI_PY (Python with torch + CUDA, default
# .venv-pypi/bin/python), STEPS (default 20), ARCHS, DEADLINE (a time in seconds since the epoch after which
# the remaining lines say "out of time" instead of running; tests/gpu/device-run.sh sets it), AUDIOCNN_ALGO_LOG
# (1: each line's depthwise choices, own kernels or cuDNN, under it; device-run.sh sets it). First, what
# the host can feed (bench/gpu feed: cnntrain's batcher with SpecAugment and mixup, into the memory the
# device copies from; no GPU needed): a training line above it would wait for its data in cnntrain.
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build-cuda}; PY=${PYPI_PY:-.venv-pypi/bin/python}; STEPS=${STEPS:-20}; BATCH=64 # peer.py's
ARCHS=${ARCHS:-baseline resnet18 resnet152 efficientnet_b0}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for th in 1 "$(nproc)"; do
    if [ -x "$BUILD/bench/gpu" ] && feed=$("$BUILD/bench/gpu" feed "$BATCH" 40 "$th" 2>&1); then
        echo "bench/gpu: host feed (cnntrain's batcher: shuffled gather, SpecAugment, mixup) on $th thread(s) (cnntrain --threads $th): $feed samples/s at batch $BATCH, 1x128x400"
    fi
done
ours=1
if ! [ -x "$BUILD/bench/gpu" ]; then
    echo "bench/gpu: ours skipped: no $BUILD/bench/gpu (make CUDA=1 $BUILD/bench/gpu)"; ours=0
elif ! "$BUILD/bench/gpu" baseline infer 2 1 32 48 >/dev/null 2>"$tmp/err"; then
    echo "bench/gpu: ours skipped: $(sed 's/^bench: error: //' "$tmp/err" | head -1)"; ours=0
fi
peer=1
if ! [ -x "$PY" ] || ! "$PY" -c 'import torch, sys; sys.exit(not torch.cuda.is_available())' 2>/dev/null; then
    echo "bench/gpu: PyTorch side skipped: no torch with a usable GPU at $PY"; peer=0
fi
[ "$ours$peer" = 00 ] && exit 0
echo "bench/gpu: batch $BATCH, 1x128x400, $STEPS steps after warm-up; $(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null | head -1)"
for arch in $ARCHS; do
    for prec in fp32 tf32 bf16 fp16; do
        for mode in train infer; do
            if [ -n "${DEADLINE:-}" ] && [ "$(date +%s)" -ge "$DEADLINE" ]; then
                printf 'bench/gpu: %-16s %-5s %-5s out of time\n' "$arch" "$prec" "$mode"; continue
            fi
            lim=(); [ -n "${DEADLINE:-}" ] && lim=(timeout $((DEADLINE - $(date +%s)))) # a line may not outlast it
            ours_txt="ours: skipped"; rate=""
            amp=(); case $prec in tf32) amp=(--tf32) ;; bf16 | fp16) amp=(--amp $prec) ;; esac
            if [ $ours = 1 ]; then
                if read -r rate mib _ busy < <("${lim[@]}" "$BUILD/bench/gpu" "$arch" "$mode" "$BATCH" "$STEPS" "${amp[@]}" 2>"$tmp/err"); then
                    ours_txt=$(printf 'ours %8.1f samples/s %6.0f MiB busy %3s%%' "$rate" "$mib" "$busy")
                else
                    ours_txt="ours: $(sed 's/^bench: error: //' "$tmp/err" | head -1)"; rate=""
                    [ -s "$tmp/err" ] || ours_txt="ours: out of time"
                fi
            fi
            peer_txt=""
            [ -n "${DEADLINE:-}" ] && lim=(timeout $((DEADLINE - $(date +%s))))
            if [ $peer = 1 ] && [ "${lim[1]:-1}" -gt 0 ] &&
                read -r prate pmib ver < <("${lim[@]}" "$PY" bench/gpu/peer.py "$arch" "$mode" "$prec" "$STEPS"); then
                peer_txt=$(printf ' | torch %s %8.1f samples/s %6d MiB' "$ver" "$prate" "$pmib")
                [ -n "$rate" ] && peer_txt+=$(awk -v a="$rate" -v b="$prate" 'BEGIN {printf " | ours/torch %.2fx", a / b}')
            fi
            printf 'bench/gpu: %-16s %-5s %-5s %s%s\n' "$arch" "$prec" "$mode" "$ours_txt" "$peer_txt"
            # AUDIOCNN_ALGO_LOG=1: the depthwise convolutions' choices (own kernels or cuDNN, both timed)
            [ "${AUDIOCNN_ALGO_LOG:-}" = 1 ] && [ -f "$tmp/err" ] && grep '^conv2d: ' "$tmp/err" | sed 's/^/bench\/gpu:   /'
        done
    done
done
