# pipeline.mk: the front-end DAG on a tiny data set made here; incremental rebuilds.
. "$(dirname "$0")/lib.sh"
ROOT=$(cd "$TESTS/.." && pwd)
command -v sox >/dev/null || { skip "pipeline: sox is needed to make test audio"; exit 0; }
D=$W/data
for c in cat dog owl; do
    mkdir -p "$D/$c"
    for i in 1 2 3 4 5 6 7 8; do sox -n -r 16000 -c 1 "$D/$c/${c}_$i.wav" synth 0.$((i + 2)) sine $((200 * i + ${#c} * 100)) 2>/dev/null; done
done
echo "notes" > "$D/cat/README.txt"   # not audio: ignored
pm() { make --no-print-directory -C "$ROOT" -f pipeline.mk DATA="$D" OUT="$W/out" BIN="$BIN" "$@"; }
pm >"$W/log1" 2>&1 && ok "pipeline runs on a fresh data set" || notok "pipeline failed: $(tail -3 "$W/log1")"
for f in split/train.tsv split/classes.tsv mels/train.tsv mels/test.tsv train.npy val.npy test.npy train-labels.npy; do
    [ -s "$W/out/$f" ] || { notok "missing $f"; continue; }
done
ok "every artefact present"
n_rows=$(( $(cat "$W"/out/mels/{train,val,test}.tsv | wc -l) - 3 ))
[ "$n_rows" = 24 ] && ok "24 recordings, 24 spectrograms across the splits" || notok "spectrogram count $n_rows"
ntrain=$(( $(wc -l < "$W/out/split/train.tsv") - 1 ))
head -c 128 "$W/out/train.npy" | tr -d '\000' | grep -q "'shape': ($ntrain, 1, 128, 400)" && ok "train stack is ($ntrain, 1, 128, 400)" \
    || notok "train stack shape: $(head -c 128 "$W/out/train.npy" | tr -d '\000')"
pm >"$W/log2" 2>&1
[ ! -s "$W/log2" ] && ok "second run does nothing" || notok "second run did: $(head -3 "$W/log2")"
sleep 1; touch "$D/dog/dog_3.wav"
pm >"$W/log3" 2>&1
[ "$(grep -c 'wav2mel' "$W/log3")" = 1 ] && grep -q 'dog_3.wav' "$W/log3" && ! grep -q splitset "$W/log3" \
    && ok "touching one recording recomputes only its spectrogram (and the stacks)" || notok "touch rebuilt: $(grep -c wav2mel "$W/log3") spectrograms"
pm MEL_OPTS="--n-mels 64" >"$W/log4" 2>&1
[ "$(grep -c 'wav2mel' "$W/log4")" = 24 ] && head -c 128 "$W/out/train.npy" | tr -d '\000' | grep -q "($ntrain, 1, 64, 400)" \
    && ok "changing MEL_OPTS recomputes every spectrogram" || notok "MEL_OPTS change: $(grep -c wav2mel "$W/log4")"
cut -f1,2 "$W/out/split/train.tsv" > "$W/before"
for i in 9 10 11 12; do sox -n -r 16000 -c 1 "$D/owl/owl_$i.wav" synth 0.5 sine $((300 * i)) 2>/dev/null; done
pm MEL_OPTS="--n-mels 64" >"$W/log5" 2>&1
[ "$(grep -c 'wav2mel' "$W/log5")" = 4 ] && ok "adding 4 recordings computes 4 spectrograms" || notok "adding: $(grep -c wav2mel "$W/log5")"
missing=$(cut -f1 "$W/before" | tail -n +2 | while read -r p; do grep -q "^$p	" "$W/out/split/train.tsv" || echo "$p"; done)
[ -z "$missing" ] && ok "no earlier training recording moved to another split" || notok "moved: $missing"
pm DATA="$W/nothing" >"$W/log6" 2>&1; rc=$?
[ $rc != 0 ] && grep -q "pipeline: error: .*nothing: no such directory" "$W/log6" && ok "missing DATA is a clear error" || notok "missing DATA: rc=$rc $(cat "$W/log6")"

# training and evaluation stages
pm MEL_OPTS="--n-mels 64" FRAMES=48 TRAIN_OPTS="--epochs 2 --threads 1" evaluate >"$W/log7" 2>&1; rc=$?
[ $rc = 0 ] && [ -s "$W/out/models/baseline.safetensors" ] && [ -s "$W/out/models/baseline.history.tsv" ] && [ -s "$W/out/eval/baseline/metrics.json" ] \
    && [ -s "$W/out/eval/baseline/predictions.tsv" ] && ok "evaluate: trains the baseline and evaluates it on the test split" || notok "evaluate: rc=$rc $(tail -3 "$W/log7")"
pm MEL_OPTS="--n-mels 64" FRAMES=48 TRAIN_OPTS="--epochs 2 --threads 1" evaluate >"$W/log8" 2>&1
[ ! -s "$W/log8" ] && ok "evaluate again does nothing" || notok "evaluate again did: $(head -3 "$W/log8")"
"$BIN/cnneval" "$W/out/models/baseline.safetensors" "$D/cat/cat_1.wav" >"$W/raw.tsv" 2>"$W/raw.err" && [ "$(wc -l < "$W/raw.tsv")" = 2 ] \
    && ok "the pipeline's checkpoint classifies a raw recording (front end recorded)" || notok "raw classification: $(cat "$W/raw.err")"
pm MEL_OPTS="--n-mels 64" FRAMES=48 TRAIN_OPTS="--epochs 3 --threads 1" evaluate >"$W/log9" 2>&1
grep -q cnntrain "$W/log9" && ! grep -q wav2mel "$W/log9" && ok "changing TRAIN_OPTS retrains without recomputing spectrograms" || notok "TRAIN_OPTS change: $(head -3 "$W/log9")"
