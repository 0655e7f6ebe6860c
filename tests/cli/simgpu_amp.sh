#!/usr/bin/env bash
# Mixed precision (cnntrain --amp bf16|fp16, nn/amp.h) on the simulated GPU (make SIMGPU=1: each conv/linear twin
# rounds its operands and results to the half type with kernels.h's casts around the CPU layer, as conv2d.cu and
# linear.cu do on a GPU). Checks: one AMP layer forward against an independent double reference
# (tests/simgpu/amp.c); bf16 and fp16 training of the baseline runs, its validation loss falls, the same bytes
# twice, the checkpoint records "amp", differs from the fp32 one and evaluates on the CPU; an fp16 run whose
# scale overflows (--amp-init-scale 2^24) skips those steps (-v names each), halves the scale each time, does
# not advance AdamW's step counts for them, and keeps the count in the state; its scaler state round-trips
# through --resume (one epoch, then resumed: the uninterrupted run's checkpoint and state); cnneval --amp
# (deterministic, the fp32 evaluation's accuracy, --scan --jobs 2 = --jobs 1); resnet18 and efficientnet_b0 (SE, depthwise,
# fused NN_INFER epilogues) train a step with --amp; the half conv -> BN hand-overs = the float ones
# (AUDIOCNN_HALFKEEP=0; bytes, four runs); --amp off = no --amp (bytes); --amp on the CPU, a bad
# value, and --amp-init-scale without fp16 are usage errors (exit 2, one line). TF32 (--tf32; the simulator
# rounds the convolutions' operands to TF32): training runs, the same bytes twice, records "tf32", differs from
# fp32; cnneval --tf32 gives the fp32 evaluation's accuracy; --tf32 on the CPU is a usage error. The GPU's own
# precision is tests/gpu/run.sh's.
. "$(dirname "$0")/lib.sh"
ROOT=$(cd "$TESTS/.." && pwd)
cd "$W" || exit 1
command -v sox >/dev/null || { skip "simgpu amp: sox is needed to make test audio"; exit 0; }
PY3=$(command -v python3 || true)
if ! env -u MAKEFLAGS -u MAKELEVEL make -s -C "$ROOT" -j2 SIMGPU=1 build-simgpu/bin/cnntrain build-simgpu/bin/cnneval \
        build-simgpu/tests/simgpu/amp build-simgpu/bench/gpu >build.log 2>&1; then
    notok "simgpu amp: make SIMGPU=1 failed: $(grep -m3 -E 'error|Error' build.log)"
    exit 1
fi
S=$ROOT/build-simgpu/bin
"$ROOT/build-simgpu/tests/simgpu/amp" || notok "simgpu amp: tests/simgpu/amp exited $?"

# bench/gpu's AMP and TF32 steps (bench/gpu/run.sh's bf16/fp16/tf32 lines) run on the simulated GPU (figures
# meaningless here; busy "-": no NVML)
for amp in bf16 fp16 tf32; do
    opt=(--amp $amp); [ $amp = tf32 ] && opt=(--tf32)
    if out=$(timeout 60 "$ROOT/build-simgpu/bench/gpu" baseline train 4 2 32 48 "${opt[@]}" 2>&1) &&
        [[ $out =~ ^[0-9]+\.[0-9]+\ [0-9]+\ [0-9]+\.[0-9]+\ -$ ]]; then
        ok "simgpu amp: bench/gpu's baseline training steps with ${opt[*]} run ($out)"
    else
        notok "simgpu amp: bench/gpu ${opt[*]}: $out"
    fi
done

make_tone_splits >data.log 2>&1 || { notok "simgpu amp: test data: $(tail -c 300 data.log)"; exit 1; }
V=(--train train.npy --val val.npy --classes split/classes.tsv --epochs 3 --batch 8 --threads 2
   --frontend "--n-mels 32 | --frames 32")
C=("${V[@]}" -q)
# col FILE.tsv COLUMN ROW: one value of a history
col() { awk -F'\t' -v c="$2" -v r="$3" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == c) k = i } NR == r + 1 { print $k }' "$1"; }
# meta FILE KEY: a safetensors file's metadata value
meta() {
    local n
    n=$(od -An -tu8 -N8 "$1" | tr -d ' ')
    head -c $((8 + n)) "$1" | tail -c "$n" | grep -o "\"$2\":\"[^\"]*\"" | sed -E 's/^"[^"]*":"(.*)"$/\1/'
}

"$S/cnntrain" "${C[@]}" --device cuda -o fp32.safetensors --history fp32 2>fp32.err || notok "simgpu amp: the fp32 run: $(head -c 300 fp32.err)"
for amp in bf16 fp16; do
    if "$S/cnntrain" "${C[@]}" --device cuda --amp $amp -o $amp-a.safetensors --history $amp-a 2>$amp.err &&
        "$S/cnntrain" "${C[@]}" --device cuda --amp $amp -o $amp-b.safetensors --history $amp-b 2>>$amp.err; then
        first=$(col $amp-a.tsv val_loss 1) last=$(col $amp-a.tsv val_loss 3)
        awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a) }' && ok "cnntrain --amp $amp: trains, the validation loss falls ($first -> $last)" \
            || notok "cnntrain --amp $amp: the validation loss did not fall ($first -> $last)"
        cmp -s $amp-a.safetensors $amp-b.safetensors && cmp -s $amp-a.state.safetensors $amp-b.state.safetensors &&
            cmp -s <(cut -f1-6 $amp-a.tsv) <(cut -f1-6 $amp-b.tsv) && ok "cnntrain --amp $amp: deterministic (checkpoint, state, history: the same bytes twice)" \
            || notok "cnntrain --amp $amp: two runs differ"
        [ "$(meta $amp-a.safetensors amp)" = $amp ] && [ "$(meta fp32.safetensors amp)" = "" ] && ! cmp -s fp32.safetensors $amp-a.safetensors \
            && ok "cnntrain --amp $amp: the checkpoint records amp=$amp (an fp32 run records nothing) and its weights differ from fp32's" \
            || notok "cnntrain --amp $amp: metadata 'amp' is '$(meta $amp-a.safetensors amp)', or the weights equal fp32's"
        rm -rf ev-$amp ev-$amp-cuda
        if "$S/cnneval" -q --device cpu -o ev-$amp $amp-a.safetensors test.npy 2>ev.err &&
            "$S/cnneval" -q --device cuda -o ev-$amp-cuda $amp-a.safetensors test.npy 2>>ev.err && [ -s ev-$amp/metrics.json ] &&
            diff -r ev-$amp ev-$amp-cuda >/dev/null; then
            ok "cnneval: the --amp $amp checkpoint (fp32 weights) evaluates on the CPU, as on the GPU without AMP"
        else
            notok "cnneval of the --amp $amp checkpoint: $(head -c 300 ev.err)"
        fi
    else
        notok "cnntrain --amp $amp: $(head -c 300 $amp.err)"
    fi
done

# overflow: a loss scale of 2^24 overflows fp16's gradients: those steps are skipped and the scale halves
"$S/cnntrain" "${V[@]}" -v --device cuda --amp fp16 --amp-init-scale 16777216 -o ov.safetensors 2>ov.err
rc=$?
nskip=$(grep -c 'step skipped' ov.err)
st=$(meta ov.state.safetensors state.amp_scale)
if [ $rc = 0 ] && [ "$nskip" -ge 2 ] && grep -q '^cnntrain: epoch 1, step 1: inf/NaN gradients at loss scale 1.67772e+07: step skipped, scale 8.38861e+06$' ov.err &&
    [ "${st##* }" = "$nskip" ]; then
    ok "cnntrain --amp fp16 --amp-init-scale 2^24: $nskip overflowing steps skipped (-v names each), the scale halved each time, state.amp_scale '$st'"
else
    notok "cnntrain --amp fp16 overflow: rc=$rc, $nskip skips, state '$st': $(head -c 300 ov.err)"
fi
if [ -n "$PY3" ]; then
    # AdamW's per-parameter step counts (opt.step) advance only on the steps taken
    steps=$("$PY3" - ov.state.safetensors <<'PY'
import json, struct, sys
b = open(sys.argv[1], "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n])
s, e = h["opt.step"]["data_offsets"]
v = struct.unpack("<%dq" % ((e - s) // 8), b[8 + n + s:8 + n + e])
print(max(v), h["__metadata__"]["state.step"])
PY
)
    set -- $steps
    [ $# = 2 ] && [ "$1" = $(($2 - nskip)) ] && ok "fp16: skipped steps do not advance AdamW's step count ($1 of $2 steps taken)" \
        || notok "fp16: AdamW's step count '$steps' with $nskip skipped"
else
    skip "fp16 skipped steps and AdamW's step count: python3 is needed"
fi

# cnneval --amp (forward only, the same rules): deterministic, the fp32 evaluation's accuracy, a loss close to it;
# --scan with two contexts at once
if [ -s bf16-a.safetensors ]; then
    rm -rf ea eb ef
    if "$S/cnneval" -q --device cuda --amp bf16 -o ea bf16-a.safetensors test.npy 2>ea.err &&
        "$S/cnneval" -q --device cuda --amp bf16 -o eb bf16-a.safetensors test.npy 2>>ea.err &&
        "$S/cnneval" -q --device cuda -o ef bf16-a.safetensors test.npy 2>>ea.err; then
        acc() { grep -o '"accuracy": [0-9.e+-]*' "$1" | awk '{ print $2 }'; }
        loss() { grep -m1 -o '"loss": [0-9.e+-]*' "$1" | awk '{ print $2 }'; }
        la=$(loss ea/metrics.json) lf=$(loss ef/metrics.json)
        diff -r ea eb >/dev/null && [ "$(acc ea/metrics.json)" = "$(acc ef/metrics.json)" ] &&
            awk -v a="$la" -v b="$lf" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 0.02 * b) }' \
            && ok "cnneval --amp bf16: the same bytes twice, fp32's accuracy ($(acc ea/metrics.json)), loss $la vs fp32's $lf (within 2%)" \
            || notok "cnneval --amp bf16: accuracy $(acc ea/metrics.json) vs $(acc ef/metrics.json), loss $la vs $lf, or two runs differ"
    else
        notok "cnneval --amp bf16: $(head -c 300 ea.err)"
    fi
    sox -R -n -r 16000 -c 1 n.wav synth 2 whitenoise vol 0.03 2>/dev/null
    sox n.wav data/cat/cat_3.wav n.wav data/owl/owl_5.wav n.wav long1.wav 2>/dev/null
    sox n.wav data/dog/dog_2.wav n.wav long2.wav 2>/dev/null
    if "$S/cnneval" -q --device cuda --amp fp16 --scan --scores - -o sa bf16-a.safetensors long1.wav long2.wav >scan1.tsv 2>scan.err &&
        "$S/cnneval" -q --device cuda --amp fp16 --scan --jobs 2 --scores - -o sb bf16-a.safetensors long1.wav long2.wav >scan2.tsv 2>>scan.err &&
        [ -s scan1.tsv ] && cmp -s scan1.tsv scan2.tsv; then
        ok "cnneval --scan --amp fp16: runs, --jobs 2 (two AMP contexts) gives --jobs 1's scores ($(wc -l <scan1.tsv) lines)"
    else
        notok "cnneval --scan --amp fp16: $(head -c 300 scan.err)"
    fi
fi
expect_error "cnneval --device cpu --amp fp16: refused (exit 2)" "--amp fp16 needs a GPU, not --device cpu" 2 \
    "$S/cnneval" --device cpu --amp fp16 -o x fp32.safetensors test.npy

# fp16's scaler through --resume: epoch 1 of the overflowing run (three steps skipped, the scale down to 2^21)
# with its state, then epochs 2-3 resumed (no --amp-init-scale: the state's scale) = the uninterrupted run
if "$S/cnntrain" "${C[@]}" --epochs 1 --device cuda --amp fp16 --amp-init-scale 16777216 -o res.safetensors --history res 2>res.err &&
    sc1=$(meta res.state.safetensors state.amp_scale) &&
    "$S/cnntrain" "${C[@]}" --device cuda --amp fp16 -o res.safetensors --history res --resume res.state.safetensors 2>>res.err; then
    [ "$sc1" = "2097152 0 3" ] && cmp -s res.safetensors ov.safetensors && cmp -s res.state.safetensors ov.state.safetensors \
        && ok "cnntrain --amp fp16 --resume: the scaler state after epoch 1 ('$sc1') round-trips; checkpoint and state = the uninterrupted run's" \
        || notok "cnntrain --amp fp16 --resume: state.amp_scale after epoch 1 '$sc1' (want '2097152 0 3'), or the result differs from the uninterrupted run"
else
    notok "cnntrain --amp fp16 --resume: $(head -c 300 res.err)"
fi

# the torchvision architectures: SE (its linear layers), depthwise convolutions, the fused NN_INFER epilogues
for arch in resnet18 efficientnet_b0; do
    "$S/cnntrain" "${C[@]}" --epochs 1 --arch $arch --device cuda --amp bf16 -o $arch.safetensors 2>$arch.err &&
        "$S/cnneval" -q --device cpu -o ev-$arch $arch.safetensors test.npy 2>>$arch.err &&
        [ "$(meta $arch.safetensors amp)" = bf16 ] && ok "cnntrain --arch $arch --amp bf16: an epoch on the simulated GPU, evaluated on the CPU" \
        || notok "cnntrain --arch $arch --amp bf16: $(head -c 300 $arch.err)"
done

# the conv -> BN hand-overs in halves (nn/halfkeep.h) give the bytes of the float hand-overs
# (AUDIOCNN_HALFKEEP=0): the baseline, ResNet's units within a block, EfficientNet's SE scale in the cast
for run in "resnet18 bf16" "efficientnet_b0 bf16" "resnet18 fp16" "baseline fp16"; do
    set -- $run
    "$S/cnntrain" "${C[@]}" --epochs 1 --arch $1 --device cuda --amp $2 -o hk-$1-$2.safetensors 2>hk.err &&
        AUDIOCNN_HALFKEEP=0 "$S/cnntrain" "${C[@]}" --epochs 1 --arch $1 --device cuda --amp $2 \
            -o hkoff-$1-$2.safetensors 2>>hk.err &&
        cmp -s hk-$1-$2.safetensors hkoff-$1-$2.safetensors && cmp -s hk-$1-$2.state.safetensors hkoff-$1-$2.state.safetensors &&
        ok "cnntrain --arch $1 --amp $2: the half hand-overs give the float hand-overs' checkpoint and state (AUDIOCNN_HALFKEEP=0)" \
        || notok "cnntrain --arch $1 --amp $2: the half and float hand-overs differ: $(head -c 300 hk.err)"
done

# --amp off is the default: the same bytes
"$S/cnntrain" "${C[@]}" --device cuda --amp off -o off.safetensors --history off 2>off.err
cmp -s off.safetensors fp32.safetensors && cmp -s off.state.safetensors fp32.state.safetensors \
    && ok "cnntrain --amp off: the bytes of a run without --amp" || notok "cnntrain --amp off differs: $(head -c 300 off.err)"

# usage errors (exit 2, one line, nothing written)
expect_error "cnntrain --device cpu --amp bf16: refused (exit 2)" "--amp bf16 needs a GPU, not --device cpu" 2 \
    "$S/cnntrain" "${C[@]}" --device cpu --amp bf16 -o cpu-amp.safetensors
no_partial "nothing written for --amp on the CPU" cpu-amp.safetensors
expect_error "cnntrain --amp fp8: bad value (exit 2)" "bad value for --amp \(off, bf16 or fp16\): fp8" 2 \
    "$S/cnntrain" "${C[@]}" --device cuda --amp fp8 -o x.safetensors
expect_error "cnntrain --amp bf16 --amp-init-scale: needs fp16 (exit 2)" "--amp-init-scale needs --amp fp16" 2 \
    "$S/cnntrain" "${C[@]}" --device cuda --amp bf16 --amp-init-scale 1024 -o x.safetensors
# the default build has no CUDA: --device auto resolves to the CPU
if [ -x "$BIN/cnntrain" ] && [ "$(cd "$BIN/../.." && pwd)/build/bin" = "$(cd "$BIN" && pwd)" ]; then
    expect_error "cnntrain --amp fp16 in a build without CUDA (--device auto: the CPU): refused (exit 2)" \
        "--amp fp16 needs a GPU, and --device auto chose the CPU: this build has no CUDA" 2 "$BIN/cnntrain" "${C[@]}" --amp fp16 -o x.safetensors
else
    skip "--amp in a build without CUDA: BIN is not a default build ($BIN)"
fi

# TF32 (--tf32): fp32 convolutions with TF32 operands
if "$S/cnntrain" "${C[@]}" --device cuda --tf32 -o tf32-a.safetensors --history tf32-a 2>tf32.err &&
    "$S/cnntrain" "${C[@]}" --device cuda --tf32 -o tf32-b.safetensors --history tf32-b 2>>tf32.err; then
    first=$(col tf32-a.tsv val_loss 1) last=$(col tf32-a.tsv val_loss 3)
    cmp -s tf32-a.safetensors tf32-b.safetensors && cmp -s tf32-a.state.safetensors tf32-b.state.safetensors &&
        [ "$(meta tf32-a.safetensors tf32)" = on ] && [ -z "$(meta fp32.safetensors tf32)" ] &&
        ! cmp -s tf32-a.safetensors fp32.safetensors && awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a) }' \
        && ok "cnntrain --tf32: trains (validation loss $first -> $last), the same bytes twice, records tf32=on, differs from fp32" \
        || notok "cnntrain --tf32: loss $first -> $last, metadata '$(meta tf32-a.safetensors tf32)', or the runs differ / equal fp32's"
    rm -rf et ef2
    if "$S/cnneval" -q --device cuda --tf32 -o et fp32.safetensors test.npy 2>et.err &&
        "$S/cnneval" -q --device cuda -o ef2 fp32.safetensors test.npy 2>>et.err; then
        acc() { grep -o '"accuracy": [0-9.e+-]*' "$1" | awk '{ print $2 }'; }
        [ "$(acc et/metrics.json)" = "$(acc ef2/metrics.json)" ] \
            && ok "cnneval --tf32: the fp32 evaluation's accuracy ($(acc et/metrics.json))" \
            || notok "cnneval --tf32: accuracy $(acc et/metrics.json), fp32's $(acc ef2/metrics.json)"
    else
        notok "cnneval --tf32: $(head -c 300 et.err)"
    fi
else
    notok "cnntrain --tf32: $(head -c 300 tf32.err)"
fi
expect_error "cnntrain --device cpu --tf32: refused (exit 2)" "--tf32 needs a GPU, not --device cpu" 2 \
    "$S/cnntrain" "${C[@]}" --device cpu --tf32 -o cpu-tf32.safetensors
expect_error "cnneval --device cpu --tf32: refused (exit 2)" "--tf32 needs a GPU, not --device cpu" 2 \
    "$S/cnneval" -q --device cpu --tf32 -o ec fp32.safetensors test.npy
