# make all ANNOTATIONS=...: annotated field recordings end to end. Twelve 60-s soundscapes (drifting noise,
# bird and frog calls every 3-8 s, some overlapping, unannotated clicks; tests/cli/soundscape.py) with their
# Raven tables (splits grouped by site, so that they do not depend on the temporary folder): windows, stacks with (N, K) targets, a multi-label model with a background class, the test
# windows' metrics, per-class thresholds from val, the test recordings scanned and scored against their
# annotations, the report. The counts must be within 20% of the annotated calls, while a closed-set model
# trained on clips of the same calls (softmax over bird and frog: every window must be one of them) over-
# counts by more than 20% on the same recordings. Then rebuilds (make -q, a touched table) and bad input.
. "$(dirname "$0")/lib.sh"
ROOT=$(cd "$TESTS/.." && pwd)
[ -x "${PY:-}" ] && "$PY" -c 'import numpy' 2>/dev/null || { skip "soundscape: Python with numpy makes the recordings"; exit 0; }
command -v sox >/dev/null || { skip "soundscape: sox cuts the clips of the closed-set model"; exit 0; }
"$PY" "$TESTS/cli/soundscape.py" "$W/field recordings" 12 60 3 3 8 || { notok "making the soundscapes"; exit 0; }
A="$W/field recordings"
FAST=(SPLIT_OPTS="--group '^(site[0-9]+)'" MEL_OPTS="--sr 16000 --n-mels 32" WINDOW=0.5 WINDOW_OPTS="--step 0.25" BACKGROUND=noise TRAIN_OPTS="--epochs 15 --batch 32 --threads 2")
pmk() { make --no-print-directory -C "$ROOT" -f pipeline.mk BIN="$BIN" "$@"; }
pa() { pmk ANNOTATIONS="$A" OUT="$W/o" "${FAST[@]}" "$@"; }
O=$W/o

if pa all >"$W/all.log" 2>&1; then ok "make all ANNOTATIONS=folder of recordings with Raven tables"
else notok "make all: $(tail -n 5 "$W/all.log")"; exit 0; fi
[ "$(cut -f2 "$O/split/classes.tsv" | tr '\n' ' ')" = "name bird frog noise " ] && ok "classes: the labels and the background class" \
    || notok "classes.tsv: $(cat "$O/split/classes.tsv")"
# every recording cut into 0.5-s windows every 0.25 s: (60 - 0.5) / 0.25 + 1 = 239 each, each recording in one split
n=0; for s in train val test; do n=$((n + $(wc -l < "$O/split/$s.tsv") - 1)); done
dup=$(for s in train val test; do tail -n +2 "$O/split/$s.tsv" | cut -f1 | uniq; done | sort | uniq -d | wc -l)
[ "$n" = $((12 * 239)) ] && [ "$dup" = 0 ] && ok "12 x 239 windows, every recording in one split" || notok "windows: $n, $dup recordings in two splits"
"$PY" - "$O" "$A" <<'P' && ok "window labels = the selections overlapping them by half (or background); stacks (N, 1, 32, 32) with (N, 3) uint8 targets" || notok "windows, labels or stacks differ"
import csv, glob, os, sys, numpy as np
out, ann = sys.argv[1], sys.argv[2]
sel = {}
for t in glob.glob(ann + "/*.Table.1.selections.txt"):
    rows = list(csv.DictReader(open(t), delimiter="\t"))
    sel[t.replace(".Table.1.selections.txt", ".wav")] = [(float(r["Begin Time (s)"]), float(r["End Time (s)"]), r["Annotation"]) for r in rows]
for s in ("train", "val", "test"):
    rows = list(csv.DictReader(open(f"{out}/split/{s}.tsv"), delimiter="\t"))
    y = np.load(f"{out}/{s}-labels.npy")
    x = np.load(f"{out}/{s}.npy", mmap_mode="r")
    assert y.dtype == np.uint8 and y.shape == (len(rows), 3) and x.shape == (len(rows), 1, 32, 32), (y.shape, x.shape)
    for i, r in enumerate(rows):
        a, b = float(r["start"]), float(r["end"])
        want = {lab for (s0, e0, lab) in sel[r["path"]] if min(b, e0) - max(a, s0) > 0 and min(b, e0) - max(a, s0) >= 0.5 * min(e0 - s0, b - a) - 1e-9}
        got = {c for c in ("bird", "frog") if r[c] == "1"}
        assert got == want, (r, want)
        assert (r["noise"] == "1") == (not want)
        assert list(y[i]) == [int(r["bird"]), int(r["frog"]), int(r["noise"])]
P
grep -q '"multilabel":"1"\|multilabel' "$O/models/baseline.safetensors" && ok "the checkpoint is multi-label" || notok "no multilabel in the checkpoint's metadata"
[ -s "$O/eval/baseline/metrics.json" ] && [ "$(head -n 1 "$O/eval/baseline/thresholds.tsv")" = $'class\tthreshold\tf1' ] \
    && ok "test windows evaluated; per-class thresholds from val" || notok "eval: $(ls "$O/eval/baseline")"
# counts: the multi-label model within 20% of the annotated calls of the test recordings
read -r ann det mat < <(awk -F'\t' '$1 == "*" { a += $3; d += $4; m += $5 } END { print a, d, m }' "$O/detect/baseline/detection.tsv")
ntest=$(tail -n +2 "$O/split/test.tsv" | cut -f1 | uniq | wc -l)
[ "$(grep -c '^[^*r]' "$O/detect/baseline/detection.tsv")" = $((ntest * 2)) ] && ok "detection.tsv: every test recording, bird and frog (not the background)" \
    || notok "detection rows: $(cat "$O/detect/baseline/detection.tsv")"
[ "$ann" -gt 0 ] && [ $(( (det - ann) * (det - ann) * 25 )) -le $((ann * ann)) ] && [ $((mat * 10)) -ge $((ann * 8)) ] \
    && ok "multi-label with a background class: $det calls detected, $ann annotated, $mat matched (within 20%)" \
    || notok "multi-label counts: $det detected, $ann annotated, $mat matched"
grep -q '<h3>Detection against the annotations</h3>' "$O/report.html" && [ -s "$O/figures/scan-001.png" ] \
    && ok "the report: detection scores and timelines of the test recordings" || notok "report: no detection section"

# the closed-set model: clips of the calls of the train and val recordings (windows with exactly one of the
# two), the same front end and training, softmax over bird and frog, the same test recordings scanned
mkdir -p "$W/clips/bird" "$W/clips/frog"
cat "$O/split/train.tsv" "$O/split/val.tsv" | awk -F'\t' '$1 != "path" && ($4 == 1) != ($5 == 1) { print $1 "\t" $2 "\t" ($4 == 1 ? "bird" : "frog") }' |
    while IFS=$'\t' read -r p s c; do b=${p##*/}; sox "$p" "$W/clips/$c/${b%.wav}_$s.wav" trim "$s" 0.5 2>/dev/null; done
if pmk DATA="$W/clips" OUT="$W/clipout" MEL_OPTS="--sr 16000 --n-mels 32" FRAMES=32 TRAIN_OPTS="--epochs 15 --batch 32 --threads 2" \
       SPLIT_OPTS="--ratios 80/20/0" train >"$W/clips.log" 2>&1; then ok "a closed-set model on clips of the same calls"
else notok "clips model: $(tail -n 3 "$W/clips.log")"; fi
mapfile -t tests < <(tail -n +2 "$O/split/test.tsv" | cut -f1 | uniq)
check "closed-set model: the same test recordings scored" "$BIN/cnneval" --scan -q --classes bird,frog --annotations "$A" -o "$W/clipscan" \
    "$W/clipout/models/baseline.safetensors" -- "${tests[@]}"
read -r cann cdet cmat < <(awk -F'\t' '$1 == "*" { a += $3; d += $4; m += $5 } END { print a, d, m }' "$W/clipscan/detection.tsv")
[ "$cann" = "$ann" ] && [ $((cdet * 10)) -gt $((cann * 12)) ] \
    && ok "without a background class the closed-set model over-counts: $cdet detected for $cann annotated ($cmat matched)" \
    || notok "closed-set counts: $cdet detected, $cann annotated, $cmat matched"

# rebuilds: nothing to do; a touched table redoes the split and what follows; a new WINDOW_OPTS too
pa -q all && ok "make -q: up to date" || notok "make -q all: not up to date after make all"
touch "$A/site03.Table.1.selections.txt"
pa -n all >"$W/n.log" 2>&1
grep -q "splitset" "$W/n.log" && ok "a touched table redoes the split" || notok "touched table: $(head -c 300 "$W/n.log")"
pa -n all WINDOW_OPTS="--step 0.5" >"$W/n2.log" 2>&1
grep -q -- "--step 0.5" "$W/n2.log" && ok "new WINDOW_OPTS redo the windows" || notok "WINDOW_OPTS: $(head -c 300 "$W/n2.log")"

# bad input: make stops with a line naming the problem, nothing made
make_error() { # name, regex, command...
    local name=$1 re=$2; shift 2
    "$@" >"$W/log" 2>&1 && { notok "$name: make succeeded"; return; }
    grep -Eq "$re" "$W/log" && ok "$name" || notok "$name: $(tail -n 2 "$W/log" | head -c 300)"
}
make_error "ANNOTATIONS that do not exist" "pipeline: error: .*/nope: no such file or directory" pmk ANNOTATIONS="$W/nope" OUT="$W/bad" all
make_error "make cv with ANNOTATIONS" "pipeline: error: make cv goes with DATA" pa cv
make_error "NORM=stats with ANNOTATIONS" "pipeline: error: NORM=stats does not go with ANNOTATIONS" pa NORM=stats all
mkdir -p "$W/two" && cp "$A/site00.wav" "$A/site00.Table.1.selections.txt" "$A/site01.wav" "$A/site01.Table.1.selections.txt" "$W/two/"
make_error "too few recordings for the splits" "pipeline: error: .*/split/(val|test).tsv: no windows in the (val|test) split" pmk ANNOTATIONS="$W/two" OUT="$W/bad2" "${FAST[@]}" split
printf '%s\t%s\n' 'Begin Time (s)' 'End Time (s)' >"$W/two/site01.Table.1.selections.txt"; printf '1\t70\n' >>"$W/two/site01.Table.1.selections.txt"
make_error "a bad table: its name and line" "splitset: error: .*site01.Table.1.selections.txt: line 1: no label column 'Annotation'" pmk ANNOTATIONS="$W/two" OUT="$W/bad3" "${FAST[@]}" split
no_partial "nothing split" "$W/bad3/split/train.tsv"
