#!/usr/bin/env bash
# The GPU tests: every layer with a CUDA twin against the CPU engine on a real GPU, the algorithm cache and
# --deterministic, one training step of resnet18 and efficientnet_b0 through the model interface
# (tests/gpu/layers.c); then whole networks through the tools of the same build: one
# training step of the baseline on the GPU against the CPU (SGD, so that the update is linear in the
# gradient: 1e-4 relative to each tensor's largest value), 3 epochs on FSDD (../shared/data/fsdd) reaching
# the CPU's test accuracy within 1 point, and the GPU's checkpoint evaluated on the CPU (the same accuracy
# within 1 point as on the GPU); the same 3 epochs with --amp bf16 reaching the CPU's test accuracy within 2
# points (scored on the CPU: the AMP checkpoint is fp32; 2 points because bf16's rounding changes the
# trajectory, not just the last bits). The AMP layer and whole-network step bounds are tests/gpu/layers.c's. Without a usable GPU, or in a build without CUDA, each group prints one
# skip line and the script exits 0. Report lines as tests/run.sh counts them ("ok ...", "not ok ...",
# "skip ..."); at most 8 minutes. The bit-exact host logic of the device path (the trainer, cnneval, the
# scanner, resuming across devices) is tests/cli/simgpu.sh's, on the simulated GPU.
# Usage: tests/gpu/run.sh [PROGRAM]   (default: $GPU_TESTS, else build-cuda/tests/gpu/layers)
# On a machine with a GPU:  make CUDA=1 build-cuda/tests/gpu/layers build && tests/gpu/run.sh
set -u
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
bin=${1:-${GPU_TESTS:-build-cuda/tests/gpu/layers}}
WHOLE=("one training step of the baseline, GPU against CPU" "3 epochs on FSDD within 1 point of the CPU's accuracy"
       "a GPU checkpoint evaluated on the CPU" "3 epochs on FSDD with --amp bf16 within 2 points of the CPU's accuracy")
if [ ! -x "$bin" ]; then
    echo "skip gpu: $bin is not built (make CUDA=1 $bin)"
    exit 0
fi
timeout 300 "$bin"
rc=$?
[ $rc = 124 ] && echo "not ok gpu: layers over 5 minutes"

# ---- whole networks, with the tools of the build the layers' program comes from ---------------------------
B=$(cd "$(dirname "$bin")/../.." && pwd)/bin
T=$(mktemp -d "${TMPDIR:-/tmp}/gpu.XXXXXX")
trap 'rm -rf "$T"' EXIT
if [ ! -x "$B/cnntrain" ] || [ ! -x "$B/cnneval" ]; then
    for g in "${WHOLE[@]}"; do echo "skip gpu $g: $B/cnntrain and cnneval are not built (make CUDA=1)"; done
    exit $rc
fi
"$B/cnntrain" --device cuda --train "$T/none.npy" -o "$T/none.safetensors" 2>"$T/probe.err"
if grep -q -- '--device cuda:' "$T/probe.err"; then
    why=$(sed 's/^cnntrain: error: --device cuda: //' "$T/probe.err")
    for g in "${WHOLE[@]}"; do echo "skip gpu $g: $why"; done
    exit $rc
fi
PY3=$(command -v python3 || true)
if [ -z "$PY3" ]; then
    for g in "${WHOLE[@]}"; do echo "skip gpu $g: python3 is needed (test data, comparisons)"; done
    exit $rc
fi
cd "$T" || exit 1

# one step: 16 random 1x32x32 samples of 3 classes in one batch, no augmentation, SGD
"$PY3" - <<'PY'
import random, struct
def npy(path, descr, shape, fmt, vals):
    h = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shape)
    h += " " * (63 - (10 + len(h)) % 64) + "\n"
    open(path, "wb").write(b"\x93NUMPY\x01\x00" + len(h).to_bytes(2, "little") + h.encode() + struct.pack("<%d%s" % (len(vals), fmt), *vals))
r = random.Random(16)
npy("step.npy", "<f4", "(16, 1, 32, 32)", "f", [r.gauss(0, 1) for _ in range(16 * 32 * 32)])
npy("step-labels.npy", "<i8", "(16,)", "q", [i % 3 for i in range(16)])
PY
one=(--train step.npy --epochs 1 --batch 16 --optimizer sgd --lr 0.01 --momentum 0.9 --no-augment --mixup 0 --no-class-weights -q)
if "$B/cnntrain" "${one[@]}" --device cpu -o step-cpu.safetensors 2>step.err &&
    "$B/cnntrain" "${one[@]}" --device cuda -o step-gpu.safetensors 2>>step.err; then
    worst=$("$PY3" - step-cpu.safetensors step-gpu.safetensors <<'PY'
import json, struct, sys
def load(p):
    b = open(p, "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n]); base = 8 + n
    out = {}
    for k, v in h.items():
        if k == "__metadata__" or v["dtype"] != "F32": continue
        s, e = v["data_offsets"]
        out[k] = struct.unpack("<%df" % ((e - s) // 4), b[base + s:base + e])
    return out
a, g = load(sys.argv[1]), load(sys.argv[2])
worst, name = 0.0, ""
for k in a:
    den = max(max(abs(x) for x in a[k]), 1e-30)
    d = max(abs(x - y) for x, y in zip(a[k], g[k])) / den
    if d > worst: worst, name = d, k
print("%.3g%s" % (worst, " in " + name if name else ""))
PY
)
    if "$PY3" -c "import sys; sys.exit(not float(sys.argv[1]) <= 1e-4)" "${worst%% *}"; then
        echo "ok gpu: one training step of the baseline (SGD): every tensor within 1e-4 of the CPU's (worst ${worst})"
    else
        echo "not ok gpu: one training step of the baseline: ${worst} relative (bound 1e-4)"
    fi
else
    echo "not ok gpu: one training step of the baseline: $(head -c 300 step.err)"
fi

# FSDD: 3 epochs on each device, both checkpoints scored on the test split on the CPU (and the GPU's on the GPU)
F=${SHARED:-$ROOT/../shared}/data/fsdd
if [ ! -d "$F" ]; then
    echo "skip gpu ${WHOLE[1]}: no $F"
    echo "skip gpu ${WHOLE[2]}: no $F"
    echo "skip gpu ${WHOLE[3]}: no $F"
    exit $rc
fi
acc() { "$PY3" -c "import json, sys; print(json.load(open(sys.argv[1]))['accuracy'])" "$1"; }
if "$B/splitset" -q --group '^[0-9]+_([a-z]+)_' "$F" split 2>fsdd.err &&
    for s in train val test; do
        "$B/wav2mel" -q --n-mels 64 --list split/$s.tsv -o mels/$s -m mels/$s.tsv 2>>fsdd.err &&
            "$B/specnorm" -q --frames 64 -m mels/$s.tsv --stack $s.npy --labels $s-labels.npy 2>>fsdd.err || exit 1
    done; then
    # a recipe that learns in 3 epochs (CPU: ~0.64 test accuracy on these unseen speakers): no augmentation
    fs=(--train train.npy --val val.npy --classes split/classes.tsv --epochs 3 --batch 16 --lr 1e-3 --mixup 0 --no-augment
        --threads 8 -q)
    if timeout 240 "$B/cnntrain" "${fs[@]}" --device cpu -o fsdd-cpu.safetensors 2>>fsdd.err &&
        timeout 120 "$B/cnntrain" "${fs[@]}" --device cuda -o fsdd-gpu.safetensors 2>>fsdd.err &&
        "$B/cnneval" -q --device cpu -o ev-cpu fsdd-cpu.safetensors test.npy 2>>fsdd.err &&
        "$B/cnneval" -q --device cpu -o ev-gpu-on-cpu fsdd-gpu.safetensors test.npy 2>>fsdd.err &&
        "$B/cnneval" -q --device cuda -o ev-gpu fsdd-gpu.safetensors test.npy 2>>fsdd.err; then
        c=$(acc ev-cpu/metrics.json) g=$(acc ev-gpu/metrics.json) gc=$(acc ev-gpu-on-cpu/metrics.json)
        "$PY3" -c "import sys; sys.exit(not abs(float(sys.argv[1]) - float(sys.argv[2])) <= 0.01)" "$c" "$g" \
            && echo "ok gpu: FSDD, 3 epochs: test accuracy $g on the GPU, $c on the CPU (within 1 point)" \
            || echo "not ok gpu: FSDD, 3 epochs: test accuracy $g on the GPU, $c on the CPU (more than 1 point apart)"
        "$PY3" -c "import sys; sys.exit(not abs(float(sys.argv[1]) - float(sys.argv[2])) <= 0.01)" "$gc" "$g" \
            && echo "ok gpu: the GPU's FSDD checkpoint on the CPU: accuracy $gc ($g on the GPU)" \
            || echo "not ok gpu: the GPU's FSDD checkpoint on the CPU: accuracy $gc, $g on the GPU"
        if timeout 120 "$B/cnntrain" "${fs[@]}" --device cuda --amp bf16 -o fsdd-bf16.safetensors 2>>fsdd.err &&
            "$B/cnneval" -q --device cpu -o ev-bf16 fsdd-bf16.safetensors test.npy 2>>fsdd.err; then
            a=$(acc ev-bf16/metrics.json)
            "$PY3" -c "import sys; sys.exit(not abs(float(sys.argv[1]) - float(sys.argv[2])) <= 0.02)" "$c" "$a" \
                && echo "ok gpu: FSDD, 3 epochs with --amp bf16: test accuracy $a, $c on the CPU in fp32 (within 2 points)" \
                || echo "not ok gpu: FSDD, 3 epochs with --amp bf16: test accuracy $a, $c on the CPU in fp32 (more than 2 points apart)"
        else
            echo "not ok gpu: FSDD with --amp bf16: $(tail -c 300 fsdd.err)"
        fi
    else
        echo "not ok gpu: FSDD training/evaluation: $(tail -c 300 fsdd.err)"
    fi
else
    echo "not ok gpu: FSDD data: $(tail -c 300 fsdd.err)"
fi
exit $rc
