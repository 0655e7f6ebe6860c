#!/usr/bin/env bash
# ResNet and EfficientNet on the simulated GPU (make SIMGPU=1, tests/simgpu/cudasim.c: device memory the host
# cannot touch outside a layer call, each twin the CPU layer): cnntrain --device cuda must give the tensors of
# --device cpu byte for byte (checkpoint and resumable state; the metadata but for the device's name), for
# resnet18 and efficientnet_b0 with a one-channel stem, the repeated ImageNet-normalised stem (stem.c's
# passes), a frozen backbone (the NN_INFER epilogues in training) and unfreezing mid-run; validation runs the
# NN_INFER forward.
# The simulated build's CPU run must also equal the default build's, and tests/simgpu/models.c moves one Model
# object from the CPU to the device (its buffers reallocated there). (tests/gpu/layers.c, with its resnet18
# and efficientnet_b0 steps, runs on the simulated GPU in tests/cli/simgpu.sh.) Builds what it needs into
# build-simgpu/ as tests/cli/simgpu.sh does (nothing when it is up to date).
. "$(dirname "$0")/lib.sh"
ROOT=$(cd "$TESTS/.." && pwd)
if ! env -u MAKEFLAGS -u MAKELEVEL make -s -C "$ROOT" -j2 SIMGPU=1 build-simgpu/bin/cnntrain build-simgpu/bin/cnneval \
        build-simgpu/tests/simgpu/models >"$W/build.log" 2>&1; then
    notok "simgpu models: make SIMGPU=1 failed: $(grep -m3 -E 'error|Error' "$W/build.log")"
    exit 1
fi
S=$ROOT/build-simgpu/bin
# one Model object from the CPU to the device (tests/simgpu/models.c): reallocation, the same bits
"$ROOT/build-simgpu/tests/simgpu/models" || notok "simgpu models: tests/simgpu/models exited $?"
cd "$W" || exit 1
PYS=$(command -v python3 || true)
[ -n "$PYS" ] || { skip "simgpu models: python3 is needed (test data, comparisons)"; exit 0; }
# two small stacks (N, 1, 32, 48) of deterministic noise, 3 classes
"$PYS" - <<'PY' || { notok "simgpu models: test data"; exit 0; }
import struct
def npy(path, descr, shape, fmt, vals):
    h = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shape)
    h += " " * (63 - (10 + len(h)) % 64) + "\n"
    open(path, "wb").write(b"\x93NUMPY\x01\x00" + len(h).to_bytes(2, "little") + h.encode() + struct.pack("<%d%s" % (len(vals), fmt), *vals))
s = 12345
def rnd():
    global s
    s = (s * 6364136223846793005 + 1442695040888963407) % 2**64
    return (s >> 40) / 2**24 * 4 - 2
for name, n in (("train", 8), ("val", 4)):
    npy(name + ".npy", "<f4", "(%d, 1, 32, 48)" % n, "f", [rnd() for _ in range(n * 32 * 48)])
    npy(name + "-labels.npy", "<i8", "(%d,)" % n, "q", [i % 3 for i in range(n)])
PY
# stcmp A B: the same tensor names, dtypes, shapes and bytes, and the same metadata (the validation figures,
# the history) but for the device's name
stcmp() { "$PYS" - "$1" "$2" <<'PY'
import json, struct, sys
def load(p):
    b = open(p, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n]); m = h.pop("__metadata__", {}); m.pop("device", None)
    return {k: (v["dtype"], v["shape"], b[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]]) for k, v in h.items()}, m
(a, ma), (b, mb) = load(sys.argv[1]), load(sys.argv[2])
bad = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
badm = sorted(k for k in set(ma) | set(mb) if ma.get(k) != mb.get(k))
print("%d tensors, %d differ %s; %d metadata keys, %d differ %s" % (len(a), len(bad), " ".join(bad[:4]), len(ma), len(badm), " ".join(badm)))
sys.exit(1 if bad or badm or not a else 0)
PY
}
train() { # BINDIR DEVICE OUT ARGS...
    local b=$1 d=$2 o=$3; shift 3
    "$b/cnntrain" --train train.npy --val val.npy --epochs 2 --batch 4 --threads 2 --device "$d" -o "$o" "$@" >/dev/null 2>"$o.err"
}
for cfg in "resnet18" "resnet18 --in-chans repeat --in-norm imagenet" "resnet18 --in-chans repeat --freeze backbone" \
           "efficientnet_b0" "efficientnet_b0 --in-chans repeat --in-norm imagenet --freeze backbone --unfreeze-at 2"; do
    # shellcheck disable=SC2086
    if ! train "$S" cpu c.safetensors --arch $cfg || ! train "$S" cuda g.safetensors --arch $cfg; then
        notok "simgpu $cfg: cnntrain failed: $(tail -c 300 c.safetensors.err g.safetensors.err)"
        continue
    fi
    if r1=$(stcmp c.safetensors g.safetensors) && r2=$(stcmp c.state.safetensors g.state.safetensors); then
        ok "simgpu $cfg: --device cuda = --device cpu, tensor for tensor (checkpoint: $r1; state: $r2)"
    else
        notok "simgpu $cfg: --device cuda differs from cpu (checkpoint: $r1; state: ${r2:-})"
    fi
    if [ "$S" != "$BIN" ] && [ "$cfg" = resnet18 -o "$cfg" = efficientnet_b0 ]; then
        # shellcheck disable=SC2086
        if train "$BIN" cpu p.safetensors --arch $cfg && r1=$(stcmp p.safetensors c.safetensors) && r2=$(stcmp p.state.safetensors c.state.safetensors); then
            ok "simgpu $cfg: the simulated build's CPU run = the plain build's ($r1; $r2)"
        else
            notok "simgpu $cfg: the simulated build's CPU run differs from the plain build's: ${r1:-} ${r2:-}"
        fi
    fi
done
# cnneval of the last (EfficientNet, normalised stem) checkpoint: the NN_INFER epilogues on either device
if [ -f g.safetensors ] && "$S/cnneval" --device cpu g.safetensors val.npy -o ec >/dev/null 2>ec.err \
    && "$S/cnneval" --device cuda g.safetensors val.npy -o eg >/dev/null 2>eg.err; then
    cmp -s ec/predictions.tsv eg/predictions.tsv && cmp -s ec/metrics.json eg/metrics.json \
        && ok "simgpu cnneval efficientnet_b0 (normalised stem): --device cuda = cpu (predictions.tsv, metrics.json)" \
        || notok "simgpu cnneval: --device cuda differs from cpu"
else
    notok "simgpu cnneval failed: $(tail -c 300 ec.err eg.err 2>/dev/null)"
fi
