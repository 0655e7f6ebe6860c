#!/usr/bin/env bash
# mkreport from the command line: a report of tone data made here (3 classes x 8 tones, two models
# trained for a few epochs, cnneval outputs, scan results written to cnneval's contract), every figure
# inlined as SVG (each parses, has its size, its ids unique in the page and its references resolved)
# and written as a PNG, sound clips (one per gallery tile, per-class example and first scan events;
# every Ogg page's serial and CRC checked; none with --no-audio, same figures), escaping of a hostile
# class name, the pipeline-folder layout, same bytes twice, one-line errors with nothing written; the
# cross-validation and recipe-search sections of real make cv FOLDS=3 / make tune outputs (numbers against
# their TSVs and the folds' metrics.json, strict inputs); then
# the page in headless Chromium: it loads, every figure renders at its size, every clip decodes; a
# screenshot is kept.
. "$(dirname "$0")/lib.sh"
cd "$W" || exit 1
B=$BIN
command -v sox >/dev/null || { skip "mkreport tests: sox is needed to make test audio"; exit 0; }

# ---- fixtures: tone splits, two checkpoints with histories, evaluations ------------------------------------
mkdata() {
    make_tone_splits || return 1
    $B/cnntrain -q --threads 1 --epochs 3 --batch 8 --train train.npy --val val.npy --classes split/classes.tsv \
        --frontend "--n-mels 32 | --frames 32" --history base.history -o base.safetensors || return 1
    $B/cnntrain -q --threads 1 --epochs 1 --seed 7 --train train.npy --classes split/classes.tsv --history weak.history \
        -o weak.safetensors || return 1
    $B/cnneval -q base.safetensors test.npy -o ev-base || return 1
    $B/cnneval -q weak.safetensors test.npy -o ev-weak
}
mkdata 2>data.err || { notok "making the test data and checkpoints: $(head -c 300 data.err)"; exit 0; }
ntest=$(($(wc -l < split/test.tsv) - 1))
# scan results as cnneval --scan -o DIR writes them (file, start, end, one probability per class; file, class, count)
mkdir scan
{ printf 'file\tstart\tend\tcat\tdog\towl\n'
  for f in long1.wav long2.wav; do for i in 0 1 2 3 4 5 6 7 8 9; do
      awk -v f=$f -v i=$i 'BEGIN { a = (i % 4) / 4; printf "%s\t%.3f\t%.3f\t%.6f\t%.6f\t%.6f\n", f, i, i + 2, a, (1 - a) / 2, (1 - a) / 2 }'
  done; done; } > scan/scores.tsv
printf 'file\tclass\tcount\nlong1.wav\tcat\t2\nlong1.wav\tdog\t0\nlong1.wav\towl\t0\nlong2.wav\tcat\t3\nlong2.wav\tdog\t1\nlong2.wav\towl\t0\n' > scan/results.tsv
echo 0.6 > scan/threshold
# the scanned recordings (12 s each): windows 3 and 7 are above the threshold for cat, two events each
sox -n -r 16000 -c 1 long1.wav synth 12 sine 440 2>/dev/null; sox -n -r 16000 -c 1 long2.wav synth 12 sine 660 2>/dev/null
PYTHON=$([ -x "${PY:-}" ] && echo "$PY" || command -v python3)
# page_check PAGE: every inlined figure against its PNG file (FIGDIR), ids, references; every clip's Ogg pages
page_check() { # PAGE FIGDIR -> prints "figures N clips M" or "bad: why"
    "$PYTHON" - "$1" "$2" <<'PYEOF'
import base64, re, struct, sys, os
import xml.etree.ElementTree as ET
page, figdir = sys.argv[1], sys.argv[2]
html = open(page, encoding="utf-8").read()
bad = []
svgs = re.findall(r'<svg class="figure".*?</svg>', html, re.S)
ids_all = []
for s in svgs:
    try:
        root = ET.fromstring(s)
    except ET.ParseError as e:
        bad.append(f"svg does not parse: {e}"); continue
    name = root.get("data-file")
    w, h = root.get("data-w"), root.get("data-h")
    if root.tag != "{http://www.w3.org/2000/svg}svg" or root.get("width") != f"{w}px" or root.get("height") != f"{h}px" \
            or root.get("viewBox") != f"0 0 {w} {h}":
        bad.append(f"{name}: size attributes {root.get('width')} {root.get('height')} {root.get('viewBox')} vs {w}x{h}")
    png = open(os.path.join(figdir, name), "rb").read()
    pw, ph = struct.unpack(">II", png[16:24])
    if (str(pw), str(ph)) != (w, h):
        bad.append(f"{name}: svg {w}x{h}, png {pw}x{ph}")
    ids = [e.get("id") for e in root.iter() if e.get("id")]
    ids_all += ids
    refs = re.findall(r'(?:href="#|url\(#)([^")]*)', s)
    missing = [r for r in refs if r not in ids]
    if missing or not refs:
        bad.append(f"{name}: {len(refs)} references, unresolved {missing[:3]}")
if len(set(ids_all)) != len(ids_all):
    bad.append("ids repeated across figures")
def crc(b):
    c = 0
    for x in b:
        c ^= x << 24
        for _ in range(8):
            c = ((c << 1) ^ 0x04c11db7) & 0xffffffff if c & 0x80000000 else (c << 1) & 0xffffffff
    return c
clips = re.findall(r'<audio id="clip-(\d+)" preload="none" src="data:audio/ogg;base64,([^"]*)"', html)
for n, b64 in clips:
    b, at, pages = base64.b64decode(b64), 0, 0
    while at < len(b):
        if b[at:at + 4] != b"OggS":
            bad.append(f"clip {n}: no page at {at}"); break
        size = 27 + b[at + 26] + sum(b[at + 27:at + 27 + b[at + 26]])
        pg = bytearray(b[at:at + size])
        serial, stored = struct.unpack("<I", pg[14:18])[0], struct.unpack("<I", pg[22:26])[0]
        pg[22:26] = b"\0\0\0\0"
        if serial != int(n) + 1 or crc(pg) != stored:
            bad.append(f"clip {n}: page {pages} serial {serial} crc {stored:08x} vs {crc(pg):08x}"); break
        at += size; pages += 1
    if b[:4] != b"OggS" or b"vorbis" not in b[:64]:
        bad.append(f"clip {n}: not Ogg Vorbis")
spots = len(re.findall(r'<button class="spot"', html))
if spots != len(clips):
    bad.append(f"{spots} buttons, {len(clips)} clips")
print("bad: " + "; ".join(bad[:5]) if bad else f"figures {len(svgs)} clips {len(clips)}")
PYEOF
}

MODELS=(-m base=base.safetensors,base.history,ev-base -m weak.safetensors,weak.history,ev-weak)
ARGS=(--split split "${MODELS[@]}" --test test.npy --test-list split/test.tsv --scan scan)

# ---- a full report -------------------------------------------------------------------------------------------
$B/mkreport "${ARGS[@]}" -o r1/report.html 2>r1.err; rc=$?
[ $rc = 0 ] && [ -s r1/report.html ] && ok "mkreport: exit 0, report written" || notok "mkreport: rc=$rc $(head -c 300 r1.err)"
[ "$(wc -l < r1.err)" = 1 ] && grep -Eq '^mkreport: r1/report.html: 2 models, [0-9]+ figures in r1/figures, [0-9]+ sound clips$' r1.err \
    && ok "one summary line on stderr" || notok "summary: $(cat r1.err)"
nfig=$(ls r1/figures/*.png 2>/dev/null | wc -l)
# 2 data + 3 examples + per model curves, confusion, confidence, 2 galleries + 2 scan timelines
[ "$nfig" = 17 ] && ok "17 figures written as PNG files" || notok "figures: $nfig ($(ls r1/figures | tr '\n' ' '))"
nsvg=$(grep -o '<svg class="figure"' r1/report.html | wc -l)
[ "$nsvg" = "$nfig" ] && [ "$(grep -c '<img' r1/report.html)" = 0 ] && ok "as many inlined SVG figures as figure files ($nsvg)" \
    || notok "inlined $nsvg, files $nfig"
miss=""
for f in r1/figures/*.png; do grep -qF "data-file=\"$(basename "$f")\"" r1/report.html || miss="$miss $(basename "$f")"; done
[ -z "$miss" ] && ok "every figure file has its figure in the page" || notok "not in the page:$miss"
# clips: 3 examples, per model 2 galleries of every test sample (fewer than --gallery's 25), 2 events x 2 recordings
nclips_want=$((3 + 2 * 2 * ntest + 4))
res=$(page_check r1/report.html r1/figures)
[ "$res" = "figures $nfig clips $nclips_want" ] \
    && ok "every SVG parses, is as large as its PNG (width, height, viewBox), has page-unique ids and resolved references; $nclips_want clips, each a button, every Ogg page with its clip's serial and a valid CRC" \
    || notok "page check: $res (want figures $nfig clips $nclips_want)"
grep -Eq "^mkreport: r1/report.html: 2 models, $nfig figures in r1/figures, $nclips_want sound clips\$" r1.err \
    && ok "the summary line counts the clips" || notok "summary: $(cat r1.err)"
if grep -Eq '<(link|iframe|object|embed|img)\b|(src|href)="(https?:|//|file:)|url\([^#]' r1/report.html; then notok "external resources referenced"
else ok "self-contained: no external resource"; fi
for id in data models curves model-1 model-2 settings scan; do
    grep -q "<section id=\"$id\">" r1/report.html || { notok "section $id missing"; continue; }
done
ok "sections: data, models, curves, two evaluations, settings, scan"
head -1 r1/report.html | grep -q '<!DOCTYPE html>' && tail -1 r1/report.html | grep -q '</html>' && ok "a whole HTML document" \
    || notok "document start/end"
grep -q '<td><a href="#model-1">base</a></td><td>baseline</td><td>1x32x32</td>' r1/report.html && grep -q '#model-2">weak</a>' r1/report.html \
    && ok "comparison table: names given and from the checkpoint's file name, architecture, input shape" || notok "comparison table"
grep -q "cnneval --scan results" r1/report.html && grep -q "detection threshold 0.6" r1/report.html && grep -q '<td>long2.wav</td><td class="n">3</td><td class="n">1</td>' r1/report.html \
    && ok "scan: threshold from DIR/threshold, counts per recording and class" || notok "scan section"
# the misclassified list of the weak model is its wrong rows
nwrong=$(awk -F'\t' 'NR > 1 && $2 != $3' ev-weak/predictions.tsv | wc -l)
shown=$(sed -n '/<section id="model-2">/,/<\/section>/p' r1/report.html | sed -n '/<h3>Misclassified/,$p' | grep -c '<tr class="wrong">')
[ "$shown" = "$nwrong" ] && ok "misclassified list: the $nwrong wrong predictions of the weak model" || notok "misclassified: $shown shown, $nwrong wrong"
grep -q "<code>--n-mels 32 | --frames 32</code>" r1/report.html && ok "settings: the recorded front end" || notok "front end not shown"

# ---- same bytes twice; the seed changes the random gallery only -------------------------------------------------
$B/mkreport -q "${ARGS[@]}" -o r2/report.html --figures r2/figs 2>r2.err
cmp -s r1/report.html r2/report.html && diff -r r1/figures r2/figs >/dev/null && ok "same inputs: identical page and figures" \
    || notok "second run differs: $(cmp r1/report.html r2/report.html | head -1)"
[ ! -s r2.err ] && ok "-q: nothing on stderr" || notok "-q: $(cat r2.err)"
# the random gallery: 5 of the 18 training samples, other samples with another seed
$B/cnneval -q base.safetensors train.npy -o ev-train
picked() { sed -n '/random test predictions/,/<\/details>/p' "$1" | grep -o '<tr class="[a-z]*"><td>[^<]*' | sed 's/.*<td>//' | tr '\n' ' '; }
for s in 42 5; do $B/mkreport -q -m base.safetensors,,ev-train --test train.npy --gallery 5 --seed $s -o seed$s/report.html; done
a=$(picked seed42/report.html); b=$(picked seed5/report.html)
[ "$(echo $a | wc -w)" = 5 ] && [ "$a" != "$b" ] && cmp -s seed42/figures/base-least-confident.png seed5/figures/base-least-confident.png \
    && ok "--seed picks other random samples ($a/ $b), the same least confident ones" || notok "--seed: '$a' '$b'"
# sound: --no-audio leaves every clip out and changes no figure; --scan-audio N events per recording;
# a manifest as the test list gives each tile the part of the recording its spectrogram came from
$B/mkreport -q "${ARGS[@]}" --no-audio -o na/report.html
! grep -q '<audio\|data:audio\|class="spot"' na/report.html && [ "$(page_check na/report.html na/figures)" = "figures $nfig clips 0" ] \
    && diff -r r1/figures na/figures >/dev/null && ok "--no-audio: no clip, no button; the same figure files" || notok "--no-audio"
echo "with sound $(wc -c < r1/report.html) bytes, without $(wc -c < na/report.html)" > sizes.txt
$B/mkreport -q "${ARGS[@]}" --scan-audio 1 -o s1/report.html && $B/mkreport -q "${ARGS[@]}" --scan-audio 0 -o s0/report.html
[ "$(page_check s1/report.html s1/figures)" = "figures $nfig clips $((nclips_want - 2))" ] \
    && [ "$(page_check s0/report.html s0/figures)" = "figures $nfig clips $((nclips_want - 4))" ] \
    && ok "--scan-audio 1 / 0: one / no event per recording plays" || notok "--scan-audio"
mv long2.wav long2.away
$B/mkreport -q "${ARGS[@]}" -o gone2/report.html 2>gone2.err && [ "$(page_check gone2/report.html gone2/figures)" = "figures $nfig clips $((nclips_want - 2))" ] \
    && grep -q 'Events not playable: long2.wav: ' gone2/report.html \
    && ok "a scanned recording that is gone: its events silent, said on the page" || notok "missing scan recording: $(head -c 300 gone2.err)"
mv long2.away long2.wav
$B/mkreport -q -m base.safetensors,,ev-base --test test.npy --test-list mels/test.tsv --gallery 2 -o man/report.html 2>man.err \
    && [ "$(page_check man/report.html man/figures)" = "figures 4 clips 4" ] \
    && ok "test list from a manifest (source, start, end): a clip per tile" || notok "manifest test list: $(head -c 300 man.err)"
$B/mkreport -q "${ARGS[@]}" --no-figures --gallery 0 -o r4/report.html && [ ! -e r4/figures ] && ! grep -q 'least-confident' r4/report.html \
    && ok "--no-figures writes the page only; --gallery 0 leaves galleries out" || notok "--no-figures/--gallery 0"
$B/mkreport -q -m base.safetensors -o r5.html && [ -s r5.html ] && [ -e figures ] \
    && ok "a checkpoint alone is enough; figures beside the page by default" || notok "checkpoint alone"

# ---- escaping: a class named <b>&"x in every table the page shows ------------------------------------------------
EVIL='<b>&"x'
mkdir -p evil/split evil/ev
cp split/*.tsv evil/split/
awk -F'\t' -v OFS='\t' -v e="$EVIL" 'NR > 1 && $2 == "owl" { $2 = e } 1' split/classes.tsv > evil/split/classes.tsv
awk -F'\t' -v OFS='\t' -v e="$EVIL" 'NR == 1 { $7 = "p_" e } NR > 1 { if ($2 == "owl") $2 = e; if ($3 == "owl") $3 = e } 1' \
    ev-weak/predictions.tsv > evil/ev/predictions.tsv
$B/mkreport -q --split evil/split -m weak.safetensors,,evil/ev --test test.npy -o evil/report.html 2>evil.err \
    && grep -q '&lt;b&gt;&amp;&quot;x' evil/report.html && ! grep -qF "$EVIL" evil/report.html && ! grep -q '<b>' evil/report.html \
    && ok "a class named $EVIL is escaped everywhere" || notok "escaping: $(head -c 200 evil.err)"

# ---- a pipeline output folder ---------------------------------------------------------------------------------------
mkdir -p pipe/models pipe/eval
cp -r split pipe/split; cp test.npy test-labels.npy pipe/; cp -r scan pipe/scan
cp base.safetensors pipe/models/baseline.safetensors; cp base.safetensors pipe/models/baseline.state.safetensors
cp base.history.tsv pipe/models/baseline.history.tsv; cp -r ev-base pipe/eval/baseline
$B/mkreport pipe/ 2>pipe.err; rc=$?
[ $rc = 0 ] && [ -s pipe/report.html ] && [ -s pipe/figures/baseline-confusion.png ] && grep -q '<title>audiocnn report: pipe</title>' pipe/report.html \
    && [ "$(grep -c '<section id="model-' pipe/report.html)" = 1 ] && grep -q '<section id="scan">' pipe/report.html \
    && grep -q 'baseline-least-confident.png' pipe/report.html && grep -q 'baseline-curves.png' pipe/report.html \
    && ok "mkreport OUTDIR: split, models (state files skipped), history, eval, test data, scan found; OUTDIR/report.html" \
    || notok "OUTDIR: rc=$rc $(head -c 300 pipe.err)"
test_name=$(sed -n 2p split/test.tsv | cut -f1); test_name=${test_name##*/}
grep -q ">$test_name<" pipe/report.html && ok "gallery and misclassified names from split/test.tsv ($test_name)" || notok "test sample names"

# ---- cross-validation and the recipe search: make cv FOLDS=3 and make tune on the tone data ------------------------
ROOT=$(cd "$TESTS/.." && pwd)
pmk() { make --no-print-directory -C "$ROOT" -f pipeline.mk BIN="$B" DATA="$W/data" OUT="$W/pout" MEL_OPTS="--n-mels 32" FRAMES=32 \
            TRAIN_OPTS="--epochs 2 --threads 1" MODELS="baseline small" ARCH_small=baseline TRAIN_OPTS_small="--dropout 0.1" "$@"; }
if pmk cv FOLDS=3 >cv.log 2>&1 && pmk tune TUNE_BUDGET=3 TUNE_FOLDS=2 >>cv.log 2>&1; then
    CV=pout/cv TU=pout/tune
    $B/mkreport --cv $CV --tune $TU -o cvr/report.html 2>cvr.err; rc=$?
    [ $rc = 0 ] && grep -q '<section id="cv">' cvr/report.html && grep -q '<section id="tune">' cvr/report.html \
        && grep -Eq '^mkreport: cvr/report.html: 0 models, 4 figures in cvr/figures, 0 sound clips$' cvr.err \
        && [ "$(ls cvr/figures | tr '\n' ' ')" = "cv-accuracy.png cv-baseline-confusion.png cv-macro-f1.png cv-small-confusion.png " ] \
        && ok "mkreport --cv --tune: both sections, 4 figures (accuracy and macro F1 per fold, a pooled confusion matrix per model)" \
        || notok "mkreport --cv --tune: rc=$rc $(head -c 300 cvr.err) $(ls cvr/figures 2>&1 | tr '\n' ' ')"
    sect() { sed -n "/<section id=\"$1\">/,/<\/section>/p" cvr/report.html; }
    # summary: per model "mean &plusmn; std" of accuracy, macro F1, loss exactly as summary.tsv has them
    want=$(awk -F'\t' 'NR > 1 { printf "%s %s %s+-%s %s+-%s %s+-%s\n", $1, $2, $3, $4, $5, $6, $7, $8 }' $CV/summary.tsv)
    got=$(sect cv | sed -n '/<th>model<\/th><th>folds<\/th>/,/<\/table>/p' | grep '^<tr><td>' \
        | sed -E 's/<td class="n( best)?">/ /g; s/<[^>]*>/ /g; s/ &plusmn; /+-/g' | tr -s ' ' | sed 's/^ //; s/ $//')
    [ -n "$want" ] && [ "$got" = "$want" ] && ok "cv: mean +- std of accuracy, macro F1 and loss per model = summary.tsv" \
        || notok "cv summary: got '$got' want '$want'"
    # per fold: fold, then accuracy, macro F1, loss of each model to 4 decimals = results.tsv
    want=$(awk -F'\t' 'NR > 1 { v[$2] = v[$2] sprintf(" %.4f %.4f %.4f", $3, $4, $5) } END { for (k = 1; k <= 3; k++) print k v[k] }' $CV/results.tsv)
    got=$(sect cv | sed -n '/<h3>Per fold/,/<\/table>/p' | grep '^<tr><td class="n">' | sed -E 's/<[^>]*>/ /g' | tr -s ' ' | sed 's/^ //; s/ $//')
    [ "$got" = "$want" ] && ok "cv: the per-fold table = results.tsv (3 folds x 2 models)" || notok "cv per fold: got '$got' want '$want'"
    # pooled confusion matrices = the sum of the folds' metrics.json matrices
    want=$("$PYTHON" - $CV <<'PYEOF'
import json, sys
for m in ("baseline", "small"):
    tot = None
    for k in (1, 2, 3):
        cm = json.load(open(f"{sys.argv[1]}/fold{k}/eval/{m}/metrics.json"))["confusion_matrix"]
        tot = cm if tot is None else [[a + b for a, b in zip(r, s)] for r, s in zip(tot, cm)]
    print(m, " ".join(" ".join(map(str, r)) for r in tot), sum(map(sum, tot)))
PYEOF
)
    got=$(for m in baseline small; do printf '%s ' $m; sect cv | sed -n "/<summary>$m: as a table/,/<\/table>/p" | grep '^<tr><th>' \
        | sed -E 's/<th>[^<]*<\/th>//; s/<[^>]*>/ /g' | tr -s ' \n' '  ' | sed 's/^ //'; echo; done | sed 's/ $//')
    got=$(echo "$got" | awk '{ s = 0; for (i = 2; i <= NF; i++) s += $i; print $0, s }')
    [ -n "$want" ] && [ "$got" = "$want" ] && [ "$(echo "$want" | awk 'NR == 1 { print $NF }')" = 24 ] \
        && ok "cv: pooled confusion matrices = the sum of the 3 folds' (24 recordings each)" || notok "cv pooled: got '$got' want '$want'"
    want=$(awk -F'\t' 'NR > 1 { printf "%s %s %s %s+-%s %s %s %s\n", $1, $2, $3, $4, $5, $6, $7, $8 }' $CV/paired.tsv)
    got=$(sect cv | sed -n '/<h3>Paired comparison/,/<\/table>/p' | grep '^<tr><td>' | sed -E 's/<[^>]*>/ /g; s/ &plusmn; /+-/g' \
        | tr -s ' ' | sed 's/^ //; s/ $//')
    [ -n "$want" ] && [ "$got" = "$want" ] && ok "cv: the paired comparison = paired.tsv" || notok "cv paired: got '$got' want '$want'"
    # the recipe search: rows by rank, the chosen recipe = recipe.opts
    want=$(awk -F'\t' 'NR > 1 { print $NF, $1 }' $TU/results.tsv | sort -n | tr '\n' ' ')
    got=$(sect tune | grep -E '^<tr><td class="n">' | sed -E 's/^<tr><td class="n">([0-9]+)<\/td><td>([^<]*)<.*/\1 \2/' | tr '\n' ' ')
    best=$(awk -F'\t' 'NR > 1 && $NF == 1 { print $1 }' $TU/results.tsv)
    [ "$(echo $got | wc -w)" = 6 ] && [ "$got" = "$want" ] && sect tune | grep -qF "</code>): $best, <code>$(cat $TU/recipe.opts)</code>" \
        && ok "tune: candidates by rank ($got), the chosen recipe = recipe.opts ($best)" || notok "tune: got '$got' want '$want'"
    $B/mkreport -q --cv $CV --tune $TU -o cvr2/report.html && cmp -s cvr/report.html cvr2/report.html && diff -r cvr/figures cvr2/figures >/dev/null \
        && ok "cv and tune: the same bytes twice" || notok "cv report not deterministic"
    res=$(page_check cvr/report.html cvr/figures)
    [ "$res" = "figures 4 clips 0" ] && ok "cv page: every SVG parses, as large as its PNG, unique ids" || notok "cv page check: $res"
    $B/mkreport -q pout/ 2>pout.err && grep -q '<section id="cv">' pout/report.html && grep -q '<section id="tune">' pout/report.html \
        && ok "mkreport OUTDIR: OUTDIR/cv and OUTDIR/tune found" || notok "OUTDIR cv/tune: $(head -c 300 pout.err)"
    # strict inputs: one line naming the file, exit 1, nothing written
    cvbad() { # NAME REGEX then a command that breaks the copy in cvb/ (cv) and tub/ (tune)
        local name=$1 re=$2; shift 2
        rm -rf cvb tub bad; cp -r $CV cvb; cp -r $TU tub; "$@"
        expect_error "$name" "$re" 1 $B/mkreport --cv cvb --tune tub -o bad/report.html
        [ ! -e bad ] && ok "nothing written after: $name" || notok "left behind after $name"
    }
    cvbad "cv: a missing column" "cvb/summary.tsv: no column 'loss_std' \\(needs model, folds, " sh -c "cut -f1-7 $CV/summary.tsv > cvb/summary.tsv"
    cvbad "cv: a summary that is not the results' mean" "cvb/summary.tsv: line 2: accuracy_mean 0.9999, but cvb/results.tsv gives" \
        sed -i '2s/^\([^\t]*\t[^\t]*\t\)[^\t]*/\10.9999/' cvb/summary.tsv
    cvbad "cv: a fold twice" "cvb/results.tsv: line 3: model 'baseline', fold 1 twice" sed -i '3s/\t2\t/\t1\t/' cvb/results.tsv
    cvbad "cv: a fold whose classes differ" "cvb/fold2/eval/small/metrics.json: class 2 is 'bird', but cvb/fold1/eval/baseline/metrics.json's is 'owl'" \
        sed -i 's/"name": "owl"/"name": "bird"/' cvb/fold2/eval/small/metrics.json
    cvbad "cv: a fold's metrics.json missing" "cvb/fold3/eval/small/metrics.json: " rm cvb/fold3/eval/small/metrics.json
    more_ties() { awk -F'\t' -v OFS='\t' 'NR == 2 { $8 = $8 + 1 } 1' $CV/paired.tsv > cvb/paired.tsv; }
    cvbad "cv: paired.tsv with another count of ties" "cvb/paired.tsv: line 2: baseline vs small: 3 folds, wins [0-9]+ and [0-9]+, [0-9]+ ties, but" more_ties
    cvbad "tune: recipe.opts not the options of rank 1" "tub/recipe.opts: '--lr 1' is not the options of rank 1 in tub/results.tsv" \
        sh -c 'echo "--lr 1" > tub/recipe.opts'
    rank_twice() { awk -F'\t' -v OFS='\t' 'NR > 1 { $NF = 1 } 1' $TU/results.tsv > tub/results.tsv; }
    cvbad "tune: a rank twice" "tub/results.tsv: line 3: rank 1 twice" rank_twice
    cvbad "tune: no fold columns" "tub/results.tsv: no column 'macro_f1_fold1'" sed -i '1s/macro_f1_fold/f1_fold/g' tub/results.tsv
    rm -rf cvb tub
else
    notok "make cv / make tune for the report: $(tail -3 cv.log)"
fi

# ---- a multi-label model: its history's train_map/val_map as the macro-AP panel, its per-class AP/AUC table --------
# targets (N, 3) uint8 from the tone labels: the sample's class, and for every third sample also the next class
if [ -x "${PY:-}" ] && "$PY" -c 'import numpy' 2>/dev/null; then
    mlmk() {
        for s in train val test; do
            "$PY" -c 'import numpy as np, sys
y = np.load(sys.argv[1]); t = np.zeros((len(y), 3), np.uint8); t[np.arange(len(y)), y] = 1
t[::3, :] |= np.eye(3, dtype=np.uint8)[(y[::3] + 1) % 3]; np.save(sys.argv[2], t)' $s-labels.npy ml$s-labels.npy || return 1
            cp $s.npy ml$s.npy || return 1
        done
        $B/cnntrain -q --multilabel --threads 1 --epochs 3 --batch 8 --train mltrain.npy --val mlval.npy --classes split/classes.tsv \
            --history ml.history -o ml.safetensors || return 1
        $B/cnneval -q ml.safetensors mltest.npy -o ev-ml
    }
    if mlmk 2>ml.err; then
        $B/mkreport -m base=base.safetensors,base.history,ev-base -m ml=ml.safetensors,ml.history,ev-ml -o rml/report.html 2>rml.err; rc=$?
        [ $rc = 0 ] && [ -s rml/figures/ml-curves.png ] && [ ! -e rml/figures/ml-confusion.png ] && [ -s rml/figures/base-confusion.png ] \
            && grep -q 'instead of accuracy, the macro average precision (train_map, val_map)' rml/report.html \
            && ok "mkreport, multi-label model: learning curves from train_map/val_map, no confusion matrix for it" \
            || notok "mkreport multi-label: rc=$rc $(head -c 300 rml.err)"
        why=$("$PY" - rml/report.html ev-ml/metrics.json <<'EOF' 2>&1
import json, re, sys
page, m = open(sys.argv[1]).read(), json.load(open(sys.argv[2]))
sec = re.search(r'<section id="model-2".*?</section>', page, re.S).group(0)
rows = [[re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", r)] for r in re.findall(r"<tr>(.*?)</tr>", sec, re.S)]
rows = [r for r in rows if r]
f = lambda v: "&ndash;" if v is None else "%.4f" % v
for r, pc in zip(rows, m["per_class"]):
    want = [pc["name"], str(pc["support"])] + [f(pc[k]) for k in ("average_precision", "roc_auc", "precision", "recall", "f1", "best_threshold", "best_f1")]
    assert r == want, (r, want)
for r, a in zip(rows[3:], ("macro_avg", "micro_avg")):
    assert [r[2], r[3], r[6]] == [f(m[a][k]) for k in ("average_precision", "roc_auc", "f1")], (r, m[a])
assert len(rows) == 5, rows
assert "%.4f" % m["loss"] in sec
print("ok")
EOF
)
        [ "$why" = ok ] && ok "mkreport, multi-label evaluation: per-class AP, ROC-AUC, P/R/F1, best threshold and F1, macro/micro rows = metrics.json" \
            || notok "mkreport multi-label table: $(echo "$why" | tail -2)"
        res=$(page_check rml/report.html rml/figures)
        [[ $res == figures* ]] && ok "mkreport, multi-label: every figure inlined and valid ($res)" || notok "mkreport multi-label page: $res"
        $B/mkreport -m base=base.safetensors,base.history,ev-base -m ml=ml.safetensors,ml.history,ev-ml -o rml2/report.html 2>/dev/null \
            && cmp -s rml/report.html rml2/report.html && ok "mkreport, multi-label: same bytes twice" || notok "mkreport multi-label: bytes differ"
        sed 's/"samples": [0-9]*/"samples": 1/' ev-ml/metrics.json > ev-ml/m.tmp && mkdir -p ev-mlbad && cp ev-ml/predictions.tsv ev-mlbad/ \
            && mv ev-ml/m.tmp ev-mlbad/metrics.json
        expect_error "mkreport: a multi-label metrics.json of another evaluation" "ev-mlbad/metrics.json: does not match .*predictions.tsv \\(1 samples" 1 \
            $B/mkreport -m ml=ml.safetensors,ml.history,ev-mlbad -o rmlbad/report.html
    else
        notok "making the multi-label model: $(head -c 300 ml.err)"
    fi
else
    skip "mkreport, multi-label: no Python with NumPy to write the targets"
fi

# per-class thresholds (cnneval --scan --thresholds writes DIR/threshold as class, threshold rows): events per class
cp -r scan scanpc && printf 'class\tthreshold\ncat\t0.6\ndog\t0.6\nowl\t0.6\n' > scanpc/threshold \
    && $B/mkreport --scan scan -o rs1/report.html 2>/dev/null && $B/mkreport --scan scanpc -o rs2/report.html 2>rs2.err \
    && grep -q 'per-class detection thresholds cat 0.6, dog 0.6, owl 0.6' rs2/report.html \
    && [ "$(grep -o 'data:audio' rs1/report.html | wc -l)" = "$(grep -o 'data:audio' rs2/report.html | wc -l)" ] \
    && [ "$(grep -o 'data:audio' rs2/report.html | wc -l)" -gt 0 ] \
    && printf 'class\tthreshold\ncat\t0.6\ndog\t0.45\nowl\t0.99\n' > scanpc/threshold && $B/mkreport --scan scanpc -o rs3/report.html 2>>rs2.err \
    && [ "$(grep -o 'data:audio' rs3/report.html | wc -l)" -gt "$(grep -o 'data:audio' rs2/report.html | wc -l)" ] \
    && ok "mkreport --scan, per-class thresholds in DIR/threshold: listed; all 0.6 = one 0.6 (same events); dog at 0.45 adds events" \
    || notok "mkreport per-class scan thresholds: $(head -c 300 rs2.err)"
printf 'class\tthreshold\ncat\t0.6\n' > scanpc/threshold
expect_error "mkreport --scan: a class without a per-class threshold" "scanpc/threshold: no threshold between 0 and 1 for class 'dog'" 1 \
    $B/mkreport --scan scanpc -o rs4/report.html

# ---- errors: one line naming the file, exit 1 or 2, nothing written --------------------------------------------------
bad() { # NAME REGEX RC ARGS...
    local name=$1 re=$2 want=$3; shift 3
    rm -rf bad
    expect_error "$name" "$re" "$want" $B/mkreport "$@" -o bad/report.html
    [ ! -e bad ] && ok "nothing written after: $name" || notok "left behind after $name: $(find bad | head -3 | tr '\n' ' ')"
}
bad "missing checkpoint" "nothere.safetensors: " 1 -m nothere.safetensors
head -c 200 base.safetensors > trunc.safetensors
bad "truncated checkpoint" "trunc.safetensors: " 1 -m trunc.safetensors
bad "missing history" "nothere.tsv: " 1 -m base.safetensors,nothere
mkdir -p ragged; head -3 ev-base/predictions.tsv > ragged/predictions.tsv; printf '#9\tcat\n' >> ragged/predictions.tsv
bad "ragged predictions.tsv" "ragged/predictions.tsv: line 4 has 2 fields" 1 -m base.safetensors,,ragged
mkdir -p badjson; cp ev-base/predictions.tsv badjson/; printf '{"samples": 3, "accuracy": ' > badjson/metrics.json
bad "truncated metrics.json" "badjson/metrics.json: offset" 1 -m base.safetensors,,badjson
mkdir -p other; cp ev-base/predictions.tsv other/; sed 's/"accuracy": [0-9.]*/"accuracy": 0.123/' ev-base/metrics.json > other/metrics.json
bad "metrics.json of another evaluation" "other/metrics.json: does not match" 1 -m base.safetensors,,other
bad "predictions and test data of different lengths" "predictions.tsv: $ntest predictions, but train.npy has" 1 -m base.safetensors,,ev-base --test train.npy
bad "missing split folder" "nosplit/classes.tsv: " 1 --split nosplit
mkdir -p gone/split; cp split/*.tsv gone/split/; sed -i 's|data/cat/cat_|data/cat/gone_|' gone/split/train.tsv
bad "a recording that is not there" "data/cat/gone_[0-9]+.wav: " 1 --split gone/split
mkdir -p badscan; printf 'file\tstart\tend\tcat\nx.wav\t0\t1\t1.5\n' > badscan/scores.tsv
bad "a score that is not a probability" "badscan/scores.tsv: line 2: cat '1.5' is not a probability" 1 --scan badscan
bad "no inputs" "nothing to report" 2
bad "unknown option" "--bogus: unknown option" 2 --bogus
expect_error "an option without its value" "--test: needs a value" 2 $B/mkreport -o bad.html -m base.safetensors --test
bad "bad --seed" "--seed abc" 2 --seed abc -m base.safetensors
bad "bad --scan-audio" "--scan-audio -1" 2 --scan-audio -1 -m base.safetensors
bad "--model without a checkpoint" "no checkpoint" 2 -m name=
bad "two models with one name" "same file name" 1 -m a=base.safetensors -m a=weak.safetensors
expect_error "no output and no OUTDIR" "no output" 2 $B/mkreport -m base.safetensors
$B/mkreport --help | grep -q -- '--test-list' && ok "--help lists the options" || notok "--help"
MAN=$TESTS/../man/mkreport.1
missing=$(for o in $($B/mkreport --help | grep -oE -- '--[a-z][a-z-]+' | sort -u); do sed 's/\\-/-/g' "$MAN" | grep -qF -- "$o" || echo "$o"; done)
[ -z "$missing" ] && ok "every option of --help is in the man page" || notok "man page lacks: $missing"

# ---- the page in a real browser ----------------------------------------------------------------------------------------
CHROME=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$CHROME" ]; then skip "browser checks: no chromium"; exit 0; fi
browse() { # extra chromium arguments, then the URL; a profile of its own, bounded time
    timeout 90 "$CHROME" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --hide-scrollbars --no-first-run --mute-audio \
        --user-data-dir="$W/chrome-profile" --virtual-time-budget=10000 "$@" 2>>chrome.err
}
browse --dump-dom "file://$W/r1/report.html#check" > dom.html
if grep -q "data-check=\"figures=$nfig bad=0 clips=$nclips_want clipbad=0\"" dom.html; then
    ok "chromium: the page loads, all $nfig SVG figures render at their sizes, all $nclips_want clips decode"
else notok "chromium: $(grep -o 'data-check="[^"]*"' dom.html || echo 'no check result') $(grep '^bad ' dom.html | head -3) $(tail -c 200 chrome.err)"; fi
nok=$(grep -cE '^(<pre id="check">)?ok [a-z0-9-]+\.png [0-9]+x[0-9]+' dom.html)
ndur=$(grep -cE '^(<pre id="check">)?ok clip-[0-9]+ [0-9.]+ s' dom.html)
[ "$ndur" = "$nclips_want" ] && ok "chromium: every clip has a duration" || notok "chromium: $ndur clips with a duration of $nclips_want"
[ "$nok" = "$nfig" ] && ok "chromium: one 'ok' line per figure" || notok "chromium: $nok ok lines of $nfig"
if [ -s cvr/report.html ]; then
    browse --dump-dom "file://$W/cvr/report.html#check" > cv-dom.html
    grep -q 'data-check="figures=4 bad=0 clips=0 clipbad=0"' cv-dom.html \
        && ok "chromium: the cross-validation and recipe-search page loads, its 4 figures render at their sizes" \
        || notok "chromium, cv page: $(grep -o 'data-check="[^"]*"' cv-dom.html || echo 'no check result')"
fi
browse --dump-dom "file://$W/evil/report.html" > evil-dom.html
grep -q '&lt;b&gt;&amp;"x' evil-dom.html && ! grep -q '<b>' evil-dom.html && ok "chromium: the hostile class name stays text in the DOM" \
    || notok "chromium: class name became markup"
browse --screenshot="$W/report.png" --window-size=1280,4000 "file://$W/r1/report.html" >/dev/null
if [ -s "$W/report.png" ] && [ "$(od -An -tx1 -N4 "$W/report.png" | tr -d ' ')" = 89504e47 ]; then ok "chromium: screenshot $W/report.png"
else notok "chromium: no screenshot ($(tail -c 200 chrome.err))"; fi
