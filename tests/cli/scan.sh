#!/usr/bin/env bash
# cnneval --scan: a checkpoint trained on short clips over long recordings. A tiny model (3 classes:
# capuchin and owl tones, noise; 32 mel bands x 32 frames) is trained in seconds; a 60-s recording is
# built from noise with known clips inserted; the scan must find them at the inserted times within one
# window step, write the exact scores / Raven / results formats, follow --threshold, --classes,
# --overlap, --step, refuse bad input with one message and the right exit code and leave no output,
# read MP3 and stdin, give each window the input wav2mel + specnorm give for the whole recording
# sliced (needs Python with numpy), and keep its peak memory flat from 10 to 60 minutes.
. "$(dirname "$0")/lib.sh"
cd "$W" || exit 1
B=$BIN
MAN=$TESTS/../man/cnneval.1
command -v sox >/dev/null || { skip "scan tests: sox is needed to make test audio"; exit 0; }
PYNP=
for p in "${PY:-}" "$TESTS/../.venv/bin/python" "$(command -v python3 || true)"; do
    [ -z "$PYNP" ] && [ -n "$p" ] && [ -x "$p" ] && "$p" -c 'import numpy' 2>/dev/null && PYNP=$p
done

# ---- data: tones and noise, a model with its front end recorded ------------------------------------------
mkdata() {
    local i c f
    mkdir -p data/capuchin data/owl data/noise
    for i in 1 2 3 4 5 6 7 8; do
        sox -R -n -r 16000 -c 1 data/capuchin/capuchin_$i.wav synth 0.5 sine $((1200 + 25 * i)) 2>/dev/null
        sox -R -n -r 16000 -c 1 data/owl/owl_$i.wav synth 0.5 sine $((3600 + 25 * i)) 2>/dev/null
        sox -R -n -r 16000 -c 1 data/noise/noise_$i.wav synth 0.5 whitenoise vol 0.0$i 2>/dev/null
    done
    "$B/splitset" -q data split || return 1
    for s in train val; do
        "$B/wav2mel" -q --n-mels 32 --list split/$s.tsv -o mels/$s -m mels/$s.tsv || return 1
        "$B/specnorm" -q --frames 32 -m mels/$s.tsv --stack $s.npy --labels $s-labels.npy || return 1
    done
    "$B/cnntrain" -q --threads 1 --epochs 10 --batch 8 --train train.npy --val val.npy --classes split/classes.tsv \
        --frontend "--n-mels 32 | --frames 32 --mode sample" -o model.safetensors || return 1
    "$B/cnntrain" -q --threads 1 --epochs 1 --train train.npy --classes split/classes.tsv \
        --frontend "--n-mels 32 | --frames 32 --mode none" -o none.safetensors || return 1
    "$B/cnntrain" -q --threads 1 --epochs 1 --train train.npy --classes split/classes.tsv -o nofe.safetensors || return 1
    # 60 s: noise, capuchin at 10 s, owl at 25 s, capuchin at 40 s (each 0.5 s)
    sox -R -n -r 16000 -c 1 n10.wav synth 10 whitenoise vol 0.03 2>/dev/null
    sox -R -n -r 16000 -c 1 n14.wav synth 14.5 whitenoise vol 0.03 2>/dev/null
    sox -R -n -r 16000 -c 1 n19.wav synth 19.5 whitenoise vol 0.03 2>/dev/null
    sox -R n10.wav data/capuchin/capuchin_3.wav n14.wav data/owl/owl_3.wav n14.wav data/capuchin/capuchin_6.wav n19.wav long.wav || return 1
    sox -R -n -r 16000 -c 1 quiet.wav synth 20 whitenoise vol 0.03 2>/dev/null
}
mkdata 2>data.err || { notok "making the test data and checkpoint: $(head -c 300 data.err)"; exit 0; }
HOP=256 SR=22050 WIN=32
STEP=16                                   # frames: round(32 * (1 - 0.5))
STEP_S=$(awk -v s=$STEP 'BEGIN { printf "%.6f", s * 256 / 22050 }')

# ---- one recording, every output -------------------------------------------------------------------------
$B/cnneval --scan -v --classes capuchin,owl model.safetensors long.wav quiet.wav -o o1 2>o1.err; rc=$?
[ $rc = 0 ] && [ -s o1/scores.tsv ] && [ -s o1/results.tsv ] && [ -s o1/events/long.selections.txt ] \
    && [ -s o1/events/quiet.selections.txt ] && [ -s o1/threshold ] \
    && ok "-o DIR: scores.tsv, results.tsv, events/NAME.selections.txt per recording, threshold" \
    || notok "-o: rc=$rc $(ls -R o1 2>&1 | tr '\n' ' ') $(head -c 300 o1.err)"
[ "$(head -1 o1/scores.tsv)" = "$(printf 'file\tstart\tend\tcapuchin\tnoise\towl')" ] \
    && ok "scores header: file, start, end, one column per class" || notok "scores header: $(head -1 o1/scores.tsv)"
# frames of the 60-s recording at 22050 Hz: 1 + 1323000 / 256 = 5168; windows every 16 frames: 322
nlong=$(grep -c '^long.wav	' o1/scores.tsv)
[ "$nlong" = 322 ] && ok "one row per window (322 for 60 s)" || notok "windows of long.wav: $nlong"
why=$(awk -F'\t' -v S=$STEP -v W=$WIN 'NR > 1 && $1 == "long.wav" {
        k = n++; s = 0; for (j = 4; j <= NF; j++) s += $j
        st = k * S * 256 / 22050; en = (k * S + W) * 256 / 22050; if (en > 60) en = 60
        if (NF != 6 || (s - 1) ^ 2 > 1e-9 || ($2 - st) ^ 2 > 1e-11 || ($3 - en) ^ 2 > 1e-11) { print "row " NR ": " $0; exit 1 } }' o1/scores.tsv) \
    && ok "scores rows: window k from k*S*hop/sr to (k*S+W)*hop/sr, probabilities summing to 1" || notok "scores rows: $why"
[ "$(cat o1/threshold)" = 0.5 ] && ok "threshold file: 0.5" || notok "threshold file: $(cat o1/threshold)"
RAVEN=$'Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)\tclass\tscore'
[ "$(head -1 o1/events/long.selections.txt)" = "$RAVEN" ] && ok "Raven selection table: exact header" \
    || notok "Raven header: $(head -1 o1/events/long.selections.txt)"
why=$(awk -F'\t' 'NR > 1 && (NF != 9 || $1 != NR - 1 || $2 != "Spectrogram 1" || $3 != 1 || $6 != "0.000" || $7 != "11025.000" \
        || $5 <= $4 || $9 <= 0.5 || $9 > 1) { print "row " NR ": " $0; exit 1 }' o1/events/long.selections.txt) \
    && ok "Raven rows: numbered, Spectrogram 1, channel 1, 0-11025 Hz, end after begin, score above the threshold" \
    || notok "Raven rows: $why"
# the inserted clips, found where they are: each event's middle within one window step of the clip's middle,
# and the event within one window of the clip on either side (windows that hold part of a clip detect it)
WIN_S=$(awk -v w=$WIN 'BEGIN { printf "%.6f", w * 256 / 22050 }')
expect_events() { # TABLE "class begin end;..."
    awk -F'\t' -v want="$2" -v step="$STEP_S" -v win="$WIN_S" 'NR > 1 { got[n++] = $8 " " $4 " " $5 }
        END { m = split(want, w, ";"); if (m != n) { print n " events, want " m; exit 1 }
              for (i = 1; i <= m; i++) { split(w[i], a, " "); split(got[i - 1], b, " ")
                  mid = (a[2] + a[3]) / 2 - (b[2] + b[3]) / 2
                  if (a[1] != b[1] || mid ^ 2 > (step + 1e-3) ^ 2 || b[2] < a[2] - win || b[3] > a[3] + win) {
                      print "event " i ": " got[i - 1] ", want " w[i]; exit 1 } } }' "$1"
}
why=$(expect_events o1/events/long.selections.txt "capuchin 10 10.5;owl 25 25.5;capuchin 40 40.5") \
    && ok "events: capuchin at 10 s, owl at 25 s, capuchin at 40 s (middles within one step, $STEP_S s; ends within a window)" \
    || notok "events: $why $(tail -n +2 o1/events/long.selections.txt | cut -f4,5,8 | tr '\n' ' ')"
[ "$(wc -l < o1/events/quiet.selections.txt)" = 1 ] && ok "a recording of noise only: a table with its header alone" \
    || notok "quiet.wav events: $(cat o1/events/quiet.selections.txt)"
[ "$(cat o1/results.tsv)" = "$(printf 'file\tclass\tcount\nlong.wav\tcapuchin\t2\nlong.wav\towl\t1\nquiet.wav\tcapuchin\t0\nquiet.wav\towl\t0')" ] \
    && ok "results.tsv: one row per recording and counted class, zero counts included" || notok "results.tsv: $(cat o1/results.tsv | tr '\n\t' '| ')"
grep -Eq '^cnneval: long.wav: 60.0 s at 16000 Hz \(1 channel\), 5168 frames at 22050 Hz, 322 windows of 32 frames every 16; events: capuchin 2, noise 0, owl 1$' o1.err \
    && grep -Eq '^cnneval: scanned 2 recordings, 80.0 s of audio in .*, 429 windows, 3 events$' o1.err \
    && grep -Eq '^cnneval: time: decode [0-9.]+ s, resample [0-9.]+ s, spectrogram [0-9.]+ s, network [0-9.]+ s$' o1.err \
    && grep -Eq '^cnneval: peak memory [0-9.]+ MiB' o1.err && ok "-v: a line per recording, summary, times, peak memory" \
    || notok "-v: $(head -c 600 o1.err)"
ls -a o1 o1/events | grep -q tmp && notok "temporary files left" || ok "no temporary files left"

# ---- --jobs N: several recordings at once, the same bytes -------------------------------------------------
cp long.wav long2.wav; cp quiet.wav quiet2.wav; cp long.wav long3.wav
$B/cnneval --scan -q --classes capuchin,owl model.safetensors long.wav quiet.wav long2.wav quiet2.wav long3.wav -o j1 2>j1.err
$B/cnneval --scan -v --jobs 3 --classes capuchin,owl model.safetensors long.wav quiet.wav long2.wav quiet2.wav long3.wav -o j3 2>j3.err; rc=$?
[ $rc = 0 ] && diff -r j1 j3 >/dev/null && [ "$(grep -c '^cnneval: .*windows of' j3.err)" = 5 ] \
    && [ "$(grep '^cnneval: .*windows of' j3.err | cut -d: -f2 | tr -d ' ' | tr '\n' ' ')" = "long.wav quiet.wav long2.wav quiet2.wav long3.wav " ] \
    && grep -q 'time (summed over the jobs)' j3.err && ok "--jobs 3: every output the same bytes as one job's; -v lines in the recordings' order" \
    || notok "--jobs 3: rc=$rc $(diff -r j1 j3 | head -3) $(head -c 300 j3.err)"
$B/cnneval --scan -q --jobs 2 --scores - model.safetensors long.wav quiet.wav 2>/dev/null | cmp -s - <($B/cnneval --scan -q --scores - model.safetensors long.wav quiet.wav 2>/dev/null) \
    && ok "--jobs 2 --scores -: the same rows on stdout" || notok "--jobs 2 to stdout differs"
sox -R -n -r 16000 -c 1 silent.wav trim 0 3 2>/dev/null
expect_error "--jobs 2: a bad recording (the second) is named, nothing written" "silent.wav" 1 $B/cnneval --scan -q --jobs 2 model.safetensors long.wav silent.wav quiet.wav -o jbad
[ ! -e jbad/scores.tsv ] && [ -z "$(ls jbad/events 2>/dev/null)" ] && ok "--jobs 2: nothing left after the failure" || notok "--jobs 2 left: $(ls -R jbad)"
expect_error "--jobs 0" "--jobs needs a number" 2 $B/cnneval --scan --jobs 0 model.safetensors long.wav
expect_error "--jobs with --dump-inputs" "one job at a time" 2 $B/cnneval --scan --jobs 2 --dump-inputs d.npy model.safetensors long.wav quiet.wav

# ---- ensembles (-m twice or more): each window's probabilities averaged over the models ----------------------
$B/cnneval --scan -q --classes capuchin,owl -m model.safetensors long.wav quiet.wav -o en1 2>en1.err
$B/cnneval --scan -q --classes capuchin,owl model.safetensors long.wav quiet.wav -o one 2>/dev/null
diff -r one en1 >/dev/null && ok "--scan, ensemble of one (-m): every output the same bytes as the model alone" || notok "--scan ensemble of one: $(diff -r one en1 | head -3) $(cat en1.err)"
"$B/cnntrain" -q --threads 1 --epochs 3 --seed 3 --train train.npy --classes split/classes.tsv \
    --frontend "--n-mels 32 | --frames 32 --mode sample" -o model2.safetensors 2>m2.err || notok "training model2: $(cat m2.err)"
$B/cnneval --scan -q --scores m1.tsv model.safetensors long.wav quiet.wav && $B/cnneval --scan -q --scores m2.tsv model2.safetensors long.wav quiet.wav \
    && $B/cnneval --scan -q --scores en2.tsv -m model.safetensors -m model2.safetensors long.wav quiet.wav 2>en2.err; rc=$?
why=$(paste m1.tsv m2.tsv en2.tsv | awk -F'\t' 'NR > 1 { for (j = 2; j <= 3; j++) if ($j != $(j + 6) || $j != $(j + 12)) { print "times, row " NR; exit 1 }
        for (j = 4; j <= 6; j++) { m = ($j + $(j + 6)) / 2; d = m - $(j + 12); if (d * d > 4e-12) { print "row " NR ": " m " vs " $(j + 12); exit 1 } if ($j != $(j + 6)) differ++ } }
        END { if (!differ) { print "the two models agree everywhere: nothing tested"; exit 1 } }') \
    && [ $rc = 0 ] && [ "$(wc -l < en2.tsv)" = "$(wc -l < m1.tsv)" ] && [ "$(head -1 en2.tsv)" = "$(head -1 m1.tsv)" ] \
    && ok "--scan, ensemble of two: each window's probabilities = the mean of the two models' (2e-6)" || notok "--scan ensemble of two: rc=$rc $why $(cat en2.err)"
$B/cnneval --scan -q --jobs 2 --classes capuchin,owl -m model.safetensors -m model2.safetensors long.wav quiet.wav long2.wav -o enj2 2>/dev/null \
    && $B/cnneval --scan -q --classes capuchin,owl -m model.safetensors -m model2.safetensors long.wav quiet.wav long2.wav -o enj1 2>/dev/null \
    && diff -r enj1 enj2 >/dev/null && ok "--scan --jobs 2 with an ensemble: the same bytes as one job" || notok "--jobs 2 ensemble: $(diff -r enj1 enj2 | head -3)"
expect_error "--scan ensemble: a model of another recorded front end is named" \
    "none.safetensors: records the front end '--n-mels 32 \\| --frames 32 --mode none', but model.safetensors records" 1 \
    $B/cnneval --scan -q -m model.safetensors -m none.safetensors long.wav -o enbad
[ ! -e enbad ] && ok "--scan ensemble refused: nothing written" || notok "--scan ensemble refused but wrote $(ls -R enbad)"

$B/cnneval --scan -q --csv --classes capuchin,owl model.safetensors long.wav quiet.wav -o csv 2>csv.err
[ "$(cat csv/results.csv)" = "$(printf 'recording,capuchin_calls,owl_calls\nlong.wav,2,1\nquiet.wav,0,0')" ] && [ ! -e csv/results.tsv ] \
    && ok "--csv: results.csv as the capuchin challenge asks (recording,CLASS_calls)" || notok "--csv: $(cat csv/results.csv csv.err)"
$B/cnneval --scan -q --classes owl model.safetensors long.wav > one.tsv 2>one.err
[ "$(cat one.tsv)" = "$(printf 'file\tclass\tcount\nlong.wav\towl\t1')" ] && ok "no output option: results to stdout; --classes owl counts owl only" \
    || notok "stdout results: $(cat one.tsv one.err)"
$B/cnneval --scan -q model.safetensors long.wav --results all.tsv --scores - > scores-stdout.tsv 2>all.err
cmp -s <(grep -v '^quiet' o1/scores.tsv) scores-stdout.tsv && [ "$(cut -f2 all.tsv | tail -n +2 | tr '\n' ' ')" = "capuchin noise owl " ] \
    && ok "--scores - to stdout (same rows); without --classes every class is counted" || notok "--scores -: $(head -c 300 all.err)"

# ---- threshold, overlap, step ------------------------------------------------------------------------------
$B/cnneval --scan -q --threshold 1 model.safetensors long.wav --results t1.tsv --events t1ev
[ "$(cut -f3 t1.tsv | tail -n +2 | sort -u)" = 0 ] && [ "$(wc -l < t1ev/long.selections.txt)" = 1 ] \
    && ok "--threshold 1: no window is above it, no events" || notok "--threshold 1: $(cat t1.tsv)"
$B/cnneval --scan -q --threshold 0 model.safetensors long.wav --results t0.tsv --events t0ev
[ "$(cut -f3 t0.tsv | tail -n +2 | sort -u)" = 1 ] \
    && [ "$(awk -F'\t' 'NR > 1 && $4 == 0 && $5 == 60' t0ev/long.selections.txt | wc -l)" = 3 ] \
    && ok "--threshold 0: every window is above it, one event per class over the whole recording" || notok "--threshold 0: $(cat t0.tsv)"
$B/cnneval --scan -q --threshold 0.1 --classes capuchin,owl model.safetensors long.wav --events t01 2>/dev/null
$B/cnneval --scan -q --threshold 0.97 --classes capuchin,owl model.safetensors long.wav --events t97 2>/dev/null
len() { awk -F'\t' 'NR > 1 { s += $5 - $4 } END { printf "%.6f", s }' "$1"; }
awk -v a="$(len t01/long.selections.txt)" -v b="$(len o1/events/long.selections.txt)" -v c="$(len t97/long.selections.txt)" 'BEGIN { exit !(a >= b && b >= c && c > 0) }' \
    && ok "a higher threshold gives shorter events (total $(len t01/long.selections.txt) >= $(len o1/events/long.selections.txt) >= $(len t97/long.selections.txt) s at 0.1, 0.5, 0.97)" \
    || notok "--threshold 0.1/0.5/0.97: $(len t01/long.selections.txt) $(len o1/events/long.selections.txt) $(len t97/long.selections.txt)"
$B/cnneval --scan -q --overlap 0 model.safetensors long.wav --scores ov0.tsv
$B/cnneval --scan -q --step 1 model.safetensors long.wav --scores st1.tsv
# overlap 0: 32-frame steps, windows while the one before ends before frame 5168: 162; step 1 s = 86 frames: 61
[ "$(($(wc -l < ov0.tsv) - 1))" = 162 ] && [ "$(sed -n 3p ov0.tsv | cut -f2)" = "$(awk 'BEGIN { printf "%.6f", 32 * 256 / 22050 }')" ] \
    && ok "--overlap 0: windows side by side (162)" || notok "--overlap 0: $(($(wc -l < ov0.tsv) - 1)) windows, $(sed -n 3p ov0.tsv | cut -f2)"
[ "$(($(wc -l < st1.tsv) - 1))" = 61 ] && [ "$(sed -n 3p st1.tsv | cut -f2)" = "$(awk 'BEGIN { printf "%.6f", 86 * 256 / 22050 }')" ] \
    && ok "--step 1: a window every 86 frames (61)" || notok "--step 1: $(($(wc -l < st1.tsv) - 1)) windows, $(sed -n 3p st1.tsv | cut -f2)"
sox -R -n -r 16000 -c 1 short.wav synth 0.2 sine 1250 2>/dev/null
$B/cnneval --scan -q model.safetensors short.wav --scores short.tsv
[ "$(($(wc -l < short.tsv) - 1))" = 1 ] && [ "$(sed -n 2p short.tsv | cut -f2,3)" = "$(printf '0.000000\t0.200000')" ] \
    && ok "a recording shorter than one window: one padded window, ending with the recording" || notok "short: $(cat short.tsv)"

# ---- determinism ---------------------------------------------------------------------------------------------
$B/cnneval --scan -q --threads 1 model.safetensors long.wav -o th1 && $B/cnneval --scan -q --threads 2 model.safetensors long.wav -o th2
cmp -s th1/scores.tsv th2/scores.tsv && cmp -s th1/events/long.selections.txt th2/events/long.selections.txt \
    && ok "--threads 1 and 2: identical bytes" || notok "--threads changes the output"
$B/cnneval --scan -q --batch 7 model.safetensors long.wav --scores b7.tsv
paste th1/scores.tsv b7.tsv | awk -F'\t' 'NR > 1 { for (j = 2; j <= 6; j++) if (($j - $(j + 6)) ^ 2 > 1e-10) exit 1 }' \
    && ok "--batch 1 and 7 agree to 1e-5" || notok "--batch changes the scores"

# ---- each window's input is wav2mel's spectrogram of the whole recording, sliced, then specnorm -----------
if [ -n "$PYNP" ]; then
    for ck in none model; do
        $B/cnneval --scan -q --step 0.3 --dump-inputs in-$ck.npy $ck.safetensors long.wav --scores /dev/null
    done
    $B/wav2mel -q --n-mels 32 long.wav whole.npy
    why=$("$PYNP" - <<'EOF' 2>&1
import numpy as np
def stream(path):
    out = []
    with open(path, "rb") as f:
        while f.peek(1):
            out.append(np.lib.format.read_array(f))
    return out
whole = np.load("whole.npy")[0]
T, W, S = whole.shape[1], 32, round(0.3 * 22050 / 256)
for name, tol in (("none", 0.0), ("model", 1e-5)):
    xs = stream("in-%s.npy" % name)
    n = 0
    while n == 0 or ((n - 1) * S + W < T and n * S < T):
        n += 1
    assert len(xs) == n, (name, len(xs), n)
    worst = 0.0
    for k, x in enumerate(xs):
        sl = whole[:, k * S:k * S + W].astype(np.float64)
        if name == "model":
            sl = (sl - sl.mean()) / (sl.std() + 1e-6)
        if sl.shape[1] < W:
            sl = np.concatenate([sl, np.zeros((sl.shape[0], W - sl.shape[1]))], 1)
        assert x.shape == (1, 32, W) and x.dtype == np.float32
        worst = max(worst, float(np.abs(x[0] - sl).max()))
    assert worst <= tol, (name, worst)
    print(name, n, worst)
EOF
) && ok "window inputs = wav2mel of the whole recording sliced: bit for bit (--mode none), 1e-5 after --mode sample ($(echo $why | tr '\n' ' '))" \
      || notok "window inputs: $(echo "$why" | tail -2 | tr '\n' ' ')"
else
    skip "window inputs against wav2mel: no Python with numpy"
fi

# ---- a checkpoint with specnorm's data-set statistics (--frontend '... | --stats FILE'): each window is
# wav2mel's whole-recording spectrogram sliced, then specnorm --stats, bit for bit, and its scores are
# what cnneval gives on the stack of those windows ---------------------------------------------------------------
if [ -n "$PYNP" ]; then
    $B/specnorm -q --fit stats.npy -m mels/train.tsv && for s in train val; do
        $B/specnorm -q --stats stats.npy --frames 32 -m mels/$s.tsv --stack st-$s.npy --labels st-$s-labels.npy; done \
        && $B/cnntrain -q --threads 1 --epochs 10 --batch 8 --train st-train.npy --val st-val.npy --classes split/classes.tsv \
            --frontend "--n-mels 32 | --stats stats.npy --frames 32" -o stats.safetensors 2>st.err \
        && $B/cnneval --scan -q --step 0.3 --dump-inputs in-stats.npy stats.safetensors long.wav --scores sc-stats.tsv 2>>st.err
    [ -s whole.npy ] || $B/wav2mel -q --n-mels 32 long.wav whole.npy
    "$PYNP" - <<'EOF' 2>>st.err
import numpy as np
whole = np.load("whole.npy")[0]
T, W, S = whole.shape[1], 32, round(0.3 * 22050 / 256)
with open("win.npy", "wb") as f:
    k = 0
    while k == 0 or ((k - 1) * S + W < T and k * S < T):
        np.lib.format.write_array(f, np.ascontiguousarray(whole[None, :, k * S:k * S + W]))
        k += 1
EOF
    $B/specnorm -q --stats stats.npy --frames 32 win.npy win-st.npy 2>>st.err && cmp -s win-st.npy in-stats.npy \
        && ok "stats checkpoint: every window's input = wav2mel sliced | specnorm --stats, bit for bit" \
        || notok "stats checkpoint windows: $(head -c 300 st.err) $(cmp win-st.npy in-stats.npy 2>&1)"
    "$PYNP" - <<'EOF' 2>>st.err
import numpy as np
xs = []
with open("win-st.npy", "rb") as f:
    while f.peek(1):
        xs.append(np.lib.format.read_array(f))
np.save("win-stack.npy", np.stack(xs))
EOF
    $B/cnneval -q --batch 1 stats.safetensors win-stack.npy --labels - -o st-ev 2>>st.err \
        && paste <(tail -n +2 sc-stats.tsv | cut -f4-) <(tail -n +2 st-ev/predictions.tsv | cut -f5-) \
        | awk -F'\t' '{ n++; for (j = 1; j <= 3; j++) { d = $j - $(j + 3); if (d * d > 1e-12) exit 1 } } END { exit n != 0 + '"$(($(wc -l < sc-stats.tsv) - 1))"' || n == 0 }' \
        && ok "stats checkpoint: the scan's window scores = cnneval on the stack of those windows" \
        || notok "stats checkpoint scores: $(head -c 300 st.err)"
else
    skip "stats checkpoint windows: no Python with numpy"
fi

# ---- other inputs: MP3, stdin, several formats -----------------------------------------------------------------
if sox -R long.wav -C 128 long.mp3 2>/dev/null && $B/wav2mel -q long.mp3 - >/dev/null 2>/dev/null; then
    $B/cnneval --scan -q --classes capuchin,owl model.safetensors long.mp3 --events mp3ev 2>mp3.err; rc=$?
    why=$(expect_events mp3ev/long.selections.txt "capuchin 10 10.5;owl 25 25.5;capuchin 40 40.5") && [ $rc = 0 ] \
        && ok "MP3 (128 kbit/s): the same events" || notok "MP3: rc=$rc $why $(head -c 200 mp3.err)"
else
    skip "MP3 input: sox cannot write MP3 or libsndfile here cannot read it"
fi
$B/cnneval --scan -q --classes capuchin,owl model.safetensors - --events inev --results in.tsv < long.wav; rc=$?
[ $rc = 0 ] && [ "$(tail -n +2 in.tsv | cut -f1,3 | tr '\n\t' '  ')" = "- 2 - 1 " ] && cmp -s inev/stdin.selections.txt o1/events/long.selections.txt \
    && ok "stdin (-): the same events, table stdin.selections.txt" || notok "stdin: rc=$rc $(cat in.tsv)"
sox -R long.wav -c 2 -r 44100 -b 24 long.flac 2>/dev/null
$B/cnneval --scan -q --classes capuchin,owl model.safetensors long.flac --events flacev 2>flac.err
why=$(expect_events flacev/long.selections.txt "capuchin 10 10.5;owl 25 25.5;capuchin 40 40.5") \
    && ok "24-bit stereo FLAC at 44.1 kHz: the same events" || notok "FLAC: $why $(head -c 200 flac.err)"

# ---- bad input: one line naming the file, the right exit code, nothing written -----------------------------------
bad() { # NAME REGEX RC ARGS...: then no output in out-bad
    local name=$1 re=$2 want=$3; shift 3
    rm -rf out-bad
    expect_error "$name" "$re" "$want" $B/cnneval --scan -q "$@" -o out-bad
    [ ! -e out-bad/scores.tsv ] && [ ! -e out-bad/results.tsv ] && [ ! -e out-bad/threshold ] \
        && [ -z "$(ls out-bad/events 2>/dev/null)" ] && [ -z "$(ls -a out-bad 2>/dev/null | grep tmp)" ] \
        && ok "nothing written after: $name" || notok "output left after: $name: $(ls -R out-bad)"
}
bad "missing recording" "nothere.wav: cannot open" 1 model.safetensors long.wav nothere.wav
echo "not audio at all" > notaudio.wav
bad "a file that is not audio" "notaudio.wav: not a readable audio file" 1 model.safetensors long.wav notaudio.wav
sox -R -n -r 16000 -c 1 silent.wav trim 0 30 2>/dev/null
bad "a silent recording (found after the others were scanned)" "silent.wav: silent audio" 1 model.safetensors long.wav silent.wav
: > empty.wav
bad "an empty file" "empty.wav: empty file" 1 model.safetensors empty.wav
head -c 400000 long.wav > trunc.wav
bad "a truncated WAV" "trunc.wav: truncated" 1 model.safetensors trunc.wav
bad "a checkpoint without a recorded front end" "nofe.safetensors: records no front end .*the model takes 1x32x32" 1 nofe.safetensors long.wav
bad "a missing checkpoint" "nothere.safetensors: " 1 nothere.safetensors long.wav
mkdir -p a b && cp quiet.wav a/rec.wav && cp quiet.wav b/rec.flac
bad "two recordings whose tables would collide" "a/rec.wav and b/rec.flac would both write out-bad/events/rec.selections.txt" 1 \
    model.safetensors a/rec.wav b/rec.flac
bad "--overlap 1" "--overlap needs a number in \[0, 1\)" 2 --overlap 1 model.safetensors long.wav
bad "--overlap abc" "--overlap needs a number" 2 --overlap abc model.safetensors long.wav
bad "--step 0" "--step needs a positive number of seconds" 2 --step 0 model.safetensors long.wav
bad "--threshold 1.5" "--threshold needs a number in \[0, 1\]" 2 --threshold 1.5 model.safetensors long.wav
bad "--threshold nan" "--threshold needs a number" 2 --threshold nan model.safetensors long.wav
bad "--classes with an unknown class" "--classes: model.safetensors has no class 'bat'" 2 --classes owl,bat model.safetensors long.wav
bad "--batch 0" "positive --top-k/--batch/--threads" 2 --batch 0 model.safetensors long.wav
bad "no recording" "expected MODEL.safetensors and RECORDINGs" 2 model.safetensors
expect_error "two outputs to stdout" "only one of --scores, --results and --dump-inputs can go to stdout" 2 $B/cnneval --scan -q model.safetensors long.wav --scores - --results -
expect_error "a scan option without --scan" "go with --scan" 2 $B/cnneval --overlap 0.3 model.safetensors long.wav
expect_error "--threshold without --scan, single-label model" "model.safetensors: --threshold goes with --scan or a multi-label model" 2 \
    $B/cnneval --threshold 0.3 model.safetensors long.wav

# ---- memory: flat from 10 to 60 minutes --------------------------------------------------------------------------
sox -R -n -r 8000 -c 1 -b 16 m10.wav synth 600 whitenoise vol 0.03 2>/dev/null
sox -R -n -r 8000 -c 1 -b 16 m60.wav synth 3600 whitenoise vol 0.03 2>/dev/null
peak() { $B/cnneval --scan -v --threads 1 --step 2 model.safetensors "$1" --results /dev/null 2>&1 | sed -n 's/.*(VmHWM \([0-9]*\) kB).*/\1/p'; }
p10=$(peak m10.wav) p60=$(peak m60.wav)
rm -f m10.wav m60.wav
[ -n "$p10" ] && [ -n "$p60" ] && [ "$p60" -le $((p10 + 2048)) ] \
    && ok "peak memory does not grow with the recording: 10 min $((p10 / 1024)) MiB, 60 min $((p60 / 1024)) MiB" \
    || notok "peak memory: 10 min ${p10:-?} kB, 60 min ${p60:-?} kB"
# outputs given as /dev/null are written in place: a rename over it would replace the device with a file
[ -c /dev/null ] && ok "--results /dev/null and --scores /dev/null leave /dev/null a device" \
    || notok "/dev/null is no longer a character device"

# ---- detection metrics against annotations (--annotations) ----------------------------------------------------
# long.wav's Raven table: the three inserted calls, a capuchin call the model cannot find (50 s: only noise there)
# and a frog (no class of the model: ignored); quiet.wav is not annotated (scanned, not scored)
H=$'Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)\tAnnotation'
printf '%s\n1\tSpectrogram 1\t1\t10\t10.5\t1000\t2000\tcapuchin\n2\tSpectrogram 1\t1\t25\t25.5\t3000\t4000\towl\n3\tSpectrogram 1\t1\t40\t40.5\t1000\t2000\tcapuchin\n4\tSpectrogram 1\t1\t50\t50.5\t1000\t2000\tcapuchin\n5\tSpectrogram 1\t1\t30\t30.5\t1000\t2000\tfrog\n' "$H" >long.Table.1.selections.txt
printf 'recording\ttable\nlong.wav\tlong.Table.1.selections.txt\n' >ann.tsv
check "--annotations: detection metrics" $B/cnneval --scan -q --classes capuchin,owl --annotations ann.tsv model.safetensors long.wav quiet.wav -o od
want=$'recording\tclass\tannotated\tdetected\tmatched\tprecision\trecall\tf1\tcount_error\nlong.wav\tcapuchin\t3\t2\t2\t1.000000\t0.666667\t0.800000\t-1\nlong.wav\towl\t1\t1\t1\t1.000000\t1.000000\t1.000000\t0\n*\tcapuchin\t3\t2\t2\t1.000000\t0.666667\t0.800000\t-1\n*\towl\t1\t1\t1\t1.000000\t1.000000\t1.000000\t0'
[ "$(cat od/detection.tsv)" = "$want" ] && ok "detection.tsv: 3 of 4 calls found, no false event, count error -1" \
    || notok "detection.tsv: $(cat od/detection.tsv)"
[ "$(cut -f 2,3,6 od/detection-events.tsv | tr '\t\n' ' ')" = "kind class matched annotated capuchin 1 annotated owl 1 annotated capuchin 1 annotated capuchin 0 detected capuchin 1 detected owl 1 detected capuchin 1 " ] \
    && ok "detection-events.tsv: annotated then detected, by time, with matched flags" || notok "marks: $(cat od/detection-events.tsv)"
if [ -n "$PYNP" ]; then
    "$PYNP" - od/detection.json <<'P' && ok "detection.json: micro/macro scores, counts, ignored selection" || notok "detection.json: $(head -c 400 od/detection.json)"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["recordings"] == 1 and d["ignored_selections"] == 1 and d["match_fraction"] == 0.5
m = d["micro"]
assert (m["annotated"], m["detected"], m["matched"]) == (4, 3, 3) and m["precision"] == 1 and m["recall"] == 0.75
assert abs(m["f1"] - 6 / 7) < 1e-12 and abs(d["macro"]["recall"] - (2 / 3 + 1) / 2) < 1e-12 and abs(d["macro"]["f1"] - 0.9) < 1e-12
c = d["counts"]
assert (c["annotated"], c["detected"], c["error"], c["relative_error"]) == (4, 3, -1, -0.25)
assert c["per_recording"] == [{"recording": "long.wav", "annotated": 4, "detected": 3, "error": -1}]
P
fi
check "mkreport on a scan with detection metrics" $B/mkreport -q --no-audio --scan od -o od/report.html
grep -q '<h3>Detection against the annotations</h3>' od/report.html && grep -q '<tr><td>capuchin</td><td class="n">3</td><td class="n">2</td><td class="n">2</td>' od/report.html &&
    grep -q '<td>long.wav</td><td class="n">4</td><td class="n">3</td><td class="n">3</td><td class="n">-1</td><td class="n">-25.0%</td>' od/report.html &&
    grep -q 'along the top, the annotated selections' od/report.html && ok "the report: detection per class and per recording, annotations on the timeline" \
    || notok "report detection section: $(grep -o 'Detection against.\{0,600\}' od/report.html | head -c 600)"
check "--annotations with --jobs 2" $B/cnneval --scan -q -j 2 --classes capuchin,owl --annotations ann.tsv model.safetensors long.wav quiet.wav -o odj
cmp -s od/detection.json odj/detection.json && cmp -s od/detection-events.tsv odj/detection-events.tsv && ok "the same bytes with --jobs 2" \
    || notok "--jobs 2 changes the detection files"
# a stricter match: an event must cover all of the shorter side; the Raven folder convention
mkdir -p annd && cp long.wav long.Table.1.selections.txt annd/
check "--annotations FOLDER" $B/cnneval --scan -q --classes capuchin,owl --annotations annd model.safetensors annd/long.wav -o odf
[ "$(sed -n 2p odf/detection.tsv | cut -f 2-)" = "$(sed -n 2p od/detection.tsv | cut -f 2-)" ] && ok "a folder of recordings with their Raven tables" \
    || notok "folder: $(cat odf/detection.tsv)"
printf 'recording\ttable\nlong.wav\tbad.txt\n' >annbad.tsv; printf '10\t9\tcapuchin\n' >bad.txt
expect_error "a bad table refused" "bad.txt: line 1: end 9 s before begin 10 s" 1 $B/cnneval --scan -q --annotations annbad.tsv model.safetensors long.wav -o odb
no_partial "nothing written for a bad table" odb/results.tsv
printf '10\t70\tcapuchin\n' >bad.txt
expect_error "a selection past the recording's end refused" "bad.txt: line 1: end 70 s past the recording's end \\(60 s\\)" 1 $B/cnneval --scan -q --annotations annbad.tsv model.safetensors long.wav -o odb
expect_error "no scanned recording annotated" "ann.tsv: none of the recordings scanned is annotated" 1 $B/cnneval --scan -q --annotations ann.tsv model.safetensors quiet.wav -o odb
no_partial "nothing written" odb/scores.tsv
expect_error "--annotations without -o" "needs -o DIR" 2 $B/cnneval --scan --annotations ann.tsv model.safetensors long.wav
expect_error "--match-fraction out of range" "--match-fraction needs" 2 $B/cnneval --scan --match-fraction 0 --annotations ann.tsv model.safetensors long.wav -o x
expect_error "--match-fraction without --annotations" "go with --annotations" 2 $B/cnneval --scan --match-fraction 0.3 model.safetensors long.wav -o x

# ---- man page: a SCANNING section documenting every scan option; its scan examples run ----------------------------
if [ -f "$MAN" ]; then
    grep -q '^\.SH SCANNING' "$MAN" && ok "cnneval(1) has a SCANNING section" || notok "no SCANNING section in cnneval(1)"
    missing=$($B/cnneval --help | sed -n '/^Scanning/,$p' | grep -E '^ +-' | grep -oE -- '--[a-z][a-z-]+' | sort -u \
        | while read -r o; do grep -qF -- "${o//-/\\-}" "$MAN" || echo "$o"; done)
    [ -z "$missing" ] && ok "the man page documents every scan option of --help" || notok "not in cnneval(1): $missing"
    mkdir -p ex/forest && cp model.safetensors ex/ && sox long.wav ex/night.flac 2>/dev/null && cp long.wav quiet.wav ex/forest/
    if sox -R long.wav -C 128 ex/forest/recording_00.mp3 2>/dev/null; then rm ex/forest/long.wav ex/forest/quiet.wav; else
        (cd ex/forest && mv long.wav recording_00.mp3.wav); fi
    cp long.Table.1.selections.txt ex/forest/recording_00.Table.1.selections.txt
    sed -n '/^\.SS Scan examples/,/^\.SH /p' "$MAN" | grep -E '^    cnneval ' | sed 's/\\-/-/g; s/\\e/\\/g' > ex/examples
    [ "$(wc -l < ex/examples)" -ge 2 ] || notok "scan examples not found in cnneval(1)"
    while read -r cmd; do
        case $cmd in *forest/\*.mp3*) ls ex/forest/*.mp3 >/dev/null 2>&1 || { skip "man example (no MP3 here): $cmd"; continue; } ;; esac
        if (cd ex && PATH="$B:$PATH" bash -c "set -o pipefail; $cmd" >ex.out 2>ex.err); then ok "man example: $cmd"
        else notok "man example: $cmd: $(head -c 200 ex/ex.err)"; fi
    done < ex/examples
    [ ! -e ex/scan/results.csv ] || grep -q '^recording_00.mp3,2$' ex/scan/results.csv && ok "man example's results.csv: recording_00.mp3,2" \
        || notok "man example results.csv: $(cat ex/scan/results.csv)"
else
    notok "man/cnneval.1 is missing"
fi
