# pipeline.mk: the whole job on a tiny data set made here (3 classes x 8 tones, two epochs): every
# artefact, count checks, what make -n/-q say after each kind of change, -j2 = -j1, SKIP_BAD, lists.
. "$(dirname "$0")/lib.sh"
ROOT=$(cd "$TESTS/.." && pwd)
command -v sox >/dev/null || { skip "pipeline: sox is needed to make test audio"; exit 0; }
D=$W/data
for c in cat dog owl; do
    mkdir -p "$D/$c"
    for i in 1 2 3 4 5 6 7 8; do sox -n -r 16000 -c 1 "$D/$c/${c}_$i.wav" synth 0.$((i + 2)) sine $((200 * i + ${#c} * 100)) 2>/dev/null; done
done
echo "notes" > "$D/cat/README.txt"   # not audio: ignored
echo "notes" > "$D/README.md"        # not in a class folder: ignored
# Two models: the baseline and a variant of it with its own setting.
FAST=(MEL_OPTS="--n-mels 32" FRAMES=32 TRAIN_OPTS="--epochs 2 --threads 1" MODELS="baseline small" ARCH_small=baseline
      TRAIN_OPTS_small="--dropout 0.1")
pmk() { make --no-print-directory -C "$ROOT" -f pipeline.mk BIN="$BIN" "$@"; }
pm() { pmk DATA="$D" OUT="$W/out" "${FAST[@]}" "$@"; }
# count TOOL LOG: how many times make ran (or, with -n, would run) the tool; the per-recording wav2mel
# recipe is quiet and says "wav2mel RECORDING" instead
count() { echo $(( $(grep -c "$BIN/$1 " "$2") + $(grep -c "^$1 " "$2") )); }
# runs LOG: the tools a log shows, e.g. "wav2mel=1 splitset=0 specnorm=1 cnntrain=0 cnneval=2"
runs() { local t; for t in wav2mel splitset specnorm cnntrain cnneval; do printf '%s=%s ' $t "$(count $t "$1")"; done; }
npy_shape() { head -c 128 "$1" | LC_ALL=C tr -c '[:print:]' ' ' | LC_ALL=C sed -n "s/.*'shape': (\([^)]*\)).*/\1/p"; }
nohist() { # a copy of an output tree without the seconds per epoch (the only run-to-run difference)
    cp -r "$1" "$2"
    for f in "$2"/models/*.history.tsv; do cut -f1-6 "$f" > "$f.x" && mv "$f.x" "$f"; done
    for f in "$2"/models/*.history.json; do grep -v '"seconds"' "$f" > "$f.x" && mv "$f.x" "$f"; done
    # the report's training-time cells ("12.3 s") are the same measurement
    sed -E 's#<td class="n">[0-9.]+ (s|min|h)</td>#<td class="n">T</td>#g' "$2/report.html" > "$2/report.x" && mv "$2/report.x" "$2/report.html"
}

# --- the whole job, -j1 and -j2 ---------------------------------------------------------------------
pm -j1 all >"$W/log1" 2>&1 && ok "pipeline all runs on a fresh data set" || notok "pipeline failed: $(tail -3 "$W/log1")"
missing=""
for f in recordings.txt split/{train,val,test,classes}.tsv mels/{train,val,test}.tsv mels/cat/cat_1.wav.npy mels/cat/cat_1.wav.tsv \
         {train,val,test}.npy {train,val,test}-labels.npy models/{baseline,small}.{safetensors,history.tsv,history.json} \
         eval/{baseline,small}/{metrics.json,predictions.tsv,misclassified.tsv} counts.tsv skipped.tsv \
         report.html figures/data-example-00.png; do
    [ -s "$W/out/$f" ] || missing+=" $f"
done
[ -z "$missing" ] && ok "every artefact present" || notok "missing:$missing"
ls "$W/out/mels/cat" | grep -q README && notok "a non-audio file got a spectrogram" || ok "non-audio files are ignored"
find "$W/out" -name '*.tmp*' -o -name '*.err' -o -name '*.count' | grep -q . && notok "temporary files left: $(find "$W/out" -name '*.tmp*' -o -name '*.err')" \
    || ok "no temporary files left behind"
printf 'stage\tcount\nrecordings\t24\nsplit\t24\nwith spectrograms\t24\nleft out\t0\nspectrograms\t24\nstacked\t24\n' > "$W/counts.want"
cmp -s "$W/counts.want" "$W/out/counts.tsv" && grep -q "counts.tsv: 24 recordings, 24 spectrograms, 0 left out, 24 stacked: ok" "$W/log1" \
    && ok "count check: 24 recordings = 24 split rows = 24 spectrograms = 24 stacked" || notok "counts: $(cat "$W/out/counts.tsv")"
[ "$(wc -l < "$W/out/skipped.tsv")" = 1 ] && ok "skipped.tsv: header only" || notok "skipped.tsv: $(cat "$W/out/skipped.tsv")"
ntrain=$(( $(wc -l < "$W/out/split/train.tsv") - 1 ))
[ "$(npy_shape "$W/out/train.npy")" = "$ntrain, 1, 32, 32" ] && [ "$(npy_shape "$W/out/train-labels.npy")" = "$ntrain," ] \
    && ok "train stack is ($ntrain, 1, 32, 32) with $ntrain labels" || notok "train stack shape: $(npy_shape "$W/out/train.npy")"
ntest=$(( $(wc -l < "$W/out/split/test.tsv") - 1 ))
[ "$(( $(wc -l < "$W/out/eval/small/predictions.tsv") - 1 ))" = "$ntest" ] && grep -q '"accuracy"' "$W/out/eval/small/metrics.json" \
    && ok "evaluation: one prediction per test recording, metrics" || notok "evaluation: $(head -3 "$W/out/eval/small/predictions.tsv")"
grep -q -- '--dropout 0.1' "$W/out/models/small.opts" && ! grep -q -- '--dropout' "$W/out/models/baseline.opts" \
    && ok "per-model settings go to that model only" || notok "model settings: $(cat "$W"/out/models/*.opts)"
"$BIN/cnneval" "$W/out/models/baseline.safetensors" "$D/cat/cat_1.wav" >"$W/raw.tsv" 2>"$W/raw.err" && [ "$(wc -l < "$W/raw.tsv")" = 2 ] \
    && ok "the pipeline's checkpoint classifies a raw recording (front end recorded)" || notok "raw classification: $(cat "$W/raw.err")"
grep -q 'id="model-2"' "$W/out/report.html" && grep -q '>small<' "$W/out/report.html" \
    && ok "the report covers both models" || notok "report: no section for the second model"
# --- scanning long recordings: make scan SCAN=DIR MODEL=NAME ---------------------------------------------
mkdir -p "$W/long"
sox "$D/cat/cat_1.wav" "$D/dog/dog_2.wav" "$D/owl/owl_3.wav" "$W/long/field.wav" 2>/dev/null
pm scan SCAN="$W/long" MODEL=small SCAN_OPTS="--threshold 0.4" >"$W/logs" 2>&1 \
    && [ -s "$W/out/scan/scores.tsv" ] && [ -s "$W/out/scan/results.tsv" ] && [ -s "$W/out/scan/events/field.selections.txt" ] \
    && [ "$(cat "$W/out/scan/threshold")" = 0.4 ] && ok "make scan SCAN=DIR MODEL=small: scores, counts, a Raven table" \
    || notok "make scan: $(tail -3 "$W/logs")"
pm -q scan SCAN="$W/long" MODEL=small SCAN_OPTS="--threshold 0.4" && ok "make -q scan: up to date after a scan" || notok "make -q scan: out of date"
pm -n scan SCAN="$W/long" MODEL=small SCAN_OPTS="--threshold 0.6" 2>&1 | grep -q -- "--scan" && ok "a new SCAN_OPTS scans again" \
    || notok "SCAN_OPTS change not seen"
pm all SCAN="$W/long" MODEL=small SCAN_OPTS="--threshold 0.4" >"$W/logs2" 2>&1 && grep -q 'id="scan' "$W/out/report.html" \
    && ok "the report shows the scan when SCAN is set" || notok "report with scan: $(tail -3 "$W/logs2"; grep -o 'id="[a-z-]*"' "$W/out/report.html" | head -20)"
# scan shards: three recordings, at most 0.75 s of audio a job -> several jobs, merged to the same bytes
sox "$D/owl/owl_1.wav" "$D/cat/cat_2.wav" "$W/long/second.wav" 2>/dev/null; sox "$D/dog/dog_8.wav" "$W/long/third.wav" 2>/dev/null
pm scan SCAN="$W/long" MODEL=small SCAN_OPTS="--threshold 0.4" SCAN_SHARD=100000 >"$W/log" 2>&1 && cp -r "$W/out/scan" "$W/scan-one" \
    && [ "$(ls -d "$W/out/scan-shards/"*/ | wc -l)" = 1 ] && ok "make scan: one job for three short recordings" || notok "scan, one job: $(tail -3 "$W/log")"
pm scan SCAN="$W/long" MODEL=small SCAN_OPTS="--threshold 0.4" SCAN_SHARD=0.75 >"$W/log" 2>&1; rc=$?
[ $rc = 0 ] && [ "$(count cnneval "$W/log")" = 3 ] && diff -r "$W/scan-one" "$W/out/scan" >/dev/null \
    && ok "make scan SCAN_SHARD=0.75: three jobs, merged into the same bytes as one job's" || notok "scan shards: rc=$rc $(runs "$W/log") $(diff -r "$W/scan-one" "$W/out/scan" | head -3)"
touch "$W/long/third.wav"
pm scan SCAN="$W/long" MODEL=small SCAN_OPTS="--threshold 0.4" SCAN_SHARD=0.75 >"$W/log" 2>&1 && [ "$(count cnneval "$W/log")" = 1 ] \
    && diff -r "$W/scan-one" "$W/out/scan" >/dev/null && ok "a touched long recording rescans its shard alone" || notok "touched scan recording: $(runs "$W/log")"
printf '#!/bin/sh\ncase "$*" in *second.wav*) echo "job killed" >&2; exit 137;; esac\nexec "$@"\n' > "$W/failscan"; chmod +x "$W/failscan"
touch "$W/long/second.wav" "$W/long/third.wav"
pm scan SCAN="$W/long" MODEL=small SCAN_OPTS="--threshold 0.4" SCAN_SHARD=0.75 CMD_SCAN="$W/failscan" >"$W/log" 2>&1; rc=$?
[ $rc != 0 ] && grep -q "job killed" "$W/log" && diff -r "$W/scan-one" "$W/out/scan" >/dev/null \
    && ok "a failed scan job stops the run and leaves the last scan as it was" || notok "failed scan job: rc=$rc $(tail -2 "$W/log")"
pm -k scan SCAN="$W/long" MODEL=small SCAN_OPTS="--threshold 0.4" SCAN_SHARD=0.75 CMD_SCAN="$W/failscan" >/dev/null 2>&1
pm scan SCAN="$W/long" MODEL=small SCAN_OPTS="--threshold 0.4" SCAN_SHARD=0.75 >"$W/log" 2>&1 && [ "$(count cnneval "$W/log")" = 1 ] \
    && diff -r "$W/scan-one" "$W/out/scan" >/dev/null && ok "the rerun scans only the failed shard" || notok "scan rerun: $(runs "$W/log")"
rm -rf "$W/scan-one" "$W/long/second.wav" "$W/long/third.wav"
pm scan SCAN="$W/long" MODEL=small SCAN_OPTS="--threshold 0.4" >/dev/null 2>&1
pm scan SCAN="$W/nothere" MODEL=small >"$W/logs3" 2>&1 && notok "SCAN of a missing folder succeeded" \
    || { grep -q "no recordings to scan" "$W/logs3" && ok "SCAN of a missing folder: a clear error" || notok "SCAN missing: $(tail -2 "$W/logs3")"; }
pm all >"$W/logs4" 2>&1 && ! grep -q 'id="scan' "$W/out/report.html" && [ ! -e "$W/out/figures/scan-001.png" ] \
    && ok "without SCAN the report is made again without the scan (no stale figures)" || notok "report after SCAN removed: $(tail -2 "$W/logs4")"
rm -rf "$W/out/scan" "$W/out/scan.opts" "$W/out/scan.list" "$W/out/links/scan" "$W/out/scan-shards" "$W/out/scanshard.opts"
mv "$W/out" "$W/out-j1"
pm -j2 all >"$W/log2" 2>&1 && ok "pipeline all with -j2" || notok "-j2 failed: $(tail -3 "$W/log2")"
nohist "$W/out-j1" "$W/cmp1"; nohist "$W/out" "$W/cmp2"
diff -r "$W/cmp1" "$W/cmp2" >"$W/jdiff" 2>&1 && ok "make -j2 gives the same bytes as make -j1 (but the seconds per epoch)" \
    || notok "-j2 differs from -j1: $(head -5 "$W/jdiff")"
rm -rf "$W/cmp1" "$W/cmp2"

# --- shards and a command prefix: the same bytes for any SHARD, every job through CMD -----------------
cat > "$W/prefix" <<EOF
#!/usr/bin/env bash
# a stand-in for srun: logs the stage and the tool of each job, then runs it
printf '%s\t%s\n' "\$STAGE" "\$(basename "\$1") \$(basename "\${4:-x}")" >> "$W/jobs.log"
exec "\$@"
EOF
chmod +x "$W/prefix"; rm -f "$W/jobs.log"
mv "$W/out" "$W/out-j2"
pm -j2 all SHARD=5 CMD="STAGE=any $W/prefix" CMD_FEATURES="STAGE=features $W/prefix" CMD_TRAIN="STAGE=train $W/prefix" \
    CMD_EVAL="STAGE=eval $W/prefix" CMD_REPORT="STAGE=report $W/prefix" >"$W/log" 2>&1 && ok "make all with SHARD=5 and every stage through a command prefix" \
    || notok "CMD/SHARD: $(tail -3 "$W/log")"
nshards=$(ls "$W/out/mels/shards/"*.done | wc -l)
[ "$nshards" -ge 6 ] && [ "$(grep -c '^features	bash mel-shard' "$W/jobs.log")" = "$nshards" ] \
    && [ "$(grep -c '^train	cnntrain' "$W/jobs.log")" = 2 ] && [ "$(grep -c '^eval	cnneval' "$W/jobs.log")" = 2 ] \
    && [ "$(grep -c '^report	mkreport' "$W/jobs.log")" = 1 ] && [ "$(grep -c '^features	specnorm' "$W/jobs.log")" = 3 ] \
    && [ "$(grep -c '^features	splitset' "$W/jobs.log")" = 1 ] \
    && ok "every job went through its stage's prefix: $nshards spectrogram shards, 3 stacks, 1 split, 2 trainings, 2 evaluations, 1 report" \
    || notok "jobs through CMD: $nshards shards; $(sort "$W/jobs.log" | uniq -c | tr '\n' ' ')"
nohist "$W/out-j1" "$W/cmp1"; nohist "$W/out" "$W/cmp2"
rm -rf "$W/cmp1/mels/shards" "$W/cmp2/mels/shards" "$W/cmp1/shard.opts" "$W/cmp2/shard.opts" "$W/cmp1/split/deps.mk" "$W/cmp2/split/deps.mk"
diff -r "$W/cmp1" "$W/cmp2" >"$W/jdiff" 2>&1 && ok "SHARD=5 through the prefix with -j2 gives the same bytes as SHARD=1000 with -j1 (every output)" \
    || notok "SHARD/CMD differ: $(head -5 "$W/jdiff")"
rm -rf "$W/out-j1" "$W/cmp1" "$W/cmp2"
printf '#!/bin/sh\ncase "$*" in *mel-shard*val-*) echo "node n2: job killed" >&2; exit 137;; esac\nexec "$@"\n' > "$W/failing"; chmod +x "$W/failing"
awk -F'\t' 'FNR == NR { k[$1] = $2; next } FNR > 1 { print k[$1] }' "$W/out/recordings.txt" "$W/out/split/val.tsv" \
    | while IFS= read -r k; do rm "$W/out/mels/$k.tsv"; done   # the val spectrograms lost
pm all SHARD=5 CMD_FEATURES="$W/failing" >"$W/log" 2>&1; rc=$?
[ $rc != 0 ] && grep -q "job killed" "$W/log" && [ "$(count cnntrain "$W/log")" = 0 ] && ! pm -q SHARD=5 \
    && ok "a failed job stops the build with its message (nothing after it runs, the build stays out of date)" || notok "failed job: rc=$rc $(tail -3 "$W/log")"
pm all SHARD=5 >"$W/log" 2>&1 && [ "$(count wav2mel "$W/log")" = "$(tail -n +2 "$W/out/split/val.tsv" | wc -l)" ] \
    && ok "the rerun makes only the failed shards' spectrograms" || notok "rerun after a failed job: $(runs "$W/log")"
rm -rf "$W/out"; mv "$W/out-j2" "$W/out"

# --- nothing to do ----------------------------------------------------------------------------------
pm >"$W/log" 2>&1; pm -q; rc=$?
[ $rc = 0 ] && ! grep -q "$BIN/" "$W/log" && ok "a second run does nothing, and make -q says it is up to date" || notok "second run: rc=$rc $(head -3 "$W/log")"

# --- what each change redoes: make -n first (which changes nothing), then for real ------------------
check_n() { # NAME WANT make-args...: make -n would run exactly WANT
    local name=$1 want=$2; shift 2
    pm -n "$@" >"$W/logn" 2>&1
    local got; got=$(runs "$W/logn")
    if [ "$got" = "$want" ]; then ok "$name: make -n shows $want"; else notok "$name: make -n shows $got (want $want)"; fi
}
test_rec=$(sed -n 2p "$W/out/split/test.tsv" | cut -f1); train_rec=$(sed -n 2p "$W/out/split/train.tsv" | cut -f1)
touch "$test_rec"
pm -q && notok "make -q after touching a recording says up to date" || ok "make -q after touching a test recording: out of date"
check_n "touched test recording" "wav2mel=1 splitset=0 specnorm=1 cnntrain=0 cnneval=2 "
touch "$train_rec"
check_n "touched test and train recordings" "wav2mel=2 splitset=0 specnorm=2 cnntrain=2 cnneval=2 "
pm >"$W/log" 2>&1
[ "$(runs "$W/log")" = "wav2mel=2 splitset=0 specnorm=2 cnntrain=2 cnneval=2 " ] && grep -q "wav2mel $test_rec" "$W/log" \
    && ok "touching two recordings recomputes their spectrograms, their splits and what follows" || notok "touch rebuilt: $(runs "$W/log")"
pm -q && ok "then up to date" || notok "still out of date after the rebuild"
rm "$W/out/mels/cat/cat_3.wav.tsv"   # in train, val or test: a retraining unless in test
retrain=$(grep -q "^$D/cat/cat_3.wav	" "$W/out/split/test.tsv" && echo 0 || echo 2)
check_n "a deleted spectrogram" "wav2mel=1 splitset=0 specnorm=1 cnntrain=$retrain cnneval=2 "
pm >/dev/null 2>&1
# settings: front end, stacking, training of all models, of one model, evaluation
check_n "MEL_OPTS changed (one spectrogram job per shard: one shard per split here)" "wav2mel=3 splitset=0 specnorm=3 cnntrain=2 cnneval=2 " MEL_OPTS="--n-mels 24"
check_n "FRAMES changed" "wav2mel=0 splitset=0 specnorm=3 cnntrain=2 cnneval=2 " FRAMES=40
check_n "TRAIN_OPTS changed" "wav2mel=0 splitset=0 specnorm=0 cnntrain=2 cnneval=2 " TRAIN_OPTS="--epochs 3 --threads 1"
check_n "TRAIN_OPTS_small changed" "wav2mel=0 splitset=0 specnorm=0 cnntrain=1 cnneval=1 " TRAIN_OPTS_small="--dropout 0.2"
check_n "EVAL_OPTS changed" "wav2mel=0 splitset=0 specnorm=0 cnntrain=0 cnneval=2 " EVAL_OPTS="--top-k 2"
pm -q && ok "make -n with other settings changes nothing" || notok "make -n with other settings left the outputs out of date"
cp "$W/out/models/baseline.safetensors" "$W/base.before"
pm TRAIN_OPTS_small="--dropout 0.2" >"$W/log" 2>&1
[ "$(runs "$W/log")" = "wav2mel=0 splitset=0 specnorm=0 cnntrain=1 cnneval=1 " ] && grep -q -- "--arch baseline .*--dropout 0.2" "$W/log" \
    && cmp -s "$W/base.before" "$W/out/models/baseline.safetensors" \
    && ok "TRAIN_OPTS_small retrains that model only" || notok "TRAIN_OPTS_small: $(runs "$W/log")"
pm TRAIN_OPTS_small="--dropout 0.2" -q && ok "then up to date with the new setting" || notok "not up to date after TRAIN_OPTS_small"
pm -q && notok "going back to the old setting is not seen" || ok "going back to the old setting retrains again"
pm >/dev/null 2>&1
pm MEL_OPTS="--n-mels 24" >"$W/log" 2>&1
[ "$(count wav2mel "$W/log")" = 24 ] && [ "$(npy_shape "$W/out/train.npy")" = "$ntrain, 1, 24, 32" ] \
    && ok "changing MEL_OPTS recomputes every spectrogram and the stacks" || notok "MEL_OPTS change: $(runs "$W/log")"

# --- adding recordings: only their spectrograms, and the split stays stable -------------------------
cut -f1,2 "$W/out/split/train.tsv" > "$W/before"
for i in 9 10 11 12; do sox -n -r 16000 -c 1 "$D/owl/owl_$i.wav" synth 0.5 sine $((300 * i)) 2>/dev/null; done
pm MEL_OPTS="--n-mels 24" >"$W/log" 2>&1
[ "$(count wav2mel "$W/log")" = 4 ] && [ "$(count splitset "$W/log")" = 1 ] && ok "adding 4 recordings computes 4 spectrograms (and re-splits)" \
    || notok "adding: $(runs "$W/log")"
missing=$(tail -n +2 "$W/before" | cut -f1 | while read -r p; do grep -q "^$p	" "$W/out/split/train.tsv" || echo "$p"; done)
[ -z "$missing" ] && ok "no earlier training recording moved to another split" || notok "moved: $missing"
grep -q '^recordings	28$' "$W/out/counts.tsv" && grep -q '^stacked	28$' "$W/out/counts.tsv" && ok "count check: 28 after adding 4" \
    || notok "counts after adding: $(cat "$W/out/counts.tsv")"

# --- a bad recording: an error naming it, or with SKIP_BAD=1 listed in skipped.tsv ------------------
echo "not audio at all" > "$D/dog/broken.wav"
pm MEL_OPTS="--n-mels 24" >"$W/log" 2>&1; rc=$?
[ $rc != 0 ] && grep -q "^pipeline: error: $D/dog/broken.wav: .*SKIP_BAD=1" "$W/log" && [ ! -e "$W/out/mels/dog/broken.wav.tsv" ] \
    && ok "a bad recording stops the run with its name" || notok "bad recording: rc=$rc $(grep error "$W/log")"
pm MEL_OPTS="--n-mels 24" SKIP_BAD=1 >"$W/log" 2>&1; rc=$?
[ $rc = 0 ] && [ "$(tail -n +2 "$W/out/skipped.tsv" | cut -f1)" = "$D/dog/broken.wav" ] && [ -n "$(tail -n +2 "$W/out/skipped.tsv" | cut -f2)" ] \
    && grep -q "warning: $D/dog/broken.wav: left out" "$W/log" && grep -q '^left out	1$' "$W/out/counts.tsv" \
    && grep -q '^recordings	29$' "$W/out/counts.tsv" && grep -q '^stacked	28$' "$W/out/counts.tsv" \
    && ok "SKIP_BAD=1: the bad recording is left out, listed in skipped.tsv (path, reason) and counted" \
    || notok "SKIP_BAD=1: rc=$rc $(tail -3 "$W/log") $(cat "$W/out/skipped.tsv")"
pm MEL_OPTS="--n-mels 24" SKIP_BAD=1 -q && ok "SKIP_BAD=1 again: up to date" || notok "SKIP_BAD=1 again: out of date"
pm MEL_OPTS="--n-mels 24" >"$W/log" 2>&1; rc=$?
[ $rc != 0 ] && grep -q "pipeline: error: count check: 1 recording(s) left out by an earlier SKIP_BAD=1 run" "$W/log" \
    && ok "SKIP_BAD=0 after a SKIP_BAD=1 run: an error, not silence" || notok "SKIP_BAD back to 0: rc=$rc $(tail -2 "$W/log")"
rm "$D/dog/broken.wav"
pm MEL_OPTS="--n-mels 24" >"$W/log" 2>&1 && grep -q '^left out	0$' "$W/out/counts.tsv" && ok "removing the bad recording clears it" \
    || notok "after removing the bad recording: $(tail -2 "$W/log")"
pmk DATA="$D" OUT="$W/out-usage" BIN="$BIN" MEL_OPTS="--no-such-option" SKIP_BAD=1 mels >"$W/log" 2>&1; rc=$?
[ $rc != 0 ] && grep -q "pipeline: error: .*: wav2mel failed (exit status 2)" "$W/log" && [ ! -e "$W/out-usage/skipped.tsv" ] \
    && ok "SKIP_BAD=1 leaves out bad recordings, not a wav2mel usage error" || notok "usage error with SKIP_BAD=1: rc=$rc $(tail -2 "$W/log")"

# --- count checks: a stage that drops a recording is an error ----------------------------------------
mkdir -p "$W/fakebin"
for t in wav2mel specnorm cnntrain cnneval; do ln -s "$BIN/$t" "$W/fakebin/$t"; done
printf '#!/bin/sh\n"%s" "$@" || exit\nout=$(eval echo \\${$#})\nsed -i 2d "$out/test.tsv"\n' "$BIN/splitset" > "$W/fakebin/splitset"
chmod +x "$W/fakebin/splitset"
pmk DATA="$D" OUT="$W/out-drop" BIN="$W/fakebin" "${FAST[@]}" split >"$W/log" 2>&1; rc=$?
[ $rc != 0 ] && grep -q "pipeline: error: $W/out-drop/split: 27 rows for 28 recordings" "$W/log" \
    && ok "count check: a split that drops a recording stops the run" || notok "dropping split: rc=$rc $(tail -2 "$W/log")"
rm "$W/fakebin/splitset"; ln -s "$BIN/splitset" "$W/fakebin/splitset"; rm "$W/fakebin/wav2mel"
cat > "$W/fakebin/wav2mel" <<EOF
#!/usr/bin/env bash
# wav2mel, except that it makes no spectrogram of cat_2.wav (and says nothing)
case "\$*" in *cat_2.wav*) while [ "\$1" != -m ]; do shift; done; printf 'key\tnpy\n' > "\$2"; exit 0;; esac
exec "$BIN/wav2mel" "\$@"
EOF
chmod +x "$W/fakebin/wav2mel"
pmk DATA="$D" OUT="$W/out-drop" BIN="$W/fakebin" "${FAST[@]}" features >"$W/log" 2>&1; rc=$?
[ $rc != 0 ] && grep -q "pipeline: error: $D/cat/cat_2.wav: no spectrogram" "$W/log" \
    && ok "count check: a recording without a spectrogram stops the run" || notok "no spectrogram: rc=$rc $(tail -2 "$W/log")"

# --- a list of recordings with groups -----------------------------------------------------------------
{ printf 'path\tlabel\tgroup\tnote\n'
  for c in cat dog owl; do for i in 1 2 3 4 5 6 7 8; do printf '%s\t%s\tg%d\tx\n' "$D/$c/${c}_$i.wav" "$c" $i; done; done
} > "$W/list.tsv"
L=$W/out-list
pmk DATA="$W/list.tsv" OUT="$L" "${FAST[@]}" MODELS=baseline all >"$W/log" 2>&1; rc=$?
[ $rc = 0 ] && grep -q '^recordings	24$' "$L/counts.tsv" && grep -q '^stacked	24$' "$L/counts.tsv" && [ -s "$L/eval/baseline/metrics.json" ] \
    && ok "DATA=LIST.tsv: the whole job" || notok "list: rc=$rc $(tail -3 "$W/log")"
[ -s "$L/mels/data/cat/cat_1.wav.npy" ] && ok "DATA=LIST.tsv: spectrograms named by the path below the list's folder" \
    || notok "list: spectrogram names: $(ls "$L/mels")"
pmk DATA="$W/list.tsv" help | grep -q '^  OUT=outputs/list ' && ok "DATA=LIST.tsv: OUT defaults to outputs/<list name>" \
    || notok "list: OUT: $(pmk DATA="$W/list.tsv" help | grep OUT=)"
straddle=$(for s in train val test; do tail -n +2 "$L/split/$s.tsv" | cut -f4 | sort -u | sed "s/^/$s /"; done | awk '{ n[$2]++ } END { for (g in n) if (n[g] > 1) print g }')
[ -z "$straddle" ] && [ "$(tail -qn +2 "$L"/split/{train,val,test}.tsv | cut -f4 | sort -u | wc -l)" = 8 ] \
    && ok "DATA=LIST.tsv: its group column keeps each group in one split" || notok "groups straddle splits: $straddle"
pmk DATA="$W/list.tsv" OUT="$L" "${FAST[@]}" MODELS=baseline -q && ok "DATA=LIST.tsv: then up to date" || notok "list: out of date after a run"

# --- any file and folder name: spaces, :#%$;=*?"'()|<>&[]{},~!, UTF-8, leading dashes -----------------
O=$W/odd\ data   # DATA itself with a space
ODD='odd:#%$;=*?"'"'"'()|<>&[]{},~!'
n=0
for c in "Humpback whale" "Killer Whale (Orca)" "001 - Dog bark" "Baleine à bosse" "-dash" "$ODD"; do
    n=$((n + 1)); mkdir -p "$O/$c"
    for i in 1 2 3 4 5 6; do sox -n -r 16000 -c 1 "$O/$c/2023-06-01 05:00:0$i.wav" synth 0.$((i + 2)) sine $((n * n * 150 + 25 * i)) 2>/dev/null; done
done
mv "$O/-dash/2023-06-01 05:00:01.wav" "$O/-dash/-lead.wav"
mv "$O/$ODD/2023-06-01 05:00:02.wav" "$O/$ODD/rec #2 (50%) \$HOME.wav"
OO=$W/out-odd
po() { pmk DATA="$O" OUT="$OO" MEL_OPTS="--n-mels 32" FRAMES=32 TRAIN_OPTS="--epochs 1 --threads 1" "$@"; }
po all >"$W/log" 2>&1; rc=$?
[ $rc = 0 ] && grep -q '^recordings	36$' "$OO/counts.tsv" && grep -q '^stacked	36$' "$OO/counts.tsv" && [ -s "$OO/eval/baseline/metrics.json" ] \
    && [ -s "$OO/report.html" ] && ok "make all on a data set whose folder and file names hold spaces, :#%\$;=*?\"'()|<>&[]{},~!, UTF-8, leading dashes" \
    || notok "odd names: rc=$rc $(tail -3 "$W/log")"
[ "$(find "$O" -name '*.wav' | LC_ALL=C sort)" = "$(cut -f1 "$OO/recordings.txt")" ] \
    && [ "$(tail -qn +2 "$OO"/mels/{train,val,test}.tsv | cut -f3 | LC_ALL=C sort)" = "$(cut -f1 "$OO/recordings.txt")" ] \
    && ok "odd names: the tables and manifests keep every path as it is" || notok "odd names: paths in the tables: $(head -3 "$OO/recordings.txt")"
keys_ok=1; while IFS=$'\t' read -r p k; do
    case $k in *[[:space:]:#%\$\;=\\*?\"\'\(\)\`\|\<\>\&{}\[\],~!]*) keys_ok=0;; esac; [ -s "$OO/mels/$k.npy" ] || keys_ok=0
done < "$OO/recordings.txt"
[ $keys_ok = 1 ] && grep -q "^$O/Humpback whale/2023-06-01 05:00:01.wav	Humpback_whale/2023-06-01_05_00_01.wav_[0-9a-f]\{8\}$" "$OO/recordings.txt" \
    && grep -q "^$O/-dash/-lead.wav	-dash/-lead.wav$" "$OO/recordings.txt" \
    && ok "odd names: each recording has a key make can name (unsafe characters as _, + a hash of the path) and its spectrogram under it" \
    || notok "odd names: keys: $(head -3 "$OO/recordings.txt")"
grep -q 'Killer Whale (Orca)' "$OO/report.html" && grep -q 'Baleine à bosse' "$OO/report.html" && grep -qF 'odd:#%$;=*?&quot;' "$OO/report.html" \
    && ok "odd names: the report names the classes as they are (HTML-escaped)" || notok "odd names: class names not in the report"
"$BIN/cnneval" "$OO/models/baseline.safetensors" "$O/$ODD/rec #2 (50%) \$HOME.wav" >"$W/raw.tsv" 2>"$W/raw.err" && [ "$(wc -l < "$W/raw.tsv")" = 2 ] \
    && ok "odd names: the checkpoint classifies such a recording" || notok "odd names: cnneval: $(cat "$W/raw.err")"
po -q && ok "odd names: a second run has nothing to do" || notok "odd names: out of date after a run"
touch "$O/$ODD/rec #2 (50%) \$HOME.wav"
po -q && notok "odd names: touching a recording is not seen" || ok "odd names: make -q after touching a recording: out of date"
po -n >"$W/logn" 2>&1; [ "$(count wav2mel "$W/logn")" = 1 ] && ok "odd names: make -n shows one wav2mel for the touched recording" \
    || notok "odd names: make -n after a touch: $(runs "$W/logn")"
po >"$W/log" 2>&1; [ "$(count wav2mel "$W/log")" = 1 ] && grep -qF "wav2mel $O/$ODD/rec #2 (50%) \$HOME.wav" "$W/log" && po -q \
    && ok "odd names: touch one -> one spectrogram (that one), then up to date" || notok "odd names: after a touch: $(runs "$W/log")"
cp "$OO/recordings.txt" "$W/keys.before"
sox -n -r 16000 -c 1 "$O/Humpback whale/2023-06-01 05:00:09 (new).wav" synth 0.4 sine 333 2>/dev/null
po >"$W/log" 2>&1; [ "$(count wav2mel "$W/log")" = 1 ] && [ -z "$(LC_ALL=C comm -23 "$W/keys.before" "$OO/recordings.txt")" ] \
    && ok "odd names: a new recording -> its spectrogram only; no other key changes" || notok "odd names: adding: $(runs "$W/log")"
newkey=$(grep -F '09 (new)' "$OO/recordings.txt" | cut -f2)
mv "$O/Humpback whale/2023-06-01 05:00:09 (new).wav" "$W/"
po >"$W/log" 2>&1 && [ -n "$newkey" ] && [ ! -e "$OO/links/rec/$newkey" ] && [ "$(find "$OO/links/rec" -type l | wc -l)" = 36 ] \
    && ok "odd names: a removed recording's link goes (36 links left)" || notok "odd names: links after removing one: $(find "$OO/links/rec" -type l | wc -l)"
# make scan over such names, one with a leading dash
mkdir -p "$W/long dir/site (A)"
sox "$O/Humpback whale/2023-06-01 05:00:02.wav" "$O/001 - Dog bark/2023-06-01 05:00:03.wav" "$W/long dir/site (A)/2023-06-01 05:00:00.wav" 2>/dev/null
sox "$O/Baleine à bosse/2023-06-01 05:00:02.wav" "$W/long dir/-early.wav" 2>/dev/null
po scan SCAN="$W/long dir" >"$W/log" 2>&1; rc=$?
[ $rc = 0 ] && [ "$(tail -n +2 "$OO/scan/results.tsv" | cut -f1 | LC_ALL=C sort -u)" = "$(printf '%s\n' "$W/long dir/-early.wav" "$W/long dir/site (A)/2023-06-01 05:00:00.wav")" ] \
    && [ -f "$OO/scan/events/2023-06-01 05:00:00.selections.txt" ] && [ -f "$OO/scan/events/-early.selections.txt" ] \
    && ok "odd names: make scan SCAN='long dir': both recordings scanned, Raven tables named by them" || notok "odd names: scan: rc=$rc $(tail -3 "$W/log")"
po -q scan SCAN="$W/long dir" && ok "odd names: make -q scan: up to date" || notok "odd names: scan out of date after a scan"
touch "$W/long dir/site (A)/2023-06-01 05:00:00.wav"
po -q scan SCAN="$W/long dir" >/dev/null 2>&1 && notok "odd names: a touched long recording is not seen" || ok "odd names: a touched long recording scans again"
printf '%s\n' "$W/long dir/site (A)/2023-06-01 05:00:00.wav" "$W/long dir/-early.wav" > "$W/scan list.txt"
po scan SCAN="$W/scan list.txt" >"$W/log" 2>&1 && [ "$(tail -n +2 "$OO/scan/results.tsv" | cut -f1 | uniq)" = "$(cat "$W/scan list.txt")" ] \
    && ok "make scan SCAN=a list (itself so named): its recordings scanned in the list's order" || notok "scan list: $(tail -3 "$W/log")"
po all SCAN="$W/long dir" >"$W/log" 2>&1 && grep -q 'id="scan' "$OO/report.html" && ok "odd names: the report with the scan" \
    || notok "odd names: report with scan: $(tail -2 "$W/log")"
# a list with such paths, itself named with spaces and parentheses; OUT's default made safe
{ printf 'path\tlabel\n'; while IFS=$'\t' read -r p k; do printf '%s\t%s\n' "$p" "$(basename "$(dirname "$p")")"; done < "$OO/recordings.txt"; } > "$W/my list (v2).tsv"
pmk DATA="$W/my list (v2).tsv" help | grep -q '^  OUT=outputs/my_list__v2_ ' && ok "odd names: OUT's default from a list's name, made safe" \
    || notok "odd names: OUT default: $(pmk DATA="$W/my list (v2).tsv" help | grep OUT=)"
pmk DATA="$W/my list (v2).tsv" OUT="$W/out-oddlist" MEL_OPTS="--n-mels 32" split >"$W/log" 2>&1 && [ -L "$W/out-oddlist/links/DATA" ] \
    && [ "$(tail -qn +2 "$W/out-oddlist"/split/{train,val,test}.tsv | wc -l)" = 36 ] && ok "odd names: DATA=a list with such paths, named so itself" \
    || notok "odd names: list: $(tail -2 "$W/log")"
touch "$W/my list (v2).tsv"
pmk DATA="$W/my list (v2).tsv" OUT="$W/out-oddlist" MEL_OPTS="--n-mels 32" split >"$W/log" 2>&1; [ "$(count splitset "$W/log")" = 1 ] \
    && ok "odd names: an edited list redoes the split" || notok "odd names: an edited list is not seen: $(runs "$W/log")"
# refused: a tab or newline in a name (by name), an OUT make cannot name
mkdir -p "$W/tabbed/c"; cp "$O/-dash/-lead.wav" "$W/tabbed/c/a"$'\t'"b.wav"
pmk DATA="$W/tabbed" OUT="$W/out-tabbed" >"$W/log" 2>&1; rc=$?
[ $rc != 0 ] && grep -qF "pipeline: error: $W/tabbed/c/a\\tb.wav: a name with a newline or tab" "$W/log" && [ ! -e "$W/out-tabbed" ] \
    && ok "a name with a tab is refused by name, before anything is made" || notok "tab: rc=$rc $(cat "$W/log")"
rm -r "$W/tabbed"; mkdir -p "$W/tabbed/c"; cp "$O/-dash/-lead.wav" "$W/tabbed/c/a"$'\n'"b.wav"
pmk DATA="$W/tabbed" OUT="$W/out-tabbed" >"$W/log" 2>&1; rc=$?
[ $rc != 0 ] && grep -qF "pipeline: error: $W/tabbed/c/a\\nb.wav: a name with a newline or tab" "$W/log" \
    && ok "a name with a newline is refused by name" || notok "newline: rc=$rc $(cat "$W/log")"
pmk DATA="$O" OUT="$W/out put" >"$W/log" 2>&1; rc=$?
[ $rc != 0 ] && grep -q "pipeline: error: OUT=.*: an output folder make cannot name" "$W/log" && ok "an OUT make cannot name is a clear error" \
    || notok "OUT with a space: rc=$rc $(cat "$W/log")"

# --- make cv: K-fold cross-validation on the shared spectrograms ----------------------------------------
pm all >/dev/null 2>&1
pm cv FOLDS=3 >"$W/log" 2>&1; rc=$?
[ $rc = 0 ] && [ "$(count wav2mel "$W/log")" = 0 ] && [ "$(count cnntrain "$W/log")" = 6 ] && [ "$(count cnneval "$W/log")" = 6 ] \
    && [ "$(tail -n +2 "$W/out/cv/results.tsv" | wc -l)" = 6 ] \
    && ok "make cv FOLDS=3: 3 folds x 2 models trained and evaluated on the spectrograms already made (no wav2mel)" \
    || notok "make cv: rc=$rc $(runs "$W/log") $(tail -3 "$W/log")"
[ "$(for k in 1 2 3; do tail -n +2 "$W/out/cv/fold$k/mels/test.tsv" | cut -f3; done | sort)" = "$(cut -f1 "$W/out/recordings.txt" | sort)" ] \
    && ok "make cv: every recording is tested exactly once, in one fold" || notok "make cv: test folds do not cover the recordings once"
want=$(awk -F'\t' 'NR > 1 && $1 == "small" { s += $3; n++ } END { printf "%.4f", s / n }' "$W/out/cv/results.tsv")
[ "$(awk -F'\t' '$1 == "small" { print $2, $3 }' "$W/out/cv/summary.tsv")" = "3 $want" ] \
    && [ "$(sed -n 2p "$W/out/cv/paired.tsv" | cut -f1-3)" = "baseline	small	3" ] \
    && ok "make cv: summary.tsv (mean over folds) and paired.tsv (baseline vs small over 3 folds)" \
    || notok "make cv summary: $(cat "$W/out/cv/summary.tsv" "$W/out/cv/paired.tsv")"
pm -q cv FOLDS=3 && ok "make cv: then up to date" || notok "make cv: out of date after a run"
pm report FOLDS=3 >"$W/log" 2>&1 && grep -q 'id="cv' "$W/out/report.html" && ok "make report after make cv: the cross-validation section" \
    || notok "report with cv: $(tail -2 "$W/log"; grep -o 'id="[a-z-]*"' "$W/out/report.html" | sort -u | tr '\n' ' ')"
pm -n cv FOLDS=3 TRAIN_OPTS_small="--dropout 0.2" >"$W/logn" 2>&1; [ "$(count cnntrain "$W/logn")" = 3 ] \
    && ok "make cv: a setting of one model retrains that model in every fold only" || notok "make cv -n: $(runs "$W/logn")"
{ printf 'path\tlabel\tgroup\n'; for c in cat dog owl; do for i in 1 2 3 4 5 6 7 8; do printf '%s\t%s\tg%d\n' "$D/$c/${c}_$i.wav" "$c" $((i % 2)); done; done; } > "$W/two.tsv"
pmk DATA="$W/two.tsv" OUT="$W/out-two" "${FAST[@]}" cv FOLDS=2 >"$W/log" 2>&1; rc=$?
[ $rc != 0 ] && grep -q "pipeline: error: .*fold1/val.tsv: no recordings in fold 1's val split" "$W/log" && [ ! -e "$W/out-two/cv/split/folds.tsv" ] \
    && ok "make cv: a fold without validation recordings (two groups, two folds) is a clear error" || notok "empty val fold: rc=$rc $(tail -2 "$W/log")"
pm cv FOLDS=1 >"$W/log" 2>&1 && notok "make cv FOLDS=1 succeeded" || { grep -q "FOLDS=1" "$W/log" && ok "make cv FOLDS=1: a clear error" || notok "FOLDS=1: $(tail -2 "$W/log")"; }
rm -rf "$W/out/cv" "$W/out/folds.opts"

# --- make tune: a recipe search scored by cross-validation inside train+val -----------------------------
pm tune TUNE_BUDGET=3 TUNE_FOLDS=2 TUNE_STOP= MODELS=baseline >"$W/log" 2>&1; rc=$?
[ $rc = 0 ] && [ "$(tail -n +2 "$W/out/tune/results.tsv" | wc -l)" = 3 ] && [ "$(count cnntrain "$W/log")" = 6 ] \
    && [ "$(tail -n +2 "$W/out/tune/results.tsv" | cut -f2 | sort -u | wc -l)" = 3 ] && [ -z "$(sed -n 2p "$W/out/tune/results.tsv" | cut -f2)" ] \
    && ok "make tune: 3 candidates (the defaults and 2 drawn from the grid) x 2 folds" || notok "make tune: rc=$rc $(runs "$W/log") $(tail -3 "$W/log")"
[ "$(cat "$W/out/tune/recipe.opts")" = "$(awk -F'\t' 'NR > 1 && $NF == 1 { print $2 }' "$W/out/tune/results.tsv")" ] \
    && ok "make tune: recipe.opts holds the options of the best candidate" || notok "recipe: $(cat "$W/out/tune/recipe.opts")"
[ -z "$(LC_ALL=C comm -12 <(tail -n +2 "$W/out/split/test.tsv" | cut -f1 | sort) <(tail -n +2 "$W/out/tune/split/folds.tsv" | cut -f1 | sort))" ] \
    && [ "$(tail -n +2 "$W/out/tune/split/folds.tsv" | wc -l)" = "$(cat "$W/out/split/train.tsv" "$W/out/split/val.tsv" | grep -vc '^path')" ] \
    && ok "make tune: its folds hold train+val, never a test recording" || notok "make tune: test recordings in the search"
cp "$W/out/tune/results.tsv" "$W/tune1"; rm -rf "$W/out/tune"
pm tune TUNE_BUDGET=3 TUNE_FOLDS=2 TUNE_STOP= MODELS=baseline >/dev/null 2>&1 && cmp -s "$W/tune1" "$W/out/tune/results.tsv" \
    && ok "make tune: same seed, same candidates and scores" || notok "make tune not deterministic"
# early stopping: TUNE_STOP=-1 makes every candidate after the first hopeless after its first fold
rm -rf "$W/out/tune"
pm tune TUNE_BUDGET=4 TUNE_FOLDS=3 TUNE_STOP=-1 MODELS=baseline >"$W/log" 2>&1; rc=$?
[ $rc = 0 ] && [ "$(count cnntrain "$W/log")" = 6 ] && [ "$(grep -c 'stopped before fold 2: macro F1 .* c01 had' "$W/log")" = 3 ] \
    && [ "$(tail -n +2 "$W/out/tune/results.tsv" | cut -f1,4,5,8 | tr '\t' ' ' | tr '\n' ,)" = "c01 $(cut -f4,5 "$W/out/tune/scores/c01.tsv" | tr '\t' ' ') done,c02 - - stopped,c03 - - stopped,c04 - - stopped," ] \
    && [ "$(sed -n 2p "$W/out/tune/results.tsv" | cut -f9)" = 1 ] && [ "$(tail -n +2 "$W/out/tune/results.tsv" | cut -f9 | sort | tr '\n' ' ')" = "1 2 3 4 " ] \
    && [ -z "$(cat "$W/out/tune/recipe.opts")" ] \
    && ok "make tune TUNE_STOP: candidates below the best earlier one after fold 1 stop there (6 trainings, not 12), recorded as stopped and ranked last" \
    || notok "make tune TUNE_STOP=-1: rc=$rc $(runs "$W/log") $(cat "$W/out/tune/results.tsv") $(tail -3 "$W/log")"
awk -F'\t' 'NR > 1 { s = 0; n = 0; for (i = 3; i <= 5; i++) if ($i != "-") { s += $i; n++ } if (sprintf("%.4f", s / n) != $6) bad = 1 } END { exit bad }' "$W/out/tune/results.tsv" \
    && ok "make tune: a stopped candidate's mean is over the folds it was trained on" || notok "stopped means: $(cat "$W/out/tune/results.tsv")"
pm -q tune TUNE_BUDGET=4 TUNE_FOLDS=3 TUNE_STOP=-1 MODELS=baseline && ok "make tune with early stopping: then up to date" || notok "make tune -q: out of date after a run"
"$BIN/mkreport" -q --tune "$W/out/tune" -o "$W/tunerep/report.html" 2>"$W/err" && grep -q '<td>stopped after 1 fold</td>' "$W/tunerep/report.html" \
    && grep -q 'the 3 stopped early' "$W/tunerep/report.html" && ok "mkreport --tune: stopped candidates shown with the folds they had" \
    || notok "mkreport on stopped candidates: $(cat "$W/err")"
cp "$W/out/tune/results.tsv" "$W/tune1"; rm -rf "$W/out/tune"
pm -j2 tune TUNE_BUDGET=4 TUNE_FOLDS=3 TUNE_STOP=-1 MODELS=baseline >/dev/null 2>&1 && cmp -s "$W/tune1" "$W/out/tune/results.tsv" \
    && ok "make -j2 tune with early stopping: the same candidates stopped, the same bytes as -j1" || notok "make -j2 tune: $(diff "$W/tune1" "$W/out/tune/results.tsv")"
pm -n tune TUNE_BUDGET=4 TUNE_FOLDS=3 TUNE_STOP= MODELS=baseline >"$W/logn" 2>&1; [ "$(count cnntrain "$W/logn")" = 6 ] \
    && ok "make -n tune: without early stopping the stopped candidates' other folds would be trained (6), nothing else" || notok "make -n tune TUNE_STOP=: $(runs "$W/logn")"
[ "$(cut -f2 "$W/out/tune/scores/c02.tsv")" = stopped ] && ok "make -n tune writes nothing" || notok "make -n tune wrote $W/out/tune/scores/c02.tsv"
pm tune TUNE_BUDGET=4 TUNE_FOLDS=3 TUNE_STOP= MODELS=baseline >"$W/log" 2>&1 && [ "$(count cnntrain "$W/log")" = 6 ] \
    && [ "$(tail -n +2 "$W/out/tune/results.tsv" | cut -f8 | sort -u)" = done ] \
    && ok "make tune TUNE_STOP=: the stopped candidates finished (6 trainings), every candidate done" || notok "TUNE_STOP= after stopping: $(runs "$W/log") $(cat "$W/out/tune/results.tsv")"
pm -n tune TUNE_BUDGET=4 TUNE_FOLDS=3 TUNE_SPLIT_OPTS="--ratios 50/50/0" MODELS=baseline >"$W/logn" 2>&1
grep -q "splitset -q --folds 3 --ratios 50/50/0 .*/tune/trainval.tsv" "$W/logn" \
    && ok "make tune TUNE_SPLIT_OPTS: splitset options of the search's folds (a new value redoes them)" || notok "TUNE_SPLIT_OPTS: $(grep splitset "$W/logn")"
echo "--dropout 0.2" > "$W/recipe.opts"
pm -n all RECIPE="$W/recipe.opts" 2>&1 | grep -q -- "--threads 1 --dropout 0.2 " && ok "RECIPE=FILE: its options go to every cnntrain" \
    || notok "RECIPE not used: $(pm -n all RECIPE="$W/recipe.opts" 2>&1 | grep cnntrain | head -1)"
pm all RECIPE="$W/nothere.opts" >"$W/log" 2>&1 && notok "a missing RECIPE succeeded" || { grep -q "RECIPE=.*no such file" "$W/log" && ok "a missing RECIPE: a clear error" || notok "missing RECIPE: $(tail -2 "$W/log")"; }
rm -rf "$W/out/tune" "$W/out/tunefolds.opts"

# --- NORM=stats: the checkpoint carries train's per-band statistics, so raw recordings and scans work ---
S=$W/out-stats
pm all OUT="$S" NORM=stats MODELS=baseline >"$W/log" 2>&1; rc=$?
[ $rc = 0 ] && [ -s "$S/stats.npy" ] && [ -s "$S/eval/baseline/metrics.json" ] && ok "NORM=stats: the whole job" || notok "NORM=stats: rc=$rc $(tail -3 "$W/log")"
rec=$(sed -n 2p "$S/split/test.tsv" | cut -f1)
"$BIN/cnneval" "$S/models/baseline.safetensors" "$rec" >"$W/raw.tsv" 2>"$W/raw.err"; rc=$?
row=$(awk -F'\t' -v r="$rec" 'FNR == NR { if ($1 == r) want = $5; next } FNR > 1 && $3 == r { print FNR - 2 }' "$S/split/test.tsv" "$S/mels/test.tsv")
"$BIN/cnneval" "$S/models/baseline.safetensors" "$S/test.npy" -o "$W/stack-eval" >/dev/null 2>&1
[ $rc = 0 ] && [ -n "$row" ] && [ "$(tail -n 1 "$W/raw.tsv" | cut -f4-5)" = "$(awk -F'\t' -v i="$row" 'NR == i + 2' "$W/stack-eval/predictions.tsv" | cut -f3-4)" ] \
    && ok "NORM=stats: the checkpoint classifies a raw recording as it classified its stacked row" \
    || notok "NORM=stats raw: rc=$rc $(cat "$W/raw.err") raw: $(tail -n 1 "$W/raw.tsv") stack: $(awk -F'\t' -v i="$row" 'NR == i + 2' "$W/stack-eval/predictions.tsv")"
pm scan OUT="$S" NORM=stats MODELS=baseline SCAN="$W/long" >"$W/log" 2>&1 && [ -s "$S/scan/scores.tsv" ] \
    && ok "NORM=stats: make scan with that checkpoint" || notok "NORM=stats scan: $(tail -3 "$W/log")"
rm -rf "$S"

# --- errors and help ----------------------------------------------------------------------------------
pm DATA="$W/nothing" >"$W/log" 2>&1; rc=$?
[ $rc != 0 ] && grep -q "pipeline: error: $W/nothing: no such file or directory" "$W/log" && ok "missing DATA is a clear error" \
    || notok "missing DATA: rc=$rc $(cat "$W/log")"
printf 'file\tlabel\n' > "$W/nopath.tsv"
pmk DATA="$W/nopath.tsv" OUT="$W/out-nopath" >"$W/log" 2>&1; rc=$?
[ $rc != 0 ] && grep -q "pipeline: error: $W/nopath.tsv: no path column" "$W/log" && ok "a list without a path column is a clear error" \
    || notok "no path column: rc=$rc $(cat "$W/log")"
{ printf 'path\tlabel\n'; printf '%s\tcat\n' "$D/cat/cat_1.wav" "$D/cat/cat_2.wav" "$D/cat/cat_1.wav"; } > "$W/twice.tsv"
pmk DATA="$W/twice.tsv" OUT="$W/out-twice" >"$W/log" 2>&1; rc=$?
[ $rc != 0 ] && grep -q "pipeline: error: $D/cat/cat_1.wav: listed twice" "$W/log" && [ ! -e "$W/out-twice" ] \
    && ok "a recording listed twice is a clear error, before anything is made" || notok "listed twice: rc=$rc $(cat "$W/log")"
pmk help >"$W/help" 2>&1
for w in all split mels features train evaluate check clean DATA= OUT= MEL_OPTS= FRAMES= MODELS= TRAIN_OPTS= TRAIN_OPTS_ ARCH_ SKIP_BAD=; do
    grep -q -- "$w" "$W/help" || { notok "make help does not mention $w"; continue; }
done
ok "make help lists the targets and variables"
pm clean >/dev/null 2>&1; [ ! -e "$W/out" ] && ok "make clean removes the outputs" || notok "clean left $W/out"
