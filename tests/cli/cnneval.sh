#!/usr/bin/env bash
# cnneval from the command line: predictions.tsv, misclassified.tsv and metrics.json on checkpoints
# trained here, consistency between the three, unlabelled data, batch/thread independence, and every
# kind of bad checkpoint or data (one line naming the file, exit 1, no output left). The data is made
# with the tools themselves (3 classes x 8 tones, 32 mel bands x 32 frames); training is 1 to 10 epochs
# on one thread. Exact agreement with PyTorch is in tests/py/test_checkpoint.py.
. "$(dirname "$0")/lib.sh"
cd "$W" || exit 1
B=$BIN
MAN=$TESTS/../man/cnneval.1
command -v sox >/dev/null || { skip "cnneval tests: sox is needed to make test audio"; exit 0; }
PY3=$(command -v python3 || true)

# ---- data and two checkpoints: barely trained (1 epoch, many mistakes) and trained (10 epochs) ------------
mkdata() {
    make_tone_splits || return 1
    $B/specnorm -q --frames 40 -m mels/test.tsv --stack test40.npy --labels test40-labels.npy || return 1
    # equal-shape spectrograms for the manifest case: fixed duration, no stacking
    $B/wav2mel -q --n-mels 32 --duration 0.4 --list split/train.tsv -o fixed -m fixed.tsv || return 1
    $B/cnntrain -q --threads 1 --epochs 1 --train train.npy --classes split/classes.tsv -o weak.safetensors || return 1
    $B/cnntrain -q --threads 1 --epochs 10 --batch 8 --train train.npy --val val.npy --classes split/classes.tsv -o model.safetensors || return 1
    $B/cnntrain -q --threads 1 --epochs 2 --train fixed.tsv --classes split/classes.tsv -o fixed.safetensors
}
mkdata 2>data.err || { notok "making the test data and checkpoints: $(head -c 300 data.err)"; exit 0; }
ntrain=$(($(wc -l < split/train.tsv) - 1)); ntest=$(($(wc -l < split/test.tsv) - 1))
HEAD=$'key\ttrue\tpredicted\tconfidence\tp_cat\tp_dog\tp_owl'

# consistent DIR NAMES...: predictions.tsv is well formed (header, probabilities summing to 1 within 1e-5,
# confidence = the largest, predicted = its class) and misclassified.tsv is exactly its wrong rows
consistent() {
    local d=$1
    [ "$(head -1 "$d/predictions.tsv")" = "$HEAD" ] || { echo "predictions header: $(head -1 "$d/predictions.tsv")"; return 1; }
    awk -F'\t' 'NR == 1 { for (j = 5; j <= NF; j++) name[j] = substr($j, 3); next }
        { s = 0; best = 5; for (j = 5; j <= NF; j++) { s += $j; if ($j > $best) best = j }
          if (NF != 7 || (s - 1) ^ 2 > 1e-10 || $4 != $best || $3 != name[best]) { print "bad row " NR ": " $0; exit 1 } }' \
        "$d/predictions.tsv" || return 1
    cmp -s <(awk -F'\t' 'NR == 1 || ($2 != "" && $2 != $3)' "$d/predictions.tsv") "$d/misclassified.tsv" \
        || { echo "misclassified.tsv is not the wrong rows of predictions.tsv"; return 1; }
}

# ---- a labelled stack -------------------------------------------------------------------------------------
$B/cnneval weak.safetensors train.npy -o ev 2>ev.err; rc=$?
[ $rc = 0 ] && ok "cnneval on the training stack: exit 0" || notok "cnneval: rc=$rc $(head -c 300 ev.err)"
[ "$(($(wc -l < ev/predictions.tsv) - 1))" = "$ntrain" ] && ok "predictions.tsv: one row per sample ($ntrain)" \
    || notok "predictions rows: $(wc -l < ev/predictions.tsv)"
why=$(consistent ev) && ok "predictions: header, rows summing to 1, confidence and predicted from the probabilities; misclassified = the wrong rows" \
    || notok "predictions/misclassified: $why"
[ "$(cut -f1 ev/predictions.tsv | sed -n '2p;$p' | tr '\n' ' ')" = "#0 #$((ntrain - 1)) " ] && ok "stack keys #0..#N-1 in order" \
    || notok "keys: $(cut -f1 ev/predictions.tsv | head -3)"
nwrong=$(($(wc -l < ev/misclassified.tsv) - 1))
[ "$nwrong" -gt 0 ] && ok "the 1-epoch model gets $nwrong of $ntrain wrong: misclassified.tsv has rows" || notok "no misclassified rows to check"
# true column = the class names of the labels, in split order (splitset's train.tsv is the stack's order)
cmp -s <(cut -f2 ev/predictions.tsv | tail -n +2) <(cut -f2 split/train.tsv | tail -n +2) && ok "true column: class names of the labels" \
    || notok "true column: $(cut -f2 ev/predictions.tsv | head -4 | tr '\n' ' ')"
grep -Eq "^cnneval: $ntrain samples, accuracy [0-9.]+, loss [0-9.]+, top-3 1.0000, macro F1 [0-9.]+, $nwrong misclassified$" ev.err \
    && ok "summary line on stderr" || notok "summary: $(cat ev.err)"
if [ -n "$PY3" ]; then
    why=$("$PY3" - ev/metrics.json ev/predictions.tsv <<'EOF' 2>&1
import json, math, sys
m = json.load(open(sys.argv[1]))
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[2])][1:]
names = ["cat", "dog", "owl"]
assert list(m) == ["samples", "accuracy", "loss", "top3_accuracy", "per_class", "macro_avg", "weighted_avg", "confusion_matrix"], list(m)
n = len(rows)
assert m["samples"] == n
right = sum(r[1] == r[2] for r in rows)
assert abs(m["accuracy"] - right / n) < 1e-12, (m["accuracy"], right / n)
loss = -sum(math.log(float(r[4 + names.index(r[1])])) for r in rows) / n
assert abs(m["loss"] - loss) < 1e-4, (m["loss"], loss)          # probabilities are rounded to 6 decimals
assert m["top3_accuracy"] == 1.0
cm = [[sum(r[1] == a and r[2] == b for r in rows) for b in names] for a in names]
assert m["confusion_matrix"] == cm, (m["confusion_matrix"], cm)
for c, pc in enumerate(m["per_class"]):
    assert pc["index"] == c and pc["name"] == names[c]
    tp, sup, pred = cm[c][c], sum(cm[c]), sum(cm[a][c] for a in range(3))
    p = tp / pred if pred else 0.0
    r = tp / sup if sup else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    assert pc["support"] == sup and abs(pc["precision"] - p) < 1e-12 and abs(pc["recall"] - r) < 1e-12 and abs(pc["f1"] - f) < 1e-12, (pc, p, r, f)
assert abs(m["macro_avg"]["f1"] - sum(pc["f1"] for pc in m["per_class"]) / 3) < 1e-12
assert abs(m["weighted_avg"]["recall"] - m["accuracy"]) < 1e-12
assert m["macro_avg"]["support"] == n and m["weighted_avg"]["support"] == n
EOF
) && ok "metrics.json: keys, accuracy, loss, top-3, confusion matrix and per-class scores agree with predictions.tsv" \
      || notok "metrics.json: $(echo "$why" | tail -1)"
else
    for k in '"samples": '"$ntrain" '"accuracy"' '"loss"' '"top3_accuracy"' '"per_class"' '"macro_avg"' '"weighted_avg"' '"confusion_matrix"'; do
        grep -q "$k" ev/metrics.json || { notok "metrics.json lacks $k"; break; }
    done
    ok "metrics.json has its keys (no python3 to check the values)"
fi
$B/cnneval -q model.safetensors test.npy -o evt 2>evt.err; rc=$?
[ $rc = 0 ] && [ ! -s evt.err ] && ok "-q: no summary" || notok "-q: rc=$rc $(cat evt.err)"
why=$(consistent evt) && [ "$(($(wc -l < evt/predictions.tsv) - 1))" = "$ntest" ] && ok "the trained model on the test stack" || notok "test stack: $why"
grep -q '"accuracy": 1.0,' evt/metrics.json && [ "$(wc -l < evt/misclassified.tsv)" = 1 ] \
    && ok "trained model: test accuracy 1, misclassified.tsv only its header" || notok "trained model: $(grep accuracy evt/metrics.json)"
$B/cnneval -q --top-k 2 model.safetensors val.npy -o evk && grep -q '"top2_accuracy"' evk/metrics.json && ok "--top-k 2: top2_accuracy" \
    || notok "--top-k 2"
$B/cnneval -q --top-k 9 model.safetensors val.npy -o evk9 && grep -q '"top3_accuracy": 1.0' evk9/metrics.json \
    && ok "--top-k above the number of classes is clamped to it" || notok "--top-k 9"
(mkdir cwd && cd cwd && $B/cnneval -q ../model.safetensors ../test.npy) && [ -s cwd/predictions.tsv ] && [ -s cwd/metrics.json ] \
    && ok "default output directory: the current one" || notok "default -o"
$B/cnneval -q model.safetensors test.npy -o new/deep/dir && [ -s new/deep/dir/predictions.tsv ] && ok "-o creates missing directories" \
    || notok "-o deep"
ls ev evt | grep -q tmp && notok "temporary files left" || ok "no temporary files left"

# ---- same results whatever --threads and --batch ------------------------------------------------------------
$B/cnneval -q --threads 1 weak.safetensors train.npy -o t1 && $B/cnneval -q --threads 2 weak.safetensors train.npy -o t2
cmp -s t1/predictions.tsv t2/predictions.tsv && cmp -s t1/metrics.json t2/metrics.json && ok "--threads 1 and 2: identical bytes" \
    || notok "--threads changes the output"
$B/cnneval -q --batch 1 weak.safetensors train.npy -o b1 && $B/cnneval -q --batch 5 weak.safetensors train.npy -o b5
paste b1/predictions.tsv b5/predictions.tsv | awk -F'\t' 'NR > 1 { for (j = 4; j <= 7; j++) if (($j - $(j + 7)) ^ 2 > 1e-10) exit 1 }' \
    && ok "--batch 1 and 5 agree to 1e-5" || notok "--batch changes the probabilities"

# ---- unlabelled data and manifests ----------------------------------------------------------------------------
$B/cnneval -q --labels - model.safetensors test.npy -o un; rc=$?
[ $rc = 0 ] && [ "$(($(wc -l < un/predictions.tsv) - 1))" = "$ntest" ] && [ ! -e un/metrics.json ] \
    && [ "$(wc -l < un/misclassified.tsv)" = 1 ] && ok "--labels -: predictions, no metrics.json, no misclassified rows" \
    || notok "--labels -: rc=$rc $(ls un)"
[ -z "$(cut -f2 un/predictions.tsv | tail -n +2 | tr -d '\n')" ] && cmp -s <(cut -f1,3- un/predictions.tsv) <(cut -f1,3- evt/predictions.tsv) \
    && ok "unlabelled: empty true column, the same predictions" || notok "unlabelled rows: $(sed -n 2p un/predictions.tsv)"
cp test.npy lone.npy
$B/cnneval -q model.safetensors lone.npy -o un2 2>un2.err && [ ! -e un2/metrics.json ] && [ -s un2/predictions.tsv ] \
    && ok "a stack without a labels file is unlabelled" || notok "stack without labels: $(cat un2.err)"
$B/cnneval -q fixed.safetensors fixed.tsv -o man 2>man.err; rc=$?
[ $rc = 0 ] && [ "$(cut -f1 man/predictions.tsv | sed -n 2p)" = "$(sed -n 2p split/train.tsv | sed 's|.*/||; s|\.wav.*||')" ] \
    && [ -s man/metrics.json ] && ok "a manifest: keys from its key column, labels from its index column" || notok "manifest: rc=$rc $(head -c 300 man.err)"
awk -F'\t' -v OFS='\t' 'NR > 1 && NR % 2 { $5 = -1 } 1' fixed.tsv > partial.tsv
$B/cnneval -q fixed.safetensors partial.tsv -o part; rc=$?
[ $rc = 0 ] && [ ! -e part/metrics.json ] && why=$(consistent part) \
    && ok "a partly labelled manifest: predictions, misclassified among the labelled, no metrics" || notok "partly labelled: rc=$rc $why"

# ---- bad checkpoints and data: one line naming the file, exit 1, nothing written --------------------------------
bad() { # NAME REGEX ARGS...: exit 1, then nothing in out-bad
    local name=$1 re=$2; shift 2
    rm -rf out-bad
    expect_error "$name" "$re" 1 $B/cnneval -q "$@" -o out-bad
    no_partial "no predictions after: $name" out-bad/predictions.tsv
}
bad "data of another F x T than the checkpoint" "test40.npy: samples of 1x32x40, but model.safetensors was trained on 1x32x32" model.safetensors test40.npy
head -c 5000 model.safetensors > trunc.safetensors
bad "truncated checkpoint (data cut)" "trunc.safetensors: truncated" trunc.safetensors test.npy
head -c 100 model.safetensors > trunc2.safetensors
bad "truncated checkpoint (header cut)" "trunc2.safetensors: " trunc2.safetensors test.npy
head -c 3000 /dev/urandom > random.safetensors
bad "random bytes" "random.safetensors: " random.safetensors test.npy
: > empty.safetensors
bad "empty checkpoint" "empty.safetensors: " empty.safetensors test.npy
bad "missing checkpoint" "nothere.safetensors: " nothere.safetensors test.npy
bad "missing data" "nothere.npy: cannot open" model.safetensors nothere.npy
# another architecture: the same file with "arch":"vgg16_bn" (same length) in its metadata
patch_meta() { # FILE OLD NEW OUT: replace the metadata bytes OLD by NEW (same length)
    cp "$1" "$4"; local off; off=$(head -c 2048 "$1" | grep -abo "$2" | head -1 | cut -d: -f1)
    [ -n "$off" ] && printf '%s' "$3" | dd of="$4" bs=1 seek="$off" conv=notrunc 2>/dev/null
}
patch_meta model.safetensors '"arch":"baseline"' '"arch":"vgg16_bn"' arch.safetensors
bad "a checkpoint of another architecture" "arch.safetensors: unknown architecture 'vgg16_bn'" arch.safetensors test.npy
patch_meta model.safetensors '"n_classes":"3"' '"n_classes":"5"' ncls.safetensors
bad "metadata that disagrees with the tensors" "ncls.safetensors: does not match the model: .*classifier.3.weight" ncls.safetensors test.npy
bad "a state file (its opt.* tensors are not the model's)" "model.state.safetensors: does not match the model: [0-9]+ unexpected \\(opt\\." \
    model.state.safetensors test.npy
patch_meta model.safetensors '"arch":"' '"xrch":"' noarch.safetensors
bad "no arch metadata" "noarch.safetensors: not an audiocnn checkpoint" noarch.safetensors test.npy
if [ -x "${DRIVERS:-}/st_tool" ]; then
    "$DRIVERS/st_tool" write other.safetensors
    bad "a safetensors file of another model (st_tool's)" "other.safetensors: not an audiocnn checkpoint" other.safetensors test.npy
else
    skip "a safetensors file of another model: DRIVERS/st_tool not built"
fi
PYST=
for p in "${PY:-}" "$TESTS/../.venv/bin/python" "$PY3"; do
    [ -z "$PYST" ] && [ -n "$p" ] && [ -x "$p" ] && "$p" -c 'import safetensors.numpy' 2>/dev/null && PYST=$p
done
if [ -n "$PYST" ]; then
    "$PYST" - model.safetensors pyarch.safetensors <<'EOF'
import sys
from safetensors import safe_open
from safetensors.numpy import load_file, save_file
with safe_open(sys.argv[1], "np") as f:
    meta = f.metadata()
sd = load_file(sys.argv[1])
sd = {k.replace("features.", "body."): v for k, v in sd.items()}   # another model's names
save_file(sd, sys.argv[2], metadata=meta)
EOF
    bad "a checkpoint whose tensors are another model's (python safetensors)" "pyarch.safetensors: does not match the model: .*missing" \
        pyarch.safetensors test.npy
else
    skip "a checkpoint written by python's safetensors: not installed"
fi
npy_data() { echo $((10 + $(od -An -tu2 -j8 -N2 "$1" | tr -d ' '))); }
cp test.npy nan.npy; cp test-labels.npy nan-labels.npy
printf '\000\000\300\177' | dd of=nan.npy bs=1 seek=$(($(npy_data nan.npy) + 4 * (1024 + 100))) conv=notrunc 2>/dev/null
bad "NaN in the data" "nan.npy: sample 1 .*NaN" model.safetensors nan.npy
cp test-labels.npy l7.npy; printf '\007' | dd of=l7.npy bs=1 seek=$(npy_data l7.npy) conv=notrunc 2>/dev/null
bad "a label the model does not know" "test.npy: sample 0 has label 7, but the model knows 3 classes" model.safetensors test.npy --labels l7.npy
bad "labels of the wrong length" "train-labels.npy: labels of shape $ntrain do not match the $ntest samples" model.safetensors test.npy --labels train-labels.npy
bad "a manifest of unequal spectrograms" "mels/test.tsv line [0-9]+: .*another shape" model.safetensors mels/test.tsv
: > afile
expect_error "output under a regular file" "afile/predictions.tsv: |afile: " 1 $B/cnneval -q model.safetensors test.npy -o afile
expect_error "no arguments" "expected MODEL.safetensors and DATA" 2 $B/cnneval
expect_error "one argument" "expected MODEL.safetensors and DATA" 2 $B/cnneval model.safetensors
expect_error "--top-k 0" "positive --top-k" 2 $B/cnneval --top-k 0 model.safetensors test.npy
expect_error "--batch x" "positive --top-k/--batch" 2 $B/cnneval --batch x model.safetensors test.npy
$B/cnneval --bogus >/dev/null 2>&1; [ $? = 2 ] && ok "unknown option: exit 2" || notok "unknown option: exit $?"

# ---- --help and the man page -----------------------------------------------------------------------------------
$B/cnneval --help > help.txt; rc=$?
[ $rc = 0 ] && grep -q -- "--top-k K" help.txt && ok "--help: exit 0, lists the options" || notok "--help rc=$rc"
if [ -f "$MAN" ]; then
    missing=$(grep -E '^ +-' help.txt | grep -oE -- '--[a-z][a-z-]+' | sort -u | while read -r o; do grep -qF -- "${o//-/\\-}" "$MAN" || echo "$o"; done)
    [ -z "$missing" ] && ok "the man page documents every option of --help" || notok "not in cnneval(1): $missing"
    if command -v man >/dev/null; then
        w=$(MANWIDTH=100 man --warnings -l "$MAN" 2>&1 >/dev/null)
        [ -z "$w" ] && ok "man --warnings: cnneval(1) is clean" || notok "cnneval(1) warnings: $(echo "$w" | head -3)"
    else skip "man page warnings: no man"; fi
    mkdir ex && cp model.safetensors test.npy test-labels.npy val.npy val-labels.npy ex/ && for k in 1 2 3; do cp model.safetensors ex/fold$k.safetensors; done && cd ex
    sed -n '/^\.SH EXAMPLES/,/^\.SH SEE ALSO/p' "$MAN" | grep -E '^    (cnneval|tail) ' | sed 's/\\-/-/g; s/\\e/\\/g' > examples
    [ "$(wc -l < examples)" -ge 3 ] || notok "man page EXAMPLES not found"
    while read -r cmd; do
        if PATH="$BIN:$PATH" bash -c "set -o pipefail; $cmd" >ex.out 2>ex.err; then ok "man example: $cmd"; else notok "man example: $cmd: $(head -c 200 ex.err)"; fi
    done < examples
    cd ..
else
    notok "man/cnneval.1 is missing"
fi

# ---- raw recordings through the front end recorded in the checkpoint ------------------------------------
$B/cnntrain -q --threads 1 --epochs 10 --batch 8 --train train.npy --val val.npy --classes split/classes.tsv \
    --frontend "--n-mels 32 | --frames 32 --mode sample" -o raw.safetensors 2>raw.err || notok "training with --frontend: $(cat raw.err)"
ls data/*/*.wav > raw.list
$B/cnneval raw.safetensors $(cat raw.list) > raw.tsv 2>raw.err; rc=$?
[ $rc = 0 ] && [ "$(head -1 raw.tsv)" = "$(printf 'path\tstart\tend\tclass\tconfidence')" ] && [ "$(($(wc -l < raw.tsv) - 1))" = "$(wc -l < raw.list)" ] \
    && ok "raw recordings: one row per recording with path, start, end, class, confidence" || notok "raw recordings: rc=$rc $(head -c 300 raw.err)"
right=$(awk -F'\t' 'NR > 1 { split($1, p, "/"); if (p[2] == $4) n++ } END { print n + 0 }' raw.tsv)
[ "$right" -ge 20 ] && ok "raw recordings are classified like their spectrograms ($right of 24 right)" || notok "raw recordings: only $right of 24 right"
$B/cnneval raw.safetensors data/cat/cat_1.wav > raw1.tsv 2>/dev/null && [ "$(wc -l < raw1.tsv)" = 2 ] && ok "one raw recording" || notok "one raw recording"
expect_error "raw recording with a front end of another shape" "cat_1.wav: the recorded front end gives 1x128x400 inputs, the model takes 1x32x32" 1 \
    $B/cnneval model.safetensors data/cat/cat_1.wav
expect_error "raw recording that is not audio" "notaudio.wav: not a readable audio file" 1 sh -c "echo x > notaudio.wav; $B/cnneval raw.safetensors notaudio.wav"

# ---- a checkpoint that carries specnorm's data-set statistics (--frontend '... | --stats FILE') ----------
# cnneval on the raw recordings normalises with the checkpoint's frontend.stats.* tensors exactly as
# wav2mel | specnorm --stats | cnneval on the stack: the same class and confidence for every recording
$B/specnorm -q --fit stats.npy -m mels/train.tsv \
    && for s in train val test; do $B/specnorm -q --stats stats.npy --frames 32 -m mels/$s.tsv --stack st-$s.npy --labels st-$s-labels.npy || exit 1; done \
    && $B/cnntrain -q --threads 1 --epochs 10 --batch 8 --train st-train.npy --val st-val.npy --classes split/classes.tsv \
        --frontend "--n-mels 32 | --stats stats.npy --frames 32" -o stats.safetensors 2>st.err \
    || notok "training with --frontend '... | --stats FILE': $(head -c 300 st.err)"
tail -n +2 split/test.tsv | cut -f1 > st-raw.list
$B/cnneval stats.safetensors $(cat st-raw.list) > st-raw.tsv 2>st.err && $B/cnneval -q stats.safetensors st-test.npy -o st-ev 2>>st.err
rc=$?
got=$(tail -n +2 st-raw.tsv | cut -f4,5); want=$(tail -n +2 st-ev/predictions.tsv | cut -f3,4)
[ $rc = 0 ] && [ "$(wc -l < st-raw.list)" = "$ntest" ] && [ -n "$got" ] && [ "$got" = "$want" ] \
    && [ "$(tail -n +2 st-raw.tsv | cut -f1)" = "$(cat st-raw.list)" ] \
    && ok "stats checkpoint: cnneval on raw recordings = wav2mel | specnorm --stats | cnneval on the stack (class, confidence)" \
    || notok "stats checkpoint, raw vs stack: rc=$rc $(head -c 300 st.err) raw: $got stack: $want"
if [ -n "$PY3" ]; then
    mkdir -p stfe && cp stats.safetensors stfe/
    "$PY3" - <<'EOF' 2>st.err && ok "checkpoint without the statistics' tensors / with a --stats path recorded: refused" || notok "edited stats checkpoints: $(cat st.err)"
import json, struct
b = open("stats.safetensors", "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n])
def write(path, h, data):
    j = json.dumps(h, separators=(",", ":")).encode(); j += b" " * (-len(j) % 8)
    open(path, "wb").write(struct.pack("<Q", len(j)) + j + data)
data = b[8 + n:]
h2 = dict(h); h2["__metadata__"] = dict(h["__metadata__"], frontend="--n-mels 32 | --stats stats.npy --frames 32")
write("stfe/path.safetensors", h2, data)
# the std tensor dropped: its bytes stay (the data section must be covered), under another name
h3 = dict(h); h3["frontend.stats.sd"] = h3.pop("frontend.stats.std")
write("stfe/nostd.safetensors", h3, data)
EOF
    expect_error "a recorded --stats path instead of 'checkpoint'" "path.safetensors: recorded front end: --stats stats.npy: .*--stats checkpoint" 1 \
        $B/cnneval stfe/path.safetensors data/cat/cat_1.wav
    expect_error "a stats front end without frontend.stats.std" "nostd.safetensors: .*no tensor 'frontend.stats.std'" 1 \
        $B/cnneval stfe/nostd.safetensors data/cat/cat_1.wav
fi

# ---- ensembles: -m FILE twice or more; the mean of the models' softmax probabilities ---------------------------
$B/cnneval -m weak.safetensors train.npy -o en1 2>en1.err; rc=$?
[ $rc = 0 ] && cmp -s ev/predictions.tsv en1/predictions.tsv && cmp -s ev/misclassified.tsv en1/misclassified.tsv \
    && cmp -s ev/metrics.json en1/metrics.json && cmp -s ev.err en1.err \
    && ok "ensemble of one model (-m weak): the same bytes as the model alone (predictions, misclassified, metrics, summary)" \
    || notok "ensemble of one: rc=$rc $(head -c 300 en1.err)"
$B/cnneval -q model.safetensors train.npy -o evm && $B/cnneval -m weak.safetensors -m model.safetensors train.npy -o en2 2>en2.err; rc=$?
[ $rc = 0 ] && grep -Eq "^cnneval: ensemble of 2 models: $ntrain samples, accuracy [0-9.]+, loss [0-9.]+, top-3 1.0000, macro F1 [0-9.]+, [0-9]+ misclassified$" en2.err \
    && why=$(consistent en2) && ok "ensemble of two: consistent predictions and misclassified, its summary line" || notok "ensemble of two: rc=$rc $why $(head -c 300 en2.err)"
if [ -n "$PY3" ]; then
    why=$("$PY3" - ev/predictions.tsv evm/predictions.tsv en2/predictions.tsv en2/metrics.json <<'EOF2' 2>&1
import json, math, sys
rows = [[l.rstrip("\n").split("\t") for l in open(p)][1:] for p in sys.argv[1:4]]
names = ["cat", "dog", "owl"]
a, b, e = rows
assert len(a) == len(b) == len(e) > 0
moved = 0
for ra, rb, re in zip(a, b, e):
    mean = [(float(ra[4 + c]) + float(rb[4 + c])) / 2 for c in range(3)]
    got = [float(re[4 + c]) for c in range(3)]
    assert max(abs(x - y) for x, y in zip(mean, got)) < 1.5e-6, (ra, rb, re)   # inputs rounded to 6 decimals
    assert re[2] == names[max(range(3), key=lambda c: (got[c], -c))], re
    moved += re[2] != ra[2] or re[2] != rb[2]
assert moved > 0, "the two models never disagree: nothing tested"
m = json.load(open(sys.argv[4]))
n = len(e)
loss = -sum(math.log(float(r[4 + names.index(r[1])])) for r in e) / n
assert abs(m["loss"] - loss) < 1e-4, (m["loss"], loss)
assert abs(m["accuracy"] - sum(r[1] == r[2] for r in e) / n) < 1e-12
EOF2
) && ok "ensemble of two: each probability = the mean of the two models' (1.5e-6), prediction = argmax, loss = cross-entropy of the means" \
      || notok "ensemble of two vs the two models: $(echo "$why" | tail -2)"
else
    skip "ensemble probabilities against the two models: no python3"
fi
$B/cnneval -q -m weak.safetensors -m model.safetensors --threads 1 --batch 5 train.npy -o en2b \
    && cmp -s en2/predictions.tsv en2b/predictions.tsv && cmp -s en2/metrics.json en2b/metrics.json \
    && ok "ensemble: the same bytes for --threads 1 --batch 5" || notok "ensemble output depends on --threads/--batch"
$B/cnneval -q -m model.safetensors -m raw.safetensors test.npy -o enfe \
    && ok "ensemble on a stack: members may record different front ends (not used)" || notok "ensemble with different front ends on a stack"
# disagreeing members: one line naming the file, exit 1, nothing written
$B/specnorm -q --frames 40 -m mels/train.tsv --stack train40.npy --labels train40-labels.npy \
    && $B/cnntrain -q --threads 1 --epochs 1 --train train40.npy --classes split/classes.tsv -o wide.safetensors \
    && printf 'index\tname\n0\tcat\n1\towl\n2\tdog\n' > swapped.tsv \
    && $B/cnntrain -q --threads 1 --epochs 1 --train train.npy --classes swapped.tsv -o swapped.safetensors \
    && $B/cnntrain -q --threads 1 --epochs 1 --train train.npy -o unnamed.safetensors \
    || notok "training the disagreeing members"
bad "ensemble: classes in another order" "swapped.safetensors: class 1 is 'owl', but weak.safetensors's is 'dog' \\(the models of an ensemble must agree\\)" \
    -m weak.safetensors -m swapped.safetensors train.npy
bad "ensemble: unnamed classes" "unnamed.safetensors: class 0 is '0', but weak.safetensors's is 'cat'" -m weak.safetensors -m unnamed.safetensors train.npy
bad "ensemble: another input shape" "wide.safetensors: takes 1x32x40 inputs, but weak.safetensors takes 1x32x32" -m weak.safetensors -m wide.safetensors train.npy
bad "ensemble: a member that is missing" "nothere.safetensors: " -m weak.safetensors -m nothere.safetensors train.npy
expect_error "ensemble: a member without a front end, on recordings" \
    "model.safetensors: records the front end '', but raw.safetensors records '--n-mels 32 \\| --frames 32 --mode sample'" 1 \
    $B/cnneval -m raw.safetensors -m model.safetensors data/cat/cat_1.wav
expect_error "-m and no DATA" "expected MODEL.safetensors and DATA \\(or -m MODEL ... and them\\)" 2 $B/cnneval -m model.safetensors
# raw recordings: the K models of one front end and statistics = the ensemble on the stack those make
$B/cnntrain -q --threads 1 --epochs 3 --seed 5 --train st-train.npy --classes split/classes.tsv \
    --frontend "--n-mels 32 | --stats stats.npy --frames 32" -o stats2.safetensors 2>st.err \
    && $B/cnneval -m stats.safetensors -m stats2.safetensors $(cat st-raw.list) > en-raw.tsv 2>st.err \
    && $B/cnneval -q -m stats.safetensors -m stats2.safetensors st-test.npy -o en-st 2>>st.err; rc=$?
got=$(tail -n +2 en-raw.tsv | cut -f4,5); want=$(tail -n +2 en-st/predictions.tsv | cut -f3,4)
[ $rc = 0 ] && [ -n "$got" ] && [ "$got" = "$want" ] && [ "$got" != "$(tail -n +2 st-raw.tsv | cut -f4,5)" ] \
    && ok "ensemble on raw recordings = the ensemble on their stack (class, confidence)" \
    || notok "ensemble, raw vs stack: rc=$rc $(head -c 300 st.err) raw: $got stack: $want"
$B/cnneval -m stats.safetensors $(cat st-raw.list) | cmp -s - st-raw.tsv && ok "ensemble of one on raw recordings: the same bytes" \
    || notok "ensemble of one on raw recordings differs"
$B/specnorm -q --fit stats-val.npy -m mels/val.tsv \
    && $B/cnntrain -q --threads 1 --epochs 1 --train st-train.npy --classes split/classes.tsv \
        --frontend "--n-mels 32 | --stats stats-val.npy --frames 32" -o stats3.safetensors 2>st.err || notok "stats3: $(cat st.err)"
expect_error "ensemble: the same front end with other statistics, on recordings" \
    "stats3.safetensors: its front end's statistics \\(frontend.stats.\\*\\) differ from those of stats.safetensors" 1 \
    $B/cnneval -m stats.safetensors -m stats3.safetensors data/cat/cat_1.wav

# ---- multi-label checkpoints (cnntrain --multilabel): sigmoids, metrics.json against scikit-learn, refusals,
# --thresholds-out, ensembles of sigmoids, raw recordings and --scan with per-class thresholds ----------------
# The multi-label tones (mltones, tests/cli/lib.sh) and two checkpoints trained on them
mlmodels() {
    mltones || return 1
    printf 'index\tname\n0\tlo\n1\tmid\n2\thi\n' > ml-classes.tsv
    local ML=(-q --multilabel --threads 1 --batch 8 --train ml-train.npy --val ml-val.npy --classes ml-classes.tsv
              --frontend "--n-mels 32 | --frames 32 --mode sample")
    $B/cnntrain "${ML[@]}" --epochs 12 -o ml1.safetensors --history ml1 || return 1
    $B/cnntrain "${ML[@]}" --epochs 3 --seed 7 -o ml2.safetensors || return 1
}
if [ -z "$PY3" ] || ! mlmodels 2>mldata.err; then
    skip "multi-label evaluation: python3 (to write the targets) or the data: $(head -c 200 mldata.err 2>/dev/null)"
    exit 0
fi
MLHEAD=$'key\ttrue\tpredicted\tp_lo\tp_mid\tp_hi'
$B/cnneval ml1.safetensors ml-val.npy -o mlev --thresholds-out mlev/thr.tsv 2>mlev.err; rc=$?
[ $rc = 0 ] && [ "$(head -1 mlev/predictions.tsv)" = "$MLHEAD" ] && [ ! -e mlev/misclassified.tsv ] \
    && [ "$(wc -l < mlev/predictions.tsv)" = 19 ] && [ "$(head -1 mlev/thr.tsv)" = $'class\tthreshold\tf1' ] \
    && grep -q "^cnneval: 18 samples (multi-label), loss [0-9.]*, macro AP" mlev.err \
    && ok "multi-label: predictions.tsv (key, true, predicted, p_CLASS), metrics.json, thresholds TSV, no misclassified.tsv" \
    || notok "multi-label evaluation: rc=$rc $(head -c 300 mlev.err) $(head -2 mlev/predictions.tsv)"
val_loss=$(awk -F'\t' 'NR == 1 { for (j = 1; j <= NF; j++) if ($j == "val_loss") c = j; next } { v = $c } END { print v }' ml1.tsv)
if [ -x "${PY:-}" ] && "$PY" -c 'import sklearn' 2>/dev/null; then
    sk_check() { "$PY" - "$@" <<'EOF' 2>&1
import json, sys, numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score, f1_score, precision_score, recall_score, precision_recall_curve
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
head, rows = rows[0], rows[1:]
names = [h[2:] for h in head[3:]]
p = np.array([[np.float32(v) for v in r[3:]] for r in rows], dtype=np.float32).astype(np.float64)
y = np.load(sys.argv[5]).astype(int)
t = float(sys.argv[6])
for r, yi, pi in zip(rows, y, p):  # the true and predicted columns
    assert r[1] == ",".join(n for n, v in zip(names, yi) if v), r
    assert r[2] == ",".join(n for n, v in zip(names, pi) if v >= t), r
m = json.load(open(sys.argv[2]))
close = lambda a, b, tol=1e-12: abs(a - b) <= tol
assert m["samples"] == len(rows) and m["threshold"] == t
pred = (p >= t).astype(int)
for c, pc in enumerate(m["per_class"]):
    assert pc["name"] == names[c] and pc["support"] == y[:, c].sum()
    assert close(pc["average_precision"], average_precision_score(y[:, c], p[:, c])), (c, "ap")
    assert close(pc["roc_auc"], roc_auc_score(y[:, c], p[:, c])), (c, "auc")
    assert close(pc["f1"], f1_score(y[:, c], pred[:, c], zero_division=0)), (c, "f1")
    assert close(pc["precision"], precision_score(y[:, c], pred[:, c], zero_division=0)), (c, "precision")
    assert close(pc["recall"], recall_score(y[:, c], pred[:, c], zero_division=0)), (c, "recall")
    pr, rc, th = precision_recall_curve(y[:, c], p[:, c])
    f = np.where(pr + rc > 0, 2 * pr * rc / np.where(pr + rc > 0, pr + rc, 1), 0)[:-1]
    assert close(pc["best_f1"], f.max(), 1e-9) and close(pc["best_threshold"], th[np.argmax(f)]), (c, pc, th, f)
mac, mic = m["macro_avg"], m["micro_avg"]
assert close(mac["average_precision"], average_precision_score(y, p, average="macro"))
assert close(mic["average_precision"], average_precision_score(y, p, average="micro"))
assert close(mac["roc_auc"], roc_auc_score(y, p, average="macro"))
assert close(mic["roc_auc"], roc_auc_score(y, p, average="micro"))
assert close(mac["f1"], f1_score(y, pred, average="macro", zero_division=0))
assert close(mic["f1"], f1_score(y, pred, average="micro", zero_division=0))
q = np.clip(p, 1e-300, 1)  # the mean BCE, from the printed probabilities (float32): to 1e-4
bce = -np.mean(y * np.maximum(np.log(q), -100) + (1 - y) * np.maximum(np.log1p(-np.minimum(p, 1 - 1e-300)), -100))
assert abs(m["loss"] - bce) < 1e-4, (m["loss"], bce)
if sys.argv[4] != "-":
    assert abs(m["loss"] - float(sys.argv[4])) < 5e-6 * max(1, float(sys.argv[4])), ("history val_loss", m["loss"], sys.argv[4])
thr = [l.rstrip("\n").split("\t") for l in open(sys.argv[3])][1:]
assert [r[0] for r in thr] == names
for r, pc in zip(thr, m["per_class"]):
    assert np.float32(r[1]) == np.float32(pc["best_threshold"]) and abs(float(r[2]) - pc["best_f1"]) < 1e-6, (r, pc)
if sys.argv[7:] == ["imperfect"]:
    assert m["macro_avg"]["average_precision"] < 0.99 and min(pc["f1"] for pc in m["per_class"]) < 1, "nothing tested"
EOF
}
    why=$(sk_check mlev/predictions.tsv mlev/metrics.json mlev/thr.tsv "$val_loss" ml-val-labels.npy 0.5) \
      && ok "multi-label metrics.json = scikit-learn on predictions.tsv (per-class AP, ROC-AUC, P/R/F1 at 0.5, best-F1 threshold; macro/micro; 1e-12); loss = the history's val_loss and BCE of the probabilities; thresholds TSV = best_threshold" \
      || notok "multi-label metrics vs scikit-learn: $(echo "$why" | tail -3)"
    for s in val train; do
        $B/cnneval -q ml2.safetensors ml-$s.npy -o mlw2-$s --thresholds-out mlw2-$s/thr.tsv \
            && why=$(sk_check mlw2-$s/predictions.tsv mlw2-$s/metrics.json mlw2-$s/thr.tsv - ml-$s-labels.npy 0.5 imperfect) \
            && ok "multi-label metrics = scikit-learn's (1e-12), a weak model (3 epochs, macro AP < 0.99) on ml-$s.npy" \
            || notok "multi-label metrics vs scikit-learn, weak model on $s: $(echo "$why" | tail -3)"
    done
    $B/cnneval -q ml2.safetensors ml-val.npy -o mlev3 --threshold 0.3 \
        && why=$("$PY" - mlev3/predictions.tsv mlev3/metrics.json x 0 ml-val-labels.npy 0.3 <<'EOF' 2>&1
import json, sys, numpy as np
from sklearn.metrics import f1_score
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])][1:]
p = np.array([[np.float32(v) for v in r[3:]] for r in rows]).astype(np.float64)
y = np.load(sys.argv[5]).astype(int)
m = json.load(open(sys.argv[2]))
assert m["threshold"] == 0.3
for c, pc in enumerate(m["per_class"]):
    assert abs(pc["f1"] - f1_score(y[:, c], (p[:, c] >= 0.3).astype(int), zero_division=0)) < 1e-12
EOF
) && ok "multi-label --threshold 0.3: F1 per class = scikit-learn's at 0.3" || notok "--threshold 0.3: $(echo "$why" | tail -2)"
else
    skip "multi-label metrics against scikit-learn: no .venv with scikit-learn"
fi
$B/cnneval -q --threads 1 --batch 5 ml1.safetensors ml-val.npy -o mlev2 --thresholds-out mlev2/thr.tsv \
    && cmp -s mlev/predictions.tsv mlev2/predictions.tsv && cmp -s mlev/metrics.json mlev2/metrics.json && cmp -s mlev/thr.tsv mlev2/thr.tsv \
    && ok "multi-label: the same bytes for --threads 1 --batch 5" || notok "multi-label output depends on --threads/--batch"
# refusals, both ways (dataset_open takes both kinds of labels)
bad "a multi-label model on class indices" "test.npy|test-labels.npy: class indices \\(N\\), but ml1.safetensors is a multi-label model: \\(N, 3\\) targets needed" ml1.safetensors test.npy
bad "a single-label model on (N, K) targets" "ml-val-labels.npy: \\(N, 3\\) multi-label targets, but model.safetensors is a single-label model" model.safetensors ml-val.npy
bad "an ensemble of multi- and single-label models" "model.safetensors: single-label, but ml1.safetensors is multi-label \\(the models of an ensemble must agree\\)" \
    -m ml1.safetensors -m model.safetensors ml-val.npy
expect_error "--threshold with a single-label model (no --scan)" "model.safetensors: --threshold goes with --scan or a multi-label model" 2 \
    $B/cnneval --threshold 0.3 model.safetensors test.npy -o out-bad
expect_error "--thresholds-out on unlabelled data" "unlabelled: --thresholds-out needs \\(N, 3\\) targets" 1 \
    $B/cnneval --labels - --thresholds-out x.tsv ml1.safetensors ml-val.npy -o out-bad
$B/cnneval -q --labels - ml1.safetensors ml-val.npy -o mlun && [ ! -e mlun/metrics.json ] \
    && cmp -s <(cut -f1,3- mlun/predictions.tsv) <(cut -f1,3- mlev/predictions.tsv) && [ -z "$(tail -n +2 mlun/predictions.tsv | cut -f2 | tr -d '\n')" ] \
    && ok "multi-label, unlabelled: predictions (empty true column), no metrics" || notok "multi-label unlabelled"
# an ensemble of two multi-label models: each probability the mean of the members' sigmoids
$B/cnneval -q ml2.safetensors ml-val.npy -o mlev-b && $B/cnneval -q -m ml1.safetensors -m ml2.safetensors ml-val.npy -o mlen \
    && why=$(awk -F'\t' 'FNR == 1 { f++; next } f == 1 { for (j = 4; j <= NF; j++) a[FNR, j] = $j; next }
        f == 2 { for (j = 4; j <= NF; j++) b[FNR, j] = $j; next }
        { for (j = 4; j <= NF; j++) { d = $j - (a[FNR, j] + b[FNR, j]) / 2; if (d * d > 1e-14) { print "row " FNR ": " $0; exit 1 } } n++ }
        END { if (n != 18) { print "rows " n; exit 1 } }' mlev/predictions.tsv mlev-b/predictions.tsv mlen/predictions.tsv) \
    && grep -q '"loss"' mlen/metrics.json \
    && ok "ensemble of two multi-label models: each probability = the mean of the members' sigmoids (1e-7)" \
    || notok "multi-label ensemble: $why"
# raw recordings: path, start, end, the classes at or above the threshold, one probability per class;
# the same numbers as the stack those recordings make (the front end is recorded in the checkpoint)
$B/cnneval ml1.safetensors $(cat ml-val.list) > mlraw.tsv 2>mlraw.err; rc=$?
[ $rc = 0 ] && [ "$(head -1 mlraw.tsv)" = $'path\tstart\tend\tclasses\tp_lo\tp_mid\tp_hi' ] \
    && [ "$(tail -n +2 mlraw.tsv | cut -f4)" = "$(tail -n +2 mlev/predictions.tsv | cut -f3)" ] \
    && [ "$(tail -n +2 mlraw.tsv | cut -f5- | tr '\t' '\n' | awk '{ printf "%.4f\n", $1 }')" = "$(tail -n +2 mlev/predictions.tsv | cut -f4- | tr '\t' '\n' | awk '{ printf "%.4f\n", $1 }')" ] \
    && ok "multi-label on raw recordings: path, start, end, classes, p_CLASS; as on their stack" \
    || notok "multi-label raw recordings: rc=$rc $(head -c 300 mlraw.err) $(head -3 mlraw.tsv)"
# --scan with multi-label models: per-class sigmoid scores, events per class with per-class thresholds
sox mlw/c8_100.wav mlw/c8_011.wav mlw/c9_001.wav mlw/c9_110.wav mlw/c10_010.wav mlw/c10_101.wav mllong.wav \
    && sox mlw/c10_011.wav mlw/c9_100.wav mlw/c8_101.wav mllong2.wav || notok "making the long multi-label recordings"
printf 'class\tthreshold\nhi\t0.999\nlo\t0.3\nmid\t0.9\n' > mlthr-hand.tsv
# scan_events SCORES THRESHOLDS-TSV: the events per class that runs of windows above each class's threshold make
scan_events() {
    awk -F'\t' 'FNR == 1 { f++; if (f == 2) for (j = 4; j <= NF; j++) name[j] = $j; next }
        f == 1 { thr[$1] = $2; next }
        { for (j = 4; j <= NF; j++) { c = name[j]
            if ($j > thr[c]) { if (!(j in b)) b[j] = $2; e[j] = $3 } else if (j in b) { printf "%.6f\t%.6f\t%d\t%s\n", b[j], e[j], j, c; delete b[j] } } }
        END { for (j in b) printf "%.6f\t%.6f\t%d\t%s\n", b[j], e[j], j, name[j] }' "$2" "$1" | sort -t$'\t' -k1,1g -k3,3n | cut -f1,2,4
}
for t in mlev/thr.tsv mlthr-hand.tsv; do
    rm -rf mls; $B/cnneval -q --scan --thresholds $t ml1.safetensors mllong.wav -o mls 2>mls.err; rc=$?
    want=$(scan_events mls/scores.tsv $t); got=$(tail -n +2 mls/events/mllong.selections.txt | cut -f4,5,8)
    [ $rc = 0 ] && [ -n "$want" ] && [ "$want" = "$got" ] \
        && [ "$(tail -n +2 mls/threshold | sort)" = "$(tail -n +2 $t | cut -f1,2 | sort)" ] && [ "$(head -1 mls/threshold)" = $'class\tthreshold' ] \
        && [ "$(tail -n +2 mls/results.tsv | cut -f2,3)" = "$(for c in lo mid hi; do printf '%s\t%s\n' $c $(echo "$got" | grep -c $'\t'$c'$'); done)" ] \
        && ok "--scan --thresholds $t (multi-label): events per class = runs above each class's threshold in scores.tsv; DIR/threshold records them; counts" \
        || notok "--scan --thresholds $t: rc=$rc $(head -c 300 mls.err) want: $want got: $got"
done
[ "$(grep -c $'\thi\t' mls/events/mllong.selections.txt)" = 0 ] && [ "$(tail -n +2 mls/results.tsv | cut -f2,3 | tr '\t\n' ' ')" != "lo 0 mid 0 hi 0 " ] \
    && ok "--scan --thresholds: a class at 0.999 makes no events, the others do" || notok "per-class thresholds not applied: $(cat mls/results.tsv)"
awk -F'\t' 'NR > 1 { s = $4 + $5 + $6; if (s > 1.2) n++ } END { exit !(n > 0) }' mls/scores.tsv \
    && ok "--scan, multi-label: window scores are sigmoids (some windows' sum well above 1)" || notok "multi-label scores look like softmax"
$B/cnneval -q --scan --threshold 0.5 ml1.safetensors mllong.wav -o mls05 \
    && [ "$(scan_events mls05/scores.tsv <(printf 'class\tthreshold\nlo\t0.5\nmid\t0.5\nhi\t0.5\n'))" = "$(tail -n +2 mls05/events/mllong.selections.txt | cut -f4,5,8)" ] \
    && [ "$(cat mls05/threshold)" = 0.5 ] && ok "--scan, multi-label, one --threshold for all classes" || notok "--scan multi-label --threshold 0.5"
# ensemble of sigmoids in the scan; -j 2 on two recordings gives the same bytes as -j 1
$B/cnneval -q --scan ml2.safetensors mllong.wav --scores mls-b.tsv && $B/cnneval -q --scan ml1.safetensors mllong.wav --scores mls-a.tsv \
    && $B/cnneval -q --scan -m ml1.safetensors -m ml2.safetensors mllong.wav --scores mls-en.tsv \
    && why=$(paste mls-a.tsv mls-b.tsv mls-en.tsv | awk -F'\t' 'NR > 1 { for (j = 4; j <= 6; j++) { d = $(j + 12) - ($j + $(j + 6)) / 2; if (d * d > 1e-11) { print "row " NR; exit 1 } } n++ } END { if (n < 10) exit 1 }') \
    && ok "--scan ensemble of two multi-label models: each score = the mean of the members' sigmoids (3e-6)" || notok "--scan multi-label ensemble: $why"
$B/cnneval -q --scan -j 1 --thresholds mlev/thr.tsv -m ml1.safetensors -m ml2.safetensors mllong.wav mllong2.wav -o mlsj1 \
    && $B/cnneval -q --scan -j 2 --thresholds mlev/thr.tsv -m ml1.safetensors -m ml2.safetensors mllong.wav mllong2.wav -o mlsj2 \
    && diff -r mlsj1 mlsj2 >/dev/null && ok "--scan multi-label ensemble, per-class thresholds: -j 2 = -j 1 (same bytes)" || notok "--scan multi-label -j 2 differs"
expect_error "--scan: multi- and single-label members" "raw.safetensors: single-label, but ml1.safetensors is multi-label" 1 \
    $B/cnneval --scan -m ml1.safetensors -m raw.safetensors mllong.wav -o out-bad
printf 'class\tthreshold\nlo\t0.5\nmid\t0.5\n' > thr-miss.tsv
printf 'class\tthreshold\nlo\t0.5\nmid\t0.5\nhi\t0.5\nowl\t0.5\n' > thr-unk.tsv
printf 'class\tthreshold\nlo\t0.5\nmid\t1.5\nhi\t0.5\n' > thr-num.tsv
printf 'class\tthreshold\nlo\t0.5\nlo\t0.5\nhi\t0.5\n' > thr-dup.tsv
printf 'class\tt\nlo\t0.5\n' > thr-col.tsv
expect_error "--thresholds: a class missing" "thr-miss.tsv: no threshold for class 'hi'" 1 $B/cnneval --scan --thresholds thr-miss.tsv ml1.safetensors mllong.wav -o out-bad
expect_error "--thresholds: an unknown class" "thr-unk.tsv:5: the model has no class 'owl'" 1 $B/cnneval --scan --thresholds thr-unk.tsv ml1.safetensors mllong.wav -o out-bad
expect_error "--thresholds: a number out of range" "thr-num.tsv:3: threshold '1.5' of class 'mid' is not a number in \\[0, 1\\]" 1 $B/cnneval --scan --thresholds thr-num.tsv ml1.safetensors mllong.wav -o out-bad
expect_error "--thresholds: a class twice" "thr-dup.tsv:3: class 'lo' given twice" 1 $B/cnneval --scan --thresholds thr-dup.tsv ml1.safetensors mllong.wav -o out-bad
expect_error "--thresholds: no threshold column" "thr-col.tsv: needs the columns class and threshold" 1 $B/cnneval --scan --thresholds thr-col.tsv ml1.safetensors mllong.wav -o out-bad
no_partial "no scan output after a bad --thresholds" out-bad/scores.tsv
expect_error "--threshold and --thresholds" "--threshold and --thresholds: one or the other" 2 $B/cnneval --scan --threshold 0.4 --thresholds mlev/thr.tsv ml1.safetensors mllong.wav
expect_error "--thresholds without --scan" "go with --scan" 2 $B/cnneval --thresholds mlev/thr.tsv ml1.safetensors ml-val.npy -o out-bad
