#!/usr/bin/env bash
# cnntrain from the command line: the files it writes (checkpoint, state, history), determinism, SIGINT and
# SIGTERM then --resume (byte-identical to an uninterrupted run), multi-label training (--multilabel: BCE,
# (N, K) targets, macro AP, resume, bad targets), early stopping, schedules and optimisers,
# every kind of bad input (one line naming the file, nothing left behind), --help against the man page, and
# the man page's examples. The data is made here with the tools themselves: 3 classes x 8 tones, 32 mel
# bands x 32 frames (18 training, 3 validation, 3 test samples), so that each run takes a fraction of a
# second. Training runs on one thread (--threads 1) unless the thread count is what is tested.
. "$(dirname "$0")/lib.sh"
cd "$W" || exit 1
B=$BIN
MAN=$TESTS/../man/cnntrain.1
command -v sox >/dev/null || { skip "cnntrain tests: sox is needed to make test audio"; exit 0; }
PY3=$(command -v python3 || true)

# ---- data: splitset -> wav2mel -> specnorm --stack ------------------------------------------------------
mkdata() {
    make_tone_splits || return 1
    $B/specnorm -q --frames 40 -m mels/val.tsv --stack val40.npy --labels val40-labels.npy
}
mkdata 2>data.err || { notok "making the test data: $(head -c 300 data.err)"; exit 0; }
ntrain=$(($(wc -l < split/train.tsv) - 1))
T=(--threads 1 --train train.npy --val val.npy --classes split/classes.tsv)   # the common settings
H=$'epoch\ttrain_loss\ttrain_acc\tval_loss\tval_acc\tlr\tseconds'

# st_meta FILE KEY: a metadata value of a safetensors file (python3), st_names FILE: its tensor names
st_meta() { "$PY3" -c 'import json,struct,sys
b=open(sys.argv[1],"rb").read(); n=struct.unpack("<Q",b[:8])[0]; print(json.loads(b[8:8+n])["__metadata__"].get(sys.argv[2],"<absent>"))' "$@"; }
st_names() { "$PY3" -c 'import json,struct,sys
b=open(sys.argv[1],"rb").read(); n=struct.unpack("<Q",b[:8])[0]; print(" ".join(k for k in json.loads(b[8:8+n]) if k != "__metadata__"))' "$@"; }
# hist_ok PREFIX ROWS: the TSV has the header and ROWS rows of 7 fields, epochs 1..ROWS; the JSON the same rows
hist_ok() {
    local p=$1 rows=$2
    [ "$(head -1 "$p.tsv")" = "$H" ] || { echo "TSV header: $(head -1 "$p.tsv")"; return 1; }
    awk -F'\t' -v rows="$rows" 'NR > 1 && (NF != 7 || $1 != NR - 1) { bad = 1 } END { exit bad || NR - 1 != rows }' "$p.tsv" \
        || { echo "TSV rows: $(($(wc -l < "$p.tsv") - 1)) (want $rows) or a bad row"; return 1; }
    if [ -n "$PY3" ]; then
        "$PY3" - "$p.json" "$p.tsv" "$rows" <<'EOF' || return 1
import json, sys
h = json.load(open(sys.argv[1]))
tsv = [l.rstrip("\n").split("\t") for l in open(sys.argv[2])][1:]
keys = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds"]
assert isinstance(h, list) and len(h) == int(sys.argv[3]), f"JSON rows {len(h)}"
for i, (r, t) in enumerate(zip(h, tsv)):
    assert list(r) == keys, f"JSON keys {list(r)}"
    assert r["epoch"] == i + 1, f"JSON epoch {r['epoch']}"
    for k, v in zip(keys[1:6], t[1:6]):   # the TSV rounds the JSON's values to 6 decimals
        assert (r[k] is None and v == "nan") or abs(r[k] - float(v)) <= 1e-6 + 1e-6 * abs(r[k]), f"{k}: {r[k]} vs {v}"
EOF
    else
        [ "$(grep -c '"epoch":' "$p.json")" = "$rows" ] || { echo "JSON rows"; return 1; }
    fi
}

# ---- multi-label data: mltones (tests/cli/lib.sh)
have_ml=0
[ -n "$PY3" ] && mltones 2>mldata.err && have_ml=1
[ $have_ml = 1 ] || skip "multi-label tests: python3 (to write the targets) or the data: $(head -c 200 mldata.err 2>/dev/null)"

# ---- a run and what it writes ---------------------------------------------------------------------------
mkdir run
$B/cnntrain "${T[@]}" --epochs 3 --batch 8 --frontend "wav2mel --n-mels 32 | specnorm --frames 32" \
    -o run/model.safetensors --history run/hist 2>run.err; rc=$?
[ $rc = 0 ] && ok "cnntrain trains 3 epochs and exits 0" || notok "cnntrain: rc=$rc $(head -c 300 run.err)"
[ -s run/model.safetensors ] && ok "writes the checkpoint" || notok "no checkpoint"
[ -s run/model.state.safetensors ] && ok "writes the state beside it (MODEL.state.safetensors)" || notok "no state file: $(ls run)"
[ "$(grep -c '^cnntrain: epoch [1-3]/3  train loss' run.err)" = 3 ] && ok "one line per epoch on stderr" || notok "epoch lines: $(cat run.err)"
why=$(hist_ok run/hist 3) && ok "history TSV and JSON: header, 3 rows, same values" || notok "history: $why"
awk -F'\t' 'NR > 1 && !($4 > 0 && $5 >= 0 && $5 <= 1 && $6 == 0.002) { bad = 1 } END { exit bad }' run/hist.tsv \
    && ok "history: val loss/accuracy filled, lr 0.002 (the default)" || notok "history values: $(cat run/hist.tsv)"
ls run/*.tmp* >/dev/null 2>&1 && notok "temporary files left: $(ls run)" || ok "no temporary files left"
if [ -n "$PY3" ]; then
    m=""; for k in format arch input_shape n_classes monitor classes frontend; do m+="$(st_meta run/model.safetensors $k)|"; done
    [ "$m" = 'audiocnn-checkpoint-1|baseline|1x32x32|3|val_loss|["cat","dog","owl"]|wav2mel --n-mels 32 | specnorm --frames 32|' ] \
        && ok "checkpoint metadata: format, arch, input_shape, n_classes, monitor, classes, frontend" || notok "metadata: $m"
    e=$(st_meta run/model.safetensors epoch); best=$(st_meta run/model.safetensors best)
    awk -F'\t' -v e="$e" -v b="$best" '$1 == e { found = 1; exit !(($4 - b) ^ 2 < 1e-11) } END { exit !found }' run/hist.tsv \
        && ok "checkpoint epoch $e and best = that epoch's val_loss in the history" || notok "epoch $e best $best vs $(cat run/hist.tsv)"
    st_meta run/model.safetensors training | grep -q "epochs=3 batch=8 lr=0.002 wd=0.01 opt=adamw schedule=plateau seed=42" \
        && ok "checkpoint metadata: training settings" || notok "training: $(st_meta run/model.safetensors training)"
    names=$(st_names run/model.safetensors)
    want="features.0.weight features.1.weight features.1.bias features.1.running_mean features.1.running_var features.1.num_batches_tracked"
    [ "${names%% features.4.weight*}" = "$want" ] && [ "$(echo $names | wc -w)" = 28 ] && [ "${names##* }" = classifier.3.bias ] \
        && ok "checkpoint tensors: PyTorch state_dict names and order (28)" || notok "tensors: $names"
    snames=$(st_names run/model.state.safetensors)
    echo " $snames " | grep -q " opt.m.features.0.weight opt.v.features.0.weight " && echo " $snames " | grep -q " opt.step " \
        && [ "$(st_meta run/model.state.safetensors state.epoch)" = 3 ] \
        && ok "state: weights, opt.m/opt.v moments, opt.step, state.* counters" || notok "state tensors: $snames"
else
    skip "checkpoint metadata: python3 is needed to read the header"
fi
mkdir def && (cd def && $B/cnntrain -q --threads 1 --epochs 1 --train ../train.npy) && [ -s def/model.safetensors ] \
    && [ -s def/model.state.safetensors ] && ok "default output model.safetensors and its state" || notok "default output: $(ls def)"
$B/cnntrain -q --threads 1 --epochs 15 --batch 8 --patience 0 --train train.npy --val val.npy -o learn.safetensors --history learn
awk -F'\t' 'END { exit !($5 == 1) }' learn.tsv && ok "learns the tones: validation accuracy 1 after 15 epochs" \
    || notok "does not learn: $(tail -2 learn.tsv)"
$B/cnntrain -q --threads 1 --epochs 2 --train train.npy -o noval.safetensors --history noval 2>noval.err \
    && awk -F'\t' 'NR > 1 && !($4 == "nan" && $5 == "nan") { bad = 1 } END { exit bad || NR != 3 }' noval.tsv \
    && grep -q '"val_loss": null' noval.json && ok "without --val: nan in the TSV, null in the JSON" || notok "no --val: $(cat noval.err noval.tsv)"
$B/cnntrain --threads 1 --epochs 2 --train train.npy -o noval2.safetensors 2>noval2.err \
    && [ "$(grep -c '^cnntrain: epoch [12]/2  train loss [0-9.]* acc [0-9.]*  no validation  lr ' noval2.err)" = 2 ] \
    && ! grep -qi nan noval2.err && ok "without --val the epoch lines say 'no validation' (no nan)" || notok "no --val lines: $(cat noval2.err)"
[ -n "$PY3" ] && { [ "$(st_meta noval.safetensors epoch)" = 2 ] && ok "without --val the last epoch is the checkpoint" \
    || notok "no --val checkpoint epoch $(st_meta noval.safetensors epoch)"; }
mkdir man
expect_error "a manifest of unequal spectrograms" "mels/train.tsv line [0-9]+: '.*' has another shape" 1 \
    $B/cnntrain -q --threads 1 --epochs 1 --train mels/train.tsv -o man/m.safetensors
$B/wav2mel -q --n-mels 32 --duration 0.4 --list split/train.tsv -o fixed -m fixed.tsv \
    && $B/cnntrain -q --threads 1 --epochs 1 --train fixed.tsv -o man/fixed.safetensors \
    && { [ -z "$PY3" ] || [ "$(st_meta man/fixed.safetensors input_shape)" = 1x32x35 ]; } \
    && ok "a manifest of equal-shape spectrograms trains (labels from its index column)" || notok "manifest training"

# ---- determinism ----------------------------------------------------------------------------------------
S=(--threads 1 --epochs 3 --batch 4 --train train.npy --val val.npy -q)
$B/cnntrain "${S[@]}" -o d1.safetensors && $B/cnntrain "${S[@]}" -o d2.safetensors
cmp -s d1.safetensors d2.safetensors && ok "same seed: byte-identical checkpoints" || notok "same seed, different checkpoints"
cmp -s d1.state.safetensors d2.state.safetensors && ok "same seed: byte-identical states" || notok "same seed, different states"
$B/cnntrain "${S[@]}" --threads 2 -o d3.safetensors
cmp -s d1.safetensors d3.safetensors && ok "--threads 2 gives the bytes of --threads 1" || notok "--threads changes the checkpoint"
$B/cnntrain "${S[@]}" --seed 7 -o d4.safetensors
cmp -s d1.safetensors d4.safetensors && notok "--seed 7 gives the same checkpoint as 42" || ok "another seed gives other bytes"
$B/cnntrain "${S[@]}" --no-augment -o d5.safetensors
cmp -s d1.safetensors d5.safetensors && notok "--no-augment changes nothing" || ok "--no-augment gives other bytes"

# ---- interruption and resume ----------------------------------------------------------------------------
# E epochs of 9 batches; the interrupted run is signalled once its first epoch is in the history, so the
# handlers are installed and training is under way (most likely mid-epoch: the state records where).
R=(--threads 1 --batch 2 --epochs 30 --patience 0 --train train.npy --val val.npy)
$B/cnntrain "${R[@]}" -q -o full.safetensors --history full
# interrupt SIG NAME: train NAME in the background, send SIG after the first epoch; sets irc
interrupt() {
    $B/cnntrain "${R[@]}" -o "$2.safetensors" --history "$2" 2>"$2.err" &
    local pid=$! t=0
    while [ "$(cat "$2.tsv" 2>/dev/null | wc -l)" -lt 2 ] && kill -0 $pid 2>/dev/null && [ $t -lt 600 ]; do sleep 0.02; t=$((t + 1)); done
    sleep 0.1
    kill -"$1" $pid 2>/dev/null
    wait $pid; irc=$?
    cp "$2.state.safetensors" "$2.interrupted" 2>/dev/null
}
where() { [ -n "$PY3" ] && echo "at epoch $(($(st_meta "$1" state.epoch) + 1)), batch $(st_meta "$1" state.batch)"; }
for sig in INT TERM; do
    want=$([ $sig = INT ] && echo 130 || echo 143)
    interrupt $sig $sig
    if [ $irc = "$want" ]; then
        tail -1 $sig.err | grep -q "^cnntrain: interrupted; resume with --resume $sig.state.safetensors$" \
            && ok "SIG$sig: exit $want, message naming --resume $(where $sig.interrupted)" || notok "SIG$sig message: $(tail -2 $sig.err)"
        [ "$(wc -l < $sig.tsv)" -lt 31 ] && ok "SIG$sig stops the run before the end" || notok "SIG$sig: history complete"
    elif [ $irc = 0 ]; then
        skip "SIG$sig arrived after the run had finished (exit 0): the machine is slow; resume checked anyway"
    else
        notok "SIG$sig: exit $irc (want $want): $(tail -2 $sig.err)"
    fi
    $B/cnntrain "${R[@]}" -q -o $sig.safetensors --history $sig --resume $sig.state.safetensors 2>$sig.err2; rc=$?
    [ $rc = 0 ] && ok "SIG$sig: --resume finishes the run" || notok "SIG$sig resume: rc=$rc $(head -c 300 $sig.err2)"
    cmp -s full.safetensors $sig.safetensors && ok "SIG$sig + resume: checkpoint byte-identical to an uninterrupted run" \
        || notok "SIG$sig + resume: checkpoints differ"
    cmp -s full.state.safetensors $sig.state.safetensors && ok "SIG$sig + resume: final state byte-identical" || notok "SIG$sig + resume: states differ"
    cmp -s <(cut -f1-6 full.tsv) <(cut -f1-6 $sig.tsv) && [ "$(wc -l < $sig.tsv)" = 31 ] \
        && ok "SIG$sig + resume: history TSV identical but for seconds" || notok "SIG$sig + resume: TSV history differs"
    cmp -s <(grep -v '"seconds"' full.json) <(grep -v '"seconds"' $sig.json) \
        && ok "SIG$sig + resume: history JSON identical but for seconds" || notok "SIG$sig + resume: JSON history differs: $(diff <(grep -v '"seconds"' full.json) <(grep -v '"seconds"' $sig.json) | head -4)"
done
# resuming a finished state does nothing; a state resumed with fewer --epochs than it has done does nothing
cp INT.safetensors again.safetensors; cp INT.state.safetensors again.state.safetensors; cp INT.tsv again.tsv; cp INT.json again.json
$B/cnntrain "${R[@]}" -q -o again.safetensors --history again --resume again.state.safetensors \
    && cmp -s again.safetensors full.safetensors && cmp -s again.tsv INT.tsv && ok "resuming a finished run changes nothing" || notok "resume of a finished run"
$B/cnntrain "${R[@]}" --epochs 2 -q -o again.safetensors --history again --resume again.state.safetensors; rc=$?
[ $rc = 0 ] && cmp -s again.safetensors full.safetensors && ok "resume with fewer --epochs than done: nothing to do, exit 0" \
    || notok "resume with fewer epochs: rc=$rc"
# more epochs continue the run
$B/cnntrain "${R[@]}" --epochs 32 -q -o again.safetensors --history again --resume again.state.safetensors; rc=$?
[ $rc = 0 ] && [ "$(wc -l < again.tsv)" = 33 ] && cmp -s <(head -31 again.tsv | cut -f1-6) <(cut -f1-6 full.tsv) \
    && ok "resume with more --epochs continues the history" || notok "resume with more epochs: rc=$rc, $(wc -l < again.tsv) lines"
expect_error "--resume of a checkpoint (no optimiser state)" "full.safetensors: not a resumable state" 1 \
    $B/cnntrain "${R[@]}" -o r1.safetensors --resume full.safetensors
no_partial "nothing written after a bad --resume" r1.safetensors
head -c 3000 full.state.safetensors > cut.state.safetensors
expect_error "--resume of a truncated state" "cut.state.safetensors: " 1 $B/cnntrain "${R[@]}" -o r2.safetensors --resume cut.state.safetensors
no_partial "nothing written after a truncated state" r2.safetensors

# ---- early stopping, monitor, schedules, optimisers -------------------------------------------------------
# val_acc over 3 samples takes 4 values: with --patience 1 it can improve at most 4 times in a row
$B/cnntrain "${T[@]}" --epochs 20 --patience 1 --monitor val_acc -o es.safetensors --history es 2>es.err; rc=$?
n=$(($(wc -l < es.tsv) - 1))
[ $rc = 0 ] && [ "$n" -lt 20 ] && [ "$n" -le 5 ] && grep -q "stopping early: no improvement of val_acc for 1 epochs" es.err \
    && ok "--patience 1 --monitor val_acc stops early ($n of 20 epochs)" || notok "early stopping: rc=$rc, $n epochs, $(tail -1 es.err)"
if [ -n "$PY3" ]; then
    e=$(st_meta es.safetensors epoch); best=$(st_meta es.safetensors best)
    [ "$(st_meta es.safetensors monitor)" = val_acc ] && awk -F'\t' -v e="$e" -v b="$best" \
        'NR > 1 { if ($5 > m + 1e-9 || NR == 2) { m = $5; be = $1 } } END { exit !(be == e && (m - b) ^ 2 < 1e-11) }' es.tsv \
        && ok "the checkpoint is the first epoch with the best val_acc (epoch $e, $best)" || notok "val_acc checkpoint: epoch $e best $best"
fi
for x in safetensors state.safetensors tsv json; do cp es.$x es2.$x; done
$B/cnntrain "${T[@]}" -q --epochs 20 --patience 1 --monitor val_acc -o es2.safetensors --history es2 --resume es2.state.safetensors \
    && cmp -s es.tsv es2.tsv && cmp -s es.safetensors es2.safetensors && ok "resuming an early-stopped run trains no more" \
    || notok "resume after early stop trained: $(cat es2.tsv)"
$B/cnntrain "${T[@]}" -q --epochs 4 --schedule cosine --warmup 2 -o cos.safetensors --history cos; rc=$?
lr=$(cut -f6 cos.tsv | tail -n +2 | tr '\n' ' ')
[ $rc = 0 ] && awk -F'\t' 'NR == 2 { a = $6 } NR == 3 { b = $6 } NR == 4 { c = $6 } NR == 5 { d = $6 } END { exit !(a < b && b < c && c == 0.002 && d < c && d > 0) }' cos.tsv \
    && ok "--schedule cosine --warmup 2: lr rises over 2 epochs to 0.002, then falls, never to 0 ($lr)" || notok "cosine: rc=$rc lr $lr"
$B/cnntrain "${T[@]}" -q --epochs 3 --schedule none --lr 0.002 -o none.safetensors --history none; rc=$?
[ $rc = 0 ] && [ "$(cut -f6 none.tsv | tail -n +2 | sort -u)" = 0.002 ] && ok "--schedule none keeps --lr" || notok "--schedule none: rc=$rc"
$B/cnntrain "${T[@]}" -q --epochs 3 --optimizer sgd --momentum 0.8 --lr 0.01 -o sgd.safetensors --history sgd; rc=$?
[ $rc = 0 ] && [ -s sgd.safetensors ] && ok "--optimizer sgd trains" || notok "sgd: rc=$rc"
if [ -n "$PY3" ]; then
    st_meta sgd.safetensors training | grep -q "opt=sgd" && ! st_names sgd.state.safetensors | grep -q "opt.v." \
        && st_names sgd.state.safetensors | grep -q "opt.m.classifier.3.weight" \
        && ok "SGD: recorded in the metadata, momentum buffers (opt.m) only in the state" || notok "sgd state: $(st_meta sgd.safetensors training)"
fi
$B/cnntrain "${T[@]}" -q --epochs 2 --label-smoothing 0.1 --clip 1 --no-class-weights --masks 2 --freq-mask 4 --time-mask 4 \
    --dropout 0.5 --wd 0 -o misc.safetensors && ok "--label-smoothing, --clip, --no-class-weights, --masks, --dropout, --wd run" \
    || notok "other training options"
[ -z "$PY3" ] || { st_meta misc.safetensors training | grep -q "smoothing=0.1 class_weights=0 augment=1 F=4 T=4 dropout=0.5" \
    && ok "those settings are in the metadata" || notok "metadata: $(st_meta misc.safetensors training)"; }
$B/cnntrain "${T[@]}" -q --epochs 1 --init run/model.safetensors -o init.safetensors && ok "--init starts from a checkpoint" || notok "--init"
printf 'index\tname\n0\ta\n1\tb\n2\tc\n3\td\n' > four.tsv
$B/cnntrain --threads 1 -q --epochs 1 --train fixed.tsv --no-class-weights --classes four.tsv --init run/model.safetensors \
    -o init2.safetensors && ok "--init into another input shape and number of classes (the head, classifier.*, not loaded)" || notok "--init other classes"
printf 'index\tname\n0\ta\n1\tb\n' > two.tsv

# ---- bad input: one line naming the file, exit 1 (2 for usage), no checkpoint or state left ---------------
bad() { # NAME REGEX RC ARGS...: expect_error, then no checkpoint/state at bad.safetensors
    local name=$1 re=$2 rc=$3; shift 3
    expect_error "$name" "$re" "$rc" $B/cnntrain -q --threads 1 --epochs 2 "$@" -o bad.safetensors
    no_partial "no checkpoint after: $name" bad.safetensors; no_partial "no state after: $name" bad.state.safetensors
}
bad "missing --train" "--train is required" 2 --val val.npy
expect_error "output not ending in .safetensors" "must end in .safetensors: model.pt" 2 $B/cnntrain --train train.npy -o model.pt
no_partial "no output for a bad output name" model.pt
bad "unknown --arch" "unknown architecture .*: resnet" 2 --train train.npy --arch resnet
bad "bad --epochs" "bad value for --epochs: 0" 2 --train train.npy --epochs 0
bad "bad --optimizer" "bad value for --optimizer: adam" 2 --train train.npy --optimizer adam
bad "bad --monitor" "bad value for --monitor: acc" 2 --train train.npy --monitor acc
bad "bad --schedule" "bad value for --schedule: step" 2 --train train.npy --schedule step
bad "an extra argument" "unexpected argument x.npy" 2 --train train.npy x.npy
$B/cnntrain --bogus >/dev/null 2>&1; [ $? = 2 ] && ok "unknown option: exit 2" || notok "unknown option: exit $?"
bad "missing training file" "nothere.npy: cannot open" 1 --train nothere.npy
cp train.npy lone.npy
bad "training stack without its labels file" "lone-labels.npy: cannot open" 1 --train lone.npy
bad "train and val of different shapes" "val40.npy: samples of 1x32x40, but the training split has 1x32x32" 1 --train train.npy --val val40.npy
bad "labels of the wrong length" "val-labels.npy: labels of shape 3 do not match the $ntrain samples of train.npy" 1 \
    --train train.npy --train-labels val-labels.npy
# NaN: patch a float of sample 2 of a copy of the stack (v1.0 header: 10 bytes + its length at bytes 8-9)
npy_data() { echo $((10 + $(od -An -tu2 -j8 -N2 "$1" | tr -d ' '))); }
cp train.npy nan.npy; cp train-labels.npy nan-labels.npy
printf '\000\000\300\177' | dd of=nan.npy bs=1 seek=$(($(npy_data nan.npy) + 4 * (2 * 1024 + 77))) conv=notrunc 2>/dev/null
bad "NaN in the training data" "nan.npy: sample 2 .*NaN" 1 --train nan.npy
bad "NaN in the validation data" "nan.npy: sample 2 .*NaN" 1 --train train.npy --val nan.npy
cp train-labels.npy unl-labels.npy
printf '\377\377\377\377\377\377\377\377' | dd of=unl-labels.npy bs=1 seek=$(($(npy_data unl-labels.npy) + 8 * 4)) conv=notrunc 2>/dev/null
bad "unlabelled training sample (-1)" "train.npy: sample 4 has no label" 1 --train train.npy --train-labels unl-labels.npy
cp val-labels.npy vunl-labels.npy
printf '\377\377\377\377\377\377\377\377' | dd of=vunl-labels.npy bs=1 seek=$(npy_data vunl-labels.npy) conv=notrunc 2>/dev/null
bad "unlabelled validation sample (-1)" "val.npy: sample 0 has no label" 1 --train train.npy --val val.npy --val-labels vunl-labels.npy
cp val-labels.npy v9-labels.npy; printf '\011' | dd of=v9-labels.npy bs=1 seek=$(npy_data v9-labels.npy) conv=notrunc 2>/dev/null
bad "a class without training samples ('balanced' weights)" "train.npy: .*class [0-9] has no sample" 1 \
    --train train.npy --val val.npy --val-labels v9-labels.npy
bad "--classes with too few rows" "two.tsv: 2 classes, but the labels go up to 2" 1 --train train.npy --classes two.tsv
bad "--classes without index/name columns" "split/train.tsv: needs columns index and name" 1 --train train.npy --classes split/train.tsv
bad "--init of a truncated checkpoint" "cut.state.safetensors: " 1 --train train.npy --init cut.state.safetensors
head -c 2000 /dev/urandom > random.safetensors
bad "--init of random bytes" "random.safetensors: " 1 --train train.npy --init random.safetensors
# the front end's data-set statistics: '... | --stats FILE' reads FILE (specnorm's checks, one value per
# mel band of the model's input); the checkpoint carries it as frontend.stats.mean/std, the text says
# '--stats checkpoint'; a bad file: one line naming it, exit 1, nothing written
$B/specnorm -q --fit stats.npy -m mels/train.tsv
FE="--n-mels 32 | --stats stats.npy --frames 32"
$B/cnntrain "${T[@]}" -q --epochs 2 --frontend "$FE" -o fst.safetensors --history fst && ok "--frontend '... | --stats FILE' trains" \
    || notok "--frontend with --stats"
if [ -n "$PY3" ]; then
    [ "$(st_meta fst.safetensors frontend)" = "--n-mels 32 | --stats checkpoint --frames 32" ] \
        && [ "$(st_names fst.safetensors | tr ' ' '\n' | grep -c '^frontend\.')" = 2 ] \
        && [ "$(st_names fst.state.safetensors | tr ' ' '\n' | grep -c '^frontend\.')" = 2 ] \
        && "$PY3" - <<'EOF' && ok "the checkpoint (and state) carry the statistics as frontend.stats.mean/std, the text '--stats checkpoint'" \
            || notok "stats tensors: $(st_meta fst.safetensors frontend) $(st_names fst.safetensors)"
import json, struct
b = open("fst.safetensors", "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n])
s = open("stats.npy", "rb").read()  # a v1.0 .npy of float32 (2, 32): rows mean and std
assert s[6:8] == b"\x01\x00" and b"'descr': '<f4'" in s and b"'shape': (2, 32)" in s
s = s[10 + struct.unpack("<H", s[8:10])[0]:]
for row, name in enumerate(("frontend.stats.mean", "frontend.stats.std")):
    e = h[name]; lo, hi = e["data_offsets"]
    assert e["dtype"] == "F32" and e["shape"] == [32], e
    assert b[8 + n + lo:8 + n + hi] == s[128 * row:128 * (row + 1)], name
EOF
fi
$B/cnntrain "${T[@]}" -q --epochs 1 --init fst.safetensors -o fsti.safetensors && ok "--init from a checkpoint with statistics (frontend.* skipped)" \
    || notok "--init from a stats checkpoint"
$B/cnntrain --threads 1 -q --epochs 1 --train train.npy --no-class-weights --classes four.tsv --init fst.safetensors -o fsti4.safetensors \
    && ok "--init from a checkpoint with statistics into other classes" || notok "--init from a stats checkpoint, other classes"
cp fst.state.safetensors fstr.state.safetensors; cp fst.safetensors fstr.safetensors; cp fst.tsv fstr.tsv; cp fst.json fstr.json
$B/cnntrain "${T[@]}" -q --epochs 3 --frontend "$FE" -o fstr.safetensors --history fstr --resume fstr.state.safetensors \
    && $B/cnntrain "${T[@]}" -q --epochs 3 --frontend "$FE" -o fst3.safetensors && cmp -s fstr.safetensors fst3.safetensors \
    && ok "--resume of a run with statistics: the bytes of an uninterrupted run" || notok "--resume with statistics"
cp stats.npy nanst.npy; printf '\000\000\300\177' | dd of=nanst.npy bs=1 seek=$(($(npy_data nanst.npy) + 4 * 3)) conv=notrunc 2>/dev/null
cp stats.npy negst.npy; printf '\000\000\200\277' | dd of=negst.npy bs=1 seek=$(($(npy_data negst.npy) + 4 * 33)) conv=notrunc 2>/dev/null
$B/wav2mel -q --n-mels 16 data/cat/cat_1.wav m16.npy && $B/specnorm -q --fit st16.npy m16.npy
fe() { echo "--n-mels 32 | --stats $1 --frames 32"; }
bad "--frontend --stats: a missing file" "nothere.npy: cannot open" 1 --train train.npy --frontend "$(fe nothere.npy)"
mkdir -p "st dir" && cp stats.npy "st dir/s t.npy"
$B/cnntrain "${T[@]}" -q --epochs 1 --frontend "--n-mels 32 | --stats 'st dir/s t.npy' --frames 32" -o fsq.safetensors \
    && { [ -z "$PY3" ] || [ "$(st_meta fsq.safetensors frontend)" = "--n-mels 32 | --stats checkpoint --frames 32" ]; } \
    && ok "--frontend: a quoted --stats path with spaces ('st dir/s t.npy')" || notok "quoted --stats path"
bad "--frontend: an unclosed quote" "--frontend: .*a quote .* is not closed" 2 --train train.npy --frontend "--n-mels 32 | --stats 'st dir/s t.npy"
bad "--frontend --stats: not a statistics file (labels)" "train-labels.npy: not a statistics file" 1 --train train.npy --frontend "$(fe train-labels.npy)"
bad "--frontend --stats: a stack, not (2, F)" "val.npy: not a statistics file: shape" 1 --train train.npy --frontend "$(fe val.npy)"
bad "--frontend --stats: a NaN mean" "nanst.npy: mean of band 3 is not finite" 1 --train train.npy --frontend "$(fe nanst.npy)"
bad "--frontend --stats: a negative std" "negst.npy: std of band 1 is negative" 1 --train train.npy --frontend "$(fe negst.npy)"
bad "--frontend --stats: 16 bands for 32-band inputs" "st16.npy: statistics of 16 mel bands, but the model's input has 32" 1 \
    --train train.npy --frontend "$(fe st16.npy)"
bad "--frontend --stats with --mode sample" "--frontend: .*--stats goes with --mode stats, not --mode sample" 2 \
    --train train.npy --frontend "--n-mels 32 | --mode sample --stats stats.npy"
bad "--frontend --stats without a file" "--frontend: --stats needs a value" 2 --train train.npy --frontend "--n-mels 32 | --frames 32 --stats"
bad "--frontend --stats with an unknown option" "--frontend: .*--bogus" 2 --train train.npy --frontend "--n-mels 32 --bogus 1 | --stats stats.npy"
expect_error "output in a missing directory" "nodir/m.safetensors: cannot create output" 1 \
    $B/cnntrain -q --threads 1 --epochs 1 --train train.npy -o nodir/m.safetensors
no_partial "nothing in the missing directory" nodir/m.safetensors
: > afile
expect_error "output under a regular file (unwritable even for root)" "afile/m.safetensors: cannot create output" 1 \
    $B/cnntrain -q --threads 1 --epochs 1 --train train.npy -o afile/m.safetensors
expect_error "output in /proc (unwritable even for root)" "/proc/audiocnn-test.safetensors: cannot create output" 1 \
    $B/cnntrain -q --threads 1 --epochs 1 --train train.npy -o /proc/audiocnn-test.safetensors

# ---- --help and the man page -----------------------------------------------------------------------------
$B/cnntrain --help > help.txt; rc=$?
[ $rc = 0 ] && grep -q -- "--resume FILE" help.txt && ok "--help: exit 0, lists the options" || notok "--help rc=$rc"
if [ -f "$MAN" ]; then
    missing=$(grep -E '^ +-' help.txt | grep -oE -- '--[a-z][a-z-]+' | sort -u | while read -r o; do grep -qF -- "${o//-/\\-}" "$MAN" || echo "$o"; done)
    [ -z "$missing" ] && ok "the man page documents every option of --help" || notok "not in cnntrain(1): $missing"
    if command -v man >/dev/null; then
        w=$(MANWIDTH=100 man --warnings -l "$MAN" 2>&1 >/dev/null)
        [ -z "$w" ] && ok "man --warnings: cnntrain(1) is clean" || notok "cnntrain(1) warnings: $(echo "$w" | head -3)"
    else skip "man page warnings: no man"; fi
    # the EXAMPLES run as written, in order, in a folder holding the files they name
    mkdir ex && cp -r train.npy train-labels.npy val.npy val-labels.npy split ex/ && cd ex
    [ $have_ml = 1 ] && cp ../ml-train.npy ../ml-train-labels.npy ../ml-val.npy ../ml-val-labels.npy .
    sed -n '/^\.SH EXAMPLES/,/^\.SH SEE ALSO/p' "$MAN" | grep -E '^    cnntrain ' | sed 's/\\-/-/g' > examples
    [ "$(wc -l < examples)" -ge 3 ] || notok "man page EXAMPLES not found"
    while read -r cmd; do
        [ $have_ml = 0 ] && [[ $cmd == *multilabel* ]] && { skip "man example: $cmd: no multi-label data"; continue; }
        if PATH="$BIN:$PATH" bash -c "$cmd" >/dev/null 2>ex.err; then ok "man example: $cmd"; else notok "man example: $cmd: $(head -c 200 ex.err)"; fi
    done < examples
    cd ..
else
    notok "man/cnntrain.1 is missing"
fi

# mixup: trains, deterministic, recorded in the metadata, and different from no mixup
$B/cnntrain "${T[@]}" -q --epochs 3 --mixup 0.4 -o mix1.safetensors --state mixs1.safetensors --history mix1 2>mix.err; rc=$?
$B/cnntrain "${T[@]}" -q --epochs 3 --mixup 0.4 -o mix2.safetensors --state mixs2.safetensors 2>>mix.err
$B/cnntrain "${T[@]}" -q --epochs 3 -o nomix.safetensors --state nomixs.safetensors 2>>mix.err
[ $rc = 0 ] && cmp -s mix1.safetensors mix2.safetensors && ! cmp -s mix1.safetensors nomix.safetensors \
    && awk -F'\t' 'NR > 1 && !($2 > 0 && $2 < 10) { bad = 1 } END { exit bad }' mix1.tsv \
    && ok "--mixup 0.4: finite losses, same bytes twice, differs from no mixup" || notok "--mixup: rc=$rc $(head -c 300 mix.err)"

# ---- multi-label: --multilabel on (N, 3) targets ----------------------------------------------------------
if [ $have_ml = 1 ]; then
ML=(--multilabel --threads 1 --batch 8 --train ml-train.npy --val ml-val.npy)
HM=$'epoch\ttrain_loss\ttrain_map\tval_loss\tval_map\tlr\tseconds'
$B/cnntrain "${ML[@]}" --epochs 15 --patience 0 -o ml1.safetensors --history ml1 2>ml1.err; rc=$?
[ $rc = 0 ] && [ "$(head -1 ml1.tsv)" = "$HM" ] && [ "$(($(wc -l < ml1.tsv) - 1))" = 15 ] && grep -q '"val_map": ' ml1.json \
    && grep -q '^cnntrain: epoch 15/15  train loss [0-9.]* mAP [0-9.]*  val loss [0-9.]* mAP [0-9.]*  lr' ml1.err \
    && ok "--multilabel trains 15 epochs: history columns train_map and val_map, mAP on the epoch lines" \
    || notok "--multilabel: rc=$rc $(head -c 300 ml1.err) $(head -1 ml1.tsv)"
e=$(st_meta ml1.safetensors epoch)
awk -F'\t' -v e="$e" 'NR > 1 && $1 == e { found = 1; ok = $4 < 0.1 && $5 > 0.95 } END { exit !(found && ok) }' ml1.tsv \
    && ok "--multilabel learns two-tone clips: best epoch $e has val BCE < 0.1 and macro AP > 0.95" \
    || notok "--multilabel does not learn: $(cat ml1.tsv)"
[ "$(st_meta ml1.safetensors multilabel)|$(st_meta ml1.safetensors monitor)|$(st_meta ml1.safetensors n_classes)" = "1|val_loss|3" ] \
    && st_meta ml1.safetensors training | grep -q "class_weights=0 .* multilabel=1 pos_weight=none$" \
    && [ "$(st_meta run/model.safetensors multilabel)" = "<absent>" ] \
    && ok "checkpoint metadata: multilabel 1 (absent single-label), settings end 'multilabel=1 pos_weight=none'" \
    || notok "multi-label metadata: $(st_meta ml1.safetensors multilabel) $(st_meta ml1.safetensors training)"
st_names ml1.state.safetensors | grep -q "state.train_scores" && ! st_names ml1.safetensors | grep -q "state\." \
    && ok "the state (not the checkpoint) holds state.train_scores" || notok "train scores: $(st_names ml1.state.safetensors | tail -c 200)"
MX=("${ML[@]}" --epochs 4 --pos-weight balanced --mixup 0.4 --label-smoothing 0.05 -q)
$B/cnntrain "${MX[@]}" -o mlx1.safetensors --history mlx1 && $B/cnntrain "${MX[@]}" -o mlx2.safetensors \
    && $B/cnntrain "${MX[@]}" --threads 2 -o mlx3.safetensors && $B/cnntrain "${ML[@]}" --epochs 4 -q -o mlx4.safetensors \
    && cmp -s mlx1.safetensors mlx2.safetensors && cmp -s mlx1.state.safetensors mlx2.state.safetensors \
    && cmp -s mlx1.safetensors mlx3.safetensors && ! cmp -s mlx1.safetensors mlx4.safetensors \
    && awk -F'\t' 'NR > 1 && !($2 > 0 && $2 < 2 && $3 >= 0 && $3 <= 1 && $5 >= 0 && $5 <= 1) { bad = 1 } END { exit bad }' mlx1.tsv \
    && st_meta mlx1.safetensors training | grep -q "smoothing=0.05 .*mixup=0.4 .*pos_weight=balanced$" \
    && ok "--pos-weight balanced --mixup --label-smoothing: same bytes twice and with --threads 2, other bytes than without, recorded" \
    || notok "multi-label options: $(cat mlx1.tsv 2>/dev/null | tail -2)"
$B/cnntrain "${ML[@]}" -q --epochs 6 --monitor val_map -o mlm.safetensors --history mlm; rc=$?
e=$(st_meta mlm.safetensors epoch); best=$(st_meta mlm.safetensors best)
[ $rc = 0 ] && [ "$(st_meta mlm.safetensors monitor)" = val_map ] && awk -F'\t' -v e="$e" -v b="$best" \
    'NR > 1 { if ($5 > m + 1e-9 || NR == 2) { m = $5; be = $1 } } END { exit !(be == e && (m - b) ^ 2 < 1e-11) }' mlm.tsv \
    && ok "--monitor val_map: the checkpoint is the first epoch of best val_map (epoch $e, $best)" || notok "val_map: rc=$rc epoch $e best $best"
# interrupted mid-epoch (21 batches of 2 per epoch), then --resume: the bytes of an uninterrupted run
MR=("${ML[@]}" --batch 2 --epochs 30 --patience 0 --pos-weight balanced --mixup 0.4)
$B/cnntrain "${MR[@]}" -q -o mlfull.safetensors --history mlfull
$B/cnntrain "${MR[@]}" -o mlint.safetensors --history mlint 2>mlint.err &
pid=$! t=0
while [ "$(cat mlint.tsv 2>/dev/null | wc -l)" -lt 2 ] && kill -0 $pid 2>/dev/null && [ $t -lt 600 ]; do sleep 0.02; t=$((t + 1)); done
sleep 0.05; kill -INT $pid 2>/dev/null; wait $pid; irc=$?
[ $irc = 130 ] && ok "--multilabel: SIGINT writes the state ($(where mlint.state.safetensors))" \
    || { [ $irc = 0 ] && skip "--multilabel SIGINT arrived after the run had finished" || notok "--multilabel SIGINT: exit $irc"; }
$B/cnntrain "${MR[@]}" -q -o mlint.safetensors --history mlint --resume mlint.state.safetensors \
    && cmp -s mlfull.safetensors mlint.safetensors && cmp -s mlfull.state.safetensors mlint.state.safetensors \
    && cmp -s <(cut -f1-6 mlfull.tsv) <(cut -f1-6 mlint.tsv) && cmp -s <(grep -v '"seconds"' mlfull.json) <(grep -v '"seconds"' mlint.json) \
    && ok "--multilabel: --resume gives the checkpoint, state and history of an uninterrupted run" \
    || notok "--multilabel resume differs"
# bad targets and options: one line naming the file, nothing written
n=$(($(wc -l < ml-train.rows)))
mknpy mlshape-labels.npy '|u1' "($((n + 1)), 3)" $(cat ml-train.rows) 0 0 0
bad "multi-label targets of the wrong length" "mlshape-labels.npy: labels of shape $((n + 1))x3 do not match the $n samples" 1 \
    "${ML[@]}" --train-labels mlshape-labels.npy
mknpy mlk2-labels.npy '|u1' "(18, 2)" $(head -18 ml-val.rows | cut -d' ' -f1,2)
bad "validation targets of another K" "mlk2-labels.npy: targets of 2 classes, but the training labels have 3" 1 \
    "${ML[@]}" --val-labels mlk2-labels.npy
mknpy mlhi-labels.npy '<f4' "($n, 3)" $(cat ml-train.rows | sed '4s/^1 /1.5 /')
bad "a target above 1" "mlhi-labels.npy: target 1.5 of sample 3, class 0 is outside \[0, 1\]" 1 "${ML[@]}" --train-labels mlhi-labels.npy
mknpy mlneg-labels.npy '<f4' "(18, 3)" $(cat ml-val.rows | sed '2s/ 1 / -0.25 /')
bad "a negative validation target" "mlneg-labels.npy: target -0.25 of sample 1, class 1 is outside" 1 "${ML[@]}" --val-labels mlneg-labels.npy
mknpy mlnan-labels.npy '<f4' "($n, 3)" $(cat ml-train.rows | sed '3s/ 1 $/ nan /')
bad "a NaN target" "mlnan-labels.npy: target nan of sample 2, class 2 is not a number" 1 "${ML[@]}" --train-labels mlnan-labels.npy
mknpy ml2-labels.npy '|u1' "($n, 3)" $(cat ml-train.rows | sed '1s/^1 /2 /')
bad "an integer target other than 0/1" "ml2-labels.npy: target 2 of sample 0, class 0 is not 0 or 1" 1 "${ML[@]}" --train-labels ml2-labels.npy
mknpy mlsoft-labels.npy '<f4' "($n, 3)" $(cat ml-train.rows | sed 's/1/0.8/g')
$B/cnntrain "${ML[@]}" -q --epochs 2 --train-labels mlsoft-labels.npy -o mlsoft.safetensors && ok "soft float32 targets (0.8) train" \
    || notok "soft targets refused"
mknpy mlidx-labels.npy '<i8' "($n,)" $(seq 1 $n | sed 's/.*/0/')
bad "--multilabel with class indices (N,)" "mlidx-labels.npy: --multilabel needs \(N, K\) targets" 1 "${ML[@]}" --train-labels mlidx-labels.npy
bad "(N, K) targets without --multilabel" "ml-train-labels.npy: \(N, 3\) multi-label targets: train with --multilabel" 1 \
    --threads 1 --train ml-train.npy
bad "--multilabel with a manifest" "fixed.tsv: --multilabel needs a stacked .npy" 1 --multilabel --threads 1 --train fixed.tsv
mknpy mlnopos-labels.npy '|u1' "($n, 3)" $(cat ml-train.rows | sed 's/ 1 $/ 0 /')
bad "--pos-weight balanced with a class without positives" "mlnopos-labels.npy: balanced pos_weight: class 2 has no positive" 1 \
    "${ML[@]}" --pos-weight balanced --train-labels mlnopos-labels.npy
bad "--classes of another K than the targets" "two.tsv: 2 classes, but the multi-label targets have 3" 1 "${ML[@]}" --classes two.tsv
bad "--monitor val_acc with --multilabel" "--monitor val_acc has no meaning with --multilabel" 2 "${ML[@]}" --monitor val_acc
bad "--monitor val_map without --multilabel" "--monitor val_map needs --multilabel" 2 --train train.npy --monitor val_map
bad "--pos-weight without --multilabel" "--pos-weight needs --multilabel" 2 --train train.npy --pos-weight balanced
bad "bad --pos-weight" "bad value for --pos-weight: auto" 2 "${ML[@]}" --pos-weight auto
fi
