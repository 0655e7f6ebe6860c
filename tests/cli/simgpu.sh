#!/usr/bin/env bash
# The GPU path on the simulated GPU (make SIMGPU=1, tests/simgpu/cudasim.c): the CUDA build's C side with
# each layer twin the CPU layer underneath and device memory the host cannot touch outside layer calls.
# Builds cnntrain, cnneval, the guard's test and tests/gpu's program into build-simgpu/, then: the guard
# (tests/simgpu/guard.c); tests/gpu/layers' host side;
# cnntrain --device cuda gives --device cpu's checkpoint, state and history bytes (but for the checkpoint's
# "device" metadata and the history's seconds) with AdamW + SpecAugment + mixup, with SGD + clipping +
# label smoothing + cosine, fine-tuning (--init, --freeze backbone, --unfreeze-at) and multi-label; a run
# stopped after an epoch on one device resumes on the other with an uninterrupted run's bytes; cnneval
# (stacks, an ensemble, multi-label, recordings) and cnneval --scan (--jobs 2 too) write the CPU's bytes;
# an architecture that is not ready is refused in one line (exit 1) or, once it is, gives the CPU's bytes;
# the default build's CPU run has the simulated build's --device cpu bytes.
. "$(dirname "$0")/lib.sh"
ROOT=$(cd "$TESTS/.." && pwd)
cd "$W" || exit 1
command -v sox >/dev/null || { skip "simgpu: sox is needed to make test audio"; exit 0; }
PY3=$(command -v python3 || true)

# ---- the simulated build: only what is tested (one compile of lib/, ~20 s on two cores) -------------------
if ! env -u MAKEFLAGS -u MAKELEVEL make -s -C "$ROOT" -j2 SIMGPU=1 build-simgpu/bin/cnntrain build-simgpu/bin/cnneval \
        build-simgpu/tests/simgpu/guard build-simgpu/tests/gpu/layers build-simgpu/bench/gpu >build.log 2>&1; then
    notok "simgpu: make SIMGPU=1 failed: $(grep -m3 -E 'error|Error' build.log)"
    exit 1
fi
ok "simgpu: make SIMGPU=1 builds cnntrain, cnneval, the guard's test, tests/gpu's program and bench/gpu's (-Werror)"
S=$ROOT/build-simgpu/bin
"$ROOT/build-simgpu/tests/simgpu/guard"
# tests/gpu's own program on the simulated GPU: its host side (device arrays only to layers, copies, the
# algorithm cache's bookkeeping, what it compares) checked before a real GPU runs it; the GPU's arithmetic
# is not (the twins are the CPU layers). Its skip lines belong to the real GPU's run.
timeout 120 "$ROOT/build-simgpu/tests/gpu/layers" >layers.out 2>&1
rc=$?
grep -E '^(ok|not ok) ' layers.out | sed -E 's/^(ok|not ok) gpu: /\1 tests\/gpu\/layers on the simulated GPU: /'
[ $rc = 0 ] || notok "tests/gpu/layers on the simulated GPU: exit $rc $(grep -v '^ok' layers.out | head -c 300)"

# bench/gpu feed (the host's batcher alone, no GPU): runs and prints its rate
if out=$(timeout 60 "$ROOT/build-simgpu/bench/gpu" feed 4 3 2 32 48 2>&1) && [[ $out =~ ^[0-9]+\.[0-9]$ ]]; then
    ok "simgpu: bench/gpu feed runs cnntrain's batcher ($out samples/s)"
else
    notok "simgpu: bench/gpu feed: $out"
fi
# bench/gpu's own side on the simulated GPU (its figures mean nothing here): it runs, device memory only to
# layers (the guard), and prints "samples/s MiB seconds busy%" (busy "-": no NVML on the simulated GPU)
for mode in train infer; do
    if out=$(timeout 60 "$ROOT/build-simgpu/bench/gpu" baseline $mode 4 2 32 48 2>&1) &&
        [[ $out =~ ^[0-9]+\.[0-9]+\ [0-9]+\ [0-9]+\.[0-9]+\ -$ ]]; then
        ok "simgpu: bench/gpu's baseline $mode steps run on the simulated GPU ($out)"
    else
        notok "simgpu: bench/gpu baseline $mode: $out"
    fi
done

# st_strip FILE: a safetensors file with its "device" metadata entry (and the header's padding) removed;
# the tensors' bytes unchanged
st_strip() {
    local n
    n=$(od -An -tu8 -N8 "$1" | tr -d ' ')
    head -c $((8 + n)) "$1" | tail -c "$n" | sed -E 's/"device":"[^"]*",?//; s/ +$//'
    echo
    tail -c +$((9 + n)) "$1"
}
# same_st NAME A B: A and B equal but for "device"
same_st() {
    if [ -s "$2" ] && [ -s "$3" ] && cmp -s <(st_strip "$2") <(st_strip "$3"); then ok "$1"; else notok "$1: $2 and $3 differ"; fi
}
# same_hist NAME PREFIX_A PREFIX_B: histories equal but for the seconds
same_hist() {
    if [ -s "$2.tsv" ] && cmp -s <(cut -f1-6 "$2.tsv") <(cut -f1-6 "$3.tsv") &&
        cmp -s <(grep -v '"seconds"' "$2.json") <(grep -v '"seconds"' "$3.json"); then ok "$1"; else notok "$1: $2 and $3 differ"; fi
}

# ---- data: make_tone_splits (3 classes, 32 mel bands x 32 frames) -------------------------------------------
make_tone_splits >data.log 2>&1 || { notok "simgpu: test data: $(tail -c 300 data.log)"; exit 1; }
C=(--train train.npy --val val.npy --classes split/classes.tsv --epochs 2 --batch 8 --threads 2 -q
   --frontend "--n-mels 32 | --frames 32")

# ---- cnntrain: the simulated GPU gives the CPU's bytes ----------------------------------------------------
# train NAME DEVICE OPTIONS...: NAME-DEVICE.safetensors, its state and history
train() {
    local name=$1 dev=$2
    shift 2
    "$S/cnntrain" "${C[@]}" --device "$dev" "$@" -o "$name-$dev.safetensors" --history "$name-$dev" 2>"$name-$dev.err"
}
compare_run() { # NAME OPTIONS...
    local name=$1
    shift
    if train "$name" cpu "$@" && train "$name" cuda "$@"; then
        same_st "cnntrain $name: --device cuda's checkpoint = --device cpu's" "$name-cpu.safetensors" "$name-cuda.safetensors"
        same_st "cnntrain $name: the resumable state (weights, moments, steps) = the CPU's" \
            "$name-cpu.state.safetensors" "$name-cuda.state.safetensors"
        same_hist "cnntrain $name: the history = the CPU's (but for seconds)" "$name-cpu" "$name-cuda"
    else
        notok "cnntrain $name: $(cat "$name-cpu.err" "$name-cuda.err" | head -c 300)"
    fi
}
compare_run adamw                                            # AdamW, SpecAugment, mixup 0.2: the defaults
compare_run sgd --optimizer sgd --lr 0.01 --clip 0.5 --label-smoothing 0.1 --schedule cosine --no-class-weights
compare_run finetune --init adamw-cpu.safetensors --freeze backbone --unfreeze-at 2 --lr-backbone 1e-4 --mixup 0
# the default build (no CUDA in it) trains the same bytes as the simulated build's CPU path (the same flags:
# not under make asan, whose tools are built otherwise)
if [ "$(cd "$BIN/../.." && pwd)/build/bin" = "$(cd "$BIN" && pwd)" ]; then
    "$BIN/cnntrain" "${C[@]}" -o plain.safetensors --history plain 2>plain.err
    cmp -s plain.safetensors adamw-cpu.safetensors && ok "the default build's checkpoint = the simulated build's --device cpu" \
        || notok "the default build and the simulated build's CPU path differ: $(head -c 300 plain.err)"
else
    skip "the default build against the simulated build's CPU path: BIN is not a default build ($BIN)"
fi
# the device in -v and in the checkpoint's metadata
"$S/cnntrain" "${C[@]}" --epochs 1 -v --device cuda -o v.safetensors 2>v.err
grep -q '^cnntrain: device: cuda:0 simulated GPU (CPU)' v.err && grep -aq '"device":"cuda:0 simulated GPU (CPU)' v.safetensors \
    && ok "cnntrain -v --device cuda: the device line and the checkpoint's 'device'" || notok "cnntrain -v cuda: $(head -c 300 v.err)"

# ---- resume across devices: one epoch on one, the second on the other = two uninterrupted -------------------
for pair in "cuda cpu" "cpu cuda"; do
    set -- $pair
    r=resume-$1-$2
    "$S/cnntrain" "${C[@]}" --epochs 1 --device "$1" -o $r.safetensors --history $r 2>$r.err &&
        "$S/cnntrain" "${C[@]}" --device "$2" -o $r.safetensors --history $r --resume $r.state.safetensors 2>>$r.err
    if [ $? = 0 ]; then
        same_st "resume: epoch 1 on $1, epoch 2 on $2: the checkpoint = an uninterrupted run's" adamw-$2.safetensors $r.safetensors
        same_st "resume: epoch 1 on $1, epoch 2 on $2: the final state = an uninterrupted run's" adamw-$2.state.safetensors $r.state.safetensors
        same_hist "resume: epoch 1 on $1, epoch 2 on $2: the history = an uninterrupted run's" adamw-$2 $r
    else
        notok "resume $1 -> $2: $(head -c 300 $r.err)"
    fi
done

# SIGINT mid-run on the GPU (the state written from the device's weights and moments), resumed on the CPU:
# an uninterrupted CPU run's bytes, wherever the signal fell
L=(--epochs 12 --patience 0)
"$S/cnntrain" "${C[@]}" "${L[@]}" --device cpu -o long-cpu.safetensors --history long-cpu 2>long.err
"$S/cnntrain" "${C[@]}" "${L[@]}" --device cuda -o int.safetensors --history int 2>int.err &
pid=$!
t=0
while [ "$(cat int.tsv 2>/dev/null | wc -l)" -lt 2 ] && kill -0 $pid 2>/dev/null && [ $t -lt 600 ]; do sleep 0.02; t=$((t + 1)); done
kill -INT $pid 2>/dev/null
wait $pid
rc=$?
if [ $rc = 130 ]; then
    ok "SIGINT during --device cuda: exit 130, the state written"
    "$S/cnntrain" "${C[@]}" "${L[@]}" --device cpu -o int.safetensors --history int --resume int.state.safetensors 2>>int.err
    same_st "SIGINT on the GPU, resumed on the CPU: the checkpoint = an uninterrupted CPU run's" long-cpu.safetensors int.safetensors
    same_st "SIGINT on the GPU, resumed on the CPU: the final state = an uninterrupted CPU run's" long-cpu.state.safetensors int.state.safetensors
    same_hist "SIGINT on the GPU, resumed on the CPU: the history = an uninterrupted CPU run's" long-cpu int
elif [ $rc = 0 ]; then
    skip "SIGINT during --device cuda arrived after the run had finished: the machine is slow"
else
    notok "SIGINT during --device cuda: rc=$rc $(head -c 300 int.err)"
fi

# ---- multi-label ------------------------------------------------------------------------------------------
have_ml=0
[ -n "$PY3" ] && mltones >ml.log 2>&1 && have_ml=1
if [ $have_ml = 1 ]; then
    for dev in cpu cuda; do
        "$S/cnntrain" -q --multilabel --pos-weight balanced --train ml-train.npy --val ml-val.npy --epochs 2 --batch 8 \
            --device $dev -o ml-$dev.safetensors --history ml-$dev 2>ml-$dev.err
    done
    same_st "cnntrain --multilabel (BCE, pos_weight): --device cuda = cpu" ml-cpu.safetensors ml-cuda.safetensors
    same_st "cnntrain --multilabel: the state (with the epoch's training logits) = the CPU's" ml-cpu.state.safetensors ml-cuda.state.safetensors
    same_hist "cnntrain --multilabel: the history (train_map, val_map) = the CPU's" ml-cpu ml-cuda
else
    skip "simgpu multi-label: python3 (to write the targets) or the data: $(tail -c 200 ml.log)"
fi

# ---- cnneval: stacks, an ensemble, multi-label, recordings ------------------------------------------------
# eval_same NAME ARGS...: cnneval ARGS on both devices, every output file and stdout identical
eval_same() {
    local name=$1
    shift
    rm -rf ev-cpu ev-cuda && mkdir ev-cpu ev-cuda
    "$S/cnneval" -q --device cpu -o ev-cpu "$@" >ev-cpu.out 2>ev-cpu.err &&
        "$S/cnneval" -q --device cuda -o ev-cuda "$@" >ev-cuda.out 2>ev-cuda.err
    local rc=$?
    if [ $rc = 0 ] && [ -n "$(ls ev-cpu 2>/dev/null)$(cat ev-cpu.out)" ] && diff -r ev-cpu ev-cuda >/dev/null &&
        cmp -s ev-cpu.out ev-cuda.out; then
        ok "cnneval $name: --device cuda writes the CPU's bytes ($(ls ev-cpu | wc -l) files)"
    else
        notok "cnneval $name: rc=$rc $(cat ev-cpu.err ev-cuda.err | head -c 300)"
    fi
}
eval_same "test stack" adamw-cpu.safetensors test.npy
eval_same "ensemble of two" -m adamw-cpu.safetensors -m sgd-cuda.safetensors test.npy
eval_same "recordings" adamw-cuda.safetensors data/cat/cat_1.wav data/owl/owl_8.wav
[ $have_ml = 1 ] && eval_same "multi-label" ml-cuda.safetensors ml-val.npy
# a GPU checkpoint on the CPU: the same predictions as the CPU's own checkpoint
rm -rf g c
"$S/cnneval" -q --device cpu -o g adamw-cuda.safetensors test.npy 2>/dev/null && "$S/cnneval" -q --device cpu -o c adamw-cpu.safetensors test.npy 2>/dev/null \
    && diff -r g c >/dev/null && ok "a checkpoint trained on the (simulated) GPU evaluates on the CPU as the CPU's" \
    || notok "a GPU checkpoint on the CPU differs"

# ---- cnneval --scan: a recording with tones in noise; two of them with --jobs 2 ---------------------------
sox -R -n -r 16000 -c 1 n.wav synth 2 whitenoise vol 0.03 2>/dev/null
sox n.wav data/cat/cat_3.wav n.wav data/owl/owl_5.wav n.wav long1.wav 2>/dev/null
sox n.wav data/dog/dog_2.wav n.wav long2.wav 2>/dev/null
eval_same "--scan" --scan --scores - adamw-cuda.safetensors long1.wav
eval_same "--scan --jobs 2 (two contexts on the GPU at once)" --scan --jobs 2 --step 0.25 sgd-cpu.safetensors long1.wav long2.wav

# ---- architectures not ready for the GPU: refused by name; once ready, the CPU's bytes -----------------------
"$S/cnntrain" "${C[@]}" --epochs 1 --arch resnet18 --device cpu -o r18-cpu.safetensors 2>r18.err
"$S/cnntrain" "${C[@]}" --epochs 1 --arch resnet18 --device cuda -o r18-cuda.safetensors >r18c.out 2>r18c.err
rc=$?
if [ $rc = 1 ]; then
    [ "$(wc -l <r18c.err)" = 1 ] && grep -q '^cnntrain: error: --device cuda: resnet18 does not run on CUDA yet' r18c.err \
        && ok "cnntrain --device cuda --arch resnet18: one line naming it, exit 1" || notok "resnet18 refusal: $(cat r18c.err)"
    no_partial "nothing written for a refused architecture" r18-cuda.safetensors
    expect_error "cnneval --device cuda of a resnet18 checkpoint: refused by name" "--device cuda: resnet18 does not run on CUDA yet" 1 \
        "$S/cnneval" --device cuda -o r18e r18-cpu.safetensors test.npy
    "$S/cnntrain" "${C[@]}" --epochs 1 --arch resnet18 -v --device auto -o r18-auto.safetensors 2>r18a.err
    grep -q '^cnntrain: device: cpu (auto: resnet18 does not run on CUDA yet)' r18a.err && cmp -s r18-auto.safetensors r18-cpu.safetensors \
        && ok "--device auto with resnet18: the CPU, with the reason under -v" || notok "auto resnet18: $(head -c 300 r18a.err)"
elif [ $rc = 0 ]; then # the models-gpu conversion has made it ready: it must then be the CPU's bytes
    same_st "cnntrain --arch resnet18 --device cuda (ready): the CPU's checkpoint" r18-cpu.safetensors r18-cuda.safetensors
else
    notok "cnntrain --arch resnet18 --device cuda: rc=$rc $(head -c 300 r18c.err)"
fi
