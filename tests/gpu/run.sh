#!/usr/bin/env bash
# The GPU tests: every layer with a CUDA twin against the CPU engine on a real GPU, the algorithm cache and
# --deterministic, one training step of resnet18 and efficientnet_b0 through the model interface
# (tests/gpu/layers.c); then whole networks through the tools of the same build: one
# training step of the baseline on the GPU against the CPU (SGD, so that the update is linear in the
# gradient: the update within 5e-2 in norm, the running statistics within 1e-4 per tensor), 3 epochs on FSDD (../shared/data/fsdd) reaching
# the CPU's test accuracy within 1 point, and the GPU's checkpoint evaluated on the CPU (the same accuracy
# within 1 point as on the GPU); the same 3 epochs with --amp bf16 reaching the CPU's test accuracy within 2
# points (scored on the CPU: the AMP checkpoint is fp32; 2 points because bf16's rounding changes the
# trajectory, not just the last bits); a benchmark line (resnet18 training, ours and PyTorch's). The AMP layer and whole-network step bounds are tests/gpu/layers.c's. Without a usable GPU, or in a build without CUDA, each group prints one
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
       "a GPU checkpoint evaluated on the CPU" "3 epochs on FSDD with --amp bf16 within 2 points of the CPU's accuracy"
       "benchmark line (bench/gpu)")
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
one=(--train step.npy --epochs 1 --batch 16 --optimizer sgd --momentum 0.9 --no-augment --mixup 0 --no-class-weights -q)
# the step's starting weights: the same run with a learning rate of 1e-12 (float keeps the initial values)
if "$B/cnntrain" "${one[@]}" --lr 0.01 --device cpu -o step-cpu.safetensors 2>step.err &&
    "$B/cnntrain" "${one[@]}" --lr 0.01 --device cuda -o step-gpu.safetensors 2>>step.err &&
    "$B/cnntrain" "${one[@]}" --lr 1e-12 --device cpu -o step-init.safetensors 2>>step.err; then
    verdict=$("$PY3" - step-cpu.safetensors step-gpu.safetensors step-init.safetensors <<'PY'
import json, math, struct, sys
def load(p):
    b = open(p, "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n]); base = 8 + n
    out = {}
    for k, v in h.items():
        if k == "__metadata__" or v["dtype"] != "F32": continue
        s, e = v["data_offsets"]
        out[k] = struct.unpack("<%df" % ((e - s) // 4), b[base + s:base + e])
    return out
c, g, w0 = (load(p) for p in sys.argv[1:4])
stats, stats_name, num, den, worst, worst_name = 0.0, "", 0.0, 1e-300, 0.0, ""
for k in c:
    if "running_" in k:  # forward statistics: no ReLU flip reaches them
        d = max(abs(x - y) for x, y in zip(c[k], g[k])) / max(max(abs(x) for x in c[k]), 1e-30)
        if d > stats: stats, stats_name = d, k
        continue
    uc = [x - z for x, z in zip(c[k], w0[k])]
    ug = [y - z for y, z in zip(g[k], w0[k])]
    num += sum((x - y) ** 2 for x, y in zip(uc, ug)); den += sum(x * x for x in uc)
    d = max(abs(x - y) for x, y in zip(uc, ug)) / max(max(abs(x) for x in uc), 1e-30)
    if d > worst: worst, worst_name = d, k
u = math.sqrt(num / den)
ok = stats <= 1e-4 and u <= 5e-2
print("%s running statistics within %.2g (%s), the SGD update within %.2g in norm (worst tensor %.2g, %s)"
      % ("ok" if ok else "bad", stats, stats_name, u, worst, worst_name))
PY
)
    # A ReLU network: a pre-activation within the engines' rounding difference of zero passes the ReLU on one
    # side only, and changes its gradient by a whole term (tests/gpu/layers.c's model_step): so the update is
    # compared in norm (5e-2, a wrong backward is off by O(1)) and the worst tensor printed; the running
    # statistics, a forward quantity, per tensor within 1e-4.
    case $verdict in
    ok*) echo "ok gpu: one training step of the baseline (SGD): ${verdict#ok }" ;;
    *) echo "not ok gpu: one training step of the baseline: ${verdict#bad } (bounds 1e-4 and 5e-2)" ;;
    esac
else
    echo "not ok gpu: one training step of the baseline: $(head -c 300 step.err)"
fi

# A benchmark line: resnet18 training steps at batch 64 (bench/gpu's own side), PyTorch's beside it when this
# python3 has torch with CUDA; the figures are information (bench/gpu/run.sh is the benchmark), the check
# is that the program runs
BENCH=$(dirname "$B")/bench/gpu
if [ -x "$BENCH" ] && bo=$(timeout 120 "$BENCH" resnet18 train 64 10 2>&1); then
    read -r rate mib _ busy <<<"$bo"
    peer=""
    if po=$(timeout 120 "$PY3" "$ROOT/bench/gpu/peer.py" resnet18 train fp32 10 2>/dev/null); then
        peer="; torch ${po##* }: ${po%% *} samples/s"
    fi
    echo "ok gpu: benchmark line: resnet18 training, batch 64, fp32: $rate samples/s, $mib MiB, GPU busy $busy%$peer"
else
    echo "not ok gpu: benchmark line (bench/gpu resnet18 train): $(head -c 300 <<<"${bo:-no $BENCH}")"
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
features() {
    local s
    for s in train val test; do
        "$B/wav2mel" -q --n-mels 64 --list split/$s.tsv -o mels/$s -m mels/$s.tsv 2>>fsdd.err &&
            "$B/specnorm" -q --frames 64 -m mels/$s.tsv --stack $s.npy --labels $s-labels.npy 2>>fsdd.err || return 1
    done
}
# "Reaching the CPU's accuracy": at least the CPU's less the margin. The two runs' trajectories part after
# the first steps (another summation order, ReLU's flips), as two seeds' would, so the GPU may also do better.
reaches() { "$PY3" -c "import sys; sys.exit(not float(sys.argv[1]) >= float(sys.argv[2]) - float(sys.argv[3]))" "$@"; }
if "$B/splitset" -q --group '^[0-9]+_([a-z]+)_' "$F" split 2>fsdd.err && features; then
    # a recipe that learns in 3 epochs (CPU: ~0.64 test accuracy on these unseen speakers): no augmentation
    fs=(--train train.npy --val val.npy --classes split/classes.tsv --epochs 3 --batch 16 --lr 1e-3 --mixup 0 --no-augment
        --threads 8 -q)
    if timeout 240 "$B/cnntrain" "${fs[@]}" --device cpu -o fsdd-cpu.safetensors 2>>fsdd.err &&
        timeout 120 "$B/cnntrain" "${fs[@]}" --device cuda -o fsdd-gpu.safetensors 2>>fsdd.err &&
        "$B/cnneval" -q --device cpu -o ev-cpu fsdd-cpu.safetensors test.npy 2>>fsdd.err &&
        "$B/cnneval" -q --device cpu -o ev-gpu-on-cpu fsdd-gpu.safetensors test.npy 2>>fsdd.err &&
        "$B/cnneval" -q --device cuda -o ev-gpu fsdd-gpu.safetensors test.npy 2>>fsdd.err; then
        c=$(acc ev-cpu/metrics.json) g=$(acc ev-gpu/metrics.json) gc=$(acc ev-gpu-on-cpu/metrics.json)
        reaches "$g" "$c" 0.01 \
            && echo "ok gpu: FSDD, 3 epochs: test accuracy $g on the GPU, $c on the CPU (at least the CPU's less 1 point)" \
            || echo "not ok gpu: FSDD, 3 epochs: test accuracy $g on the GPU, $c on the CPU (more than 1 point below)"
        "$PY3" -c "import sys; sys.exit(not abs(float(sys.argv[1]) - float(sys.argv[2])) <= 0.01)" "$gc" "$g" \
            && echo "ok gpu: the GPU's FSDD checkpoint on the CPU: accuracy $gc ($g on the GPU)" \
            || echo "not ok gpu: the GPU's FSDD checkpoint on the CPU: accuracy $gc, $g on the GPU"
        if timeout 120 "$B/cnntrain" "${fs[@]}" --device cuda --amp bf16 -o fsdd-bf16.safetensors 2>>fsdd.err &&
            "$B/cnneval" -q --device cpu -o ev-bf16 fsdd-bf16.safetensors test.npy 2>>fsdd.err; then
            a=$(acc ev-bf16/metrics.json)
            reaches "$a" "$c" 0.02 \
                && echo "ok gpu: FSDD, 3 epochs with --amp bf16: test accuracy $a, $c on the CPU in fp32 (at least the CPU's less 2 points)" \
                || echo "not ok gpu: FSDD, 3 epochs with --amp bf16: test accuracy $a, $c on the CPU in fp32 (more than 2 points below)"
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
