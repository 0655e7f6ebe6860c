#!/usr/bin/env bash
# bench/scan: real-time factor of cnneval --scan on ONE core (--threads 1): decode + resample + log-mel
# + CNN over a long recording, for each architecture in ARCHS. See bench/scan/README.md for results.
#
# The recording: every FSDD file (8 kHz, ~21 minutes in all) concatenated with sox into one WAV, so the
# scan decodes, resamples 8 kHz -> 22050 Hz (soxr HQ), computes 128-band log-mel frames and runs the
# network on 1x128x400 windows (4.6 s) overlapping by half, as a checkpoint trained on FSDD with
# `--frontend "--sr 22050 | --frames 400 --mode sample"` would. The models are trained for one epoch on
# 16 clips: the speed of a forward pass does not depend on the weights. An architecture that
# model_create does not know (cnntrain exits 2) is skipped.
#
# Environment: BIN (tools, default build/bin), SHARED (default ../shared), ARCHS (default
# "baseline resnet18"), BATCH (windows per forward pass, default cnneval's), OVERLAP (default 0.5),
# MINUTES (length of the recording, FSDD repeated as needed, default 0: FSDD once), PROFILE=1 (perf
# record of the baseline run, top symbols, when perf is installed). Skips when ../shared is absent.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-build/bin}; SHARED=${SHARED:-../shared}; ARCHS=${ARCHS:-baseline resnet18}
BATCH=${BATCH:-}; OVERLAP=${OVERLAP:-0.5}; MINUTES=${MINUTES:-0}; PROFILE=${PROFILE:-0}
[ -d "$SHARED/data/fsdd" ] || { echo "bench/scan: skip: $SHARED/data/fsdd is absent"; exit 0; }
D=$(cd "$SHARED/data/fsdd" && pwd)
command -v sox >/dev/null || { echo "bench/scan: skip: sox is needed to build the recording"; exit 0; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cp "$BIN/cnneval" "$BIN/cnntrain" "$BIN/wav2mel" "$BIN/specnorm" "$BIN/splitset" "$tmp/"   # others may rebuild build/bin
B=$tmp

# the long recording
find "$D" -name '*.wav' | sort > "$tmp/list"
sox $(cat "$tmp/list") "$tmp/fsdd.wav"
if [ "$MINUTES" != 0 ]; then
    reps=$(awk -v m="$MINUTES" -v s="$(soxi -D "$tmp/fsdd.wav")" 'BEGIN { r = int(m * 60 / s); print r < 1 ? 1 : r + (m * 60 > r * s) }')
    sox $(for i in $(seq "$reps"); do echo "$tmp/fsdd.wav"; done) "$tmp/long.wav" trim 0 $((MINUTES * 60))
else
    mv "$tmp/fsdd.wav" "$tmp/long.wav"
fi
secs=$(soxi -D "$tmp/long.wav")

# 16 clips of two classes, 1x128x400, for the one-epoch models
mkdir -p "$tmp/data/a" "$tmp/data/b"
head -8 "$tmp/list" | xargs -I{} ln -s {} "$tmp/data/a/"
tail -8 "$tmp/list" | xargs -I{} ln -s {} "$tmp/data/b/"
"$B/splitset" -q -r 100/0/0 "$tmp/data" "$tmp/split"
"$B/wav2mel" -q --list "$tmp/split/train.tsv" -o "$tmp/mels" -m "$tmp/mels.tsv"
"$B/specnorm" -q --frames 400 -m "$tmp/mels.tsv" --stack "$tmp/train.npy" --labels "$tmp/train-labels.npy"

printf 'bench/scan: %.1f min of FSDD (8 kHz) -> 22050 Hz, 128 mels, windows of 400 frames, overlap %s, 1 thread, %s\n' \
    "$(echo "$secs / 60" | bc -l)" "$OVERLAP" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
printf '%-16s %9s %8s %9s | %7s %7s %7s %7s | %8s\n' arch "x real" wall windows decode resample spectro network "peak MiB"
echo "(x real: seconds of audio per second of wall time; x cpu: per second of the process's CPU time, steadier on a shared machine)"
for arch in $ARCHS; do
    if ! "$B/cnntrain" -q --threads 1 --epochs 1 --batch 16 --arch "$arch" --no-augment --train "$tmp/train.npy" \
        --frontend "--sr 22050 | --frames 400 --mode sample" -o "$tmp/$arch.safetensors" 2>"$tmp/train.err"; then
        printf '%-16s skipped: %s\n' "$arch" "$(head -1 "$tmp/train.err" | sed 's/^cnntrain: error: //')"
        continue
    fi
    run=(nice "$B/cnneval" --scan -v --threads 1 --overlap "$OVERLAP" ${BATCH:+--batch "$BATCH"} "$tmp/$arch.safetensors" "$tmp/long.wav" --results /dev/null)
    if [ "$PROFILE" = 1 ] && [ "$arch" = baseline ] && command -v perf >/dev/null; then
        perf record -q -o "$tmp/perf.data" "${run[@]}" 2>"$tmp/scan.err"
    elif [ -x /usr/bin/time ]; then
        /usr/bin/time -f '%U %S' -o "$tmp/cpu" "${run[@]}" 2>"$tmp/scan.err"
    else
        "${run[@]}" 2>"$tmp/scan.err"
    fi
    sed -n 's/.*audio in \([0-9.]*\) s (\([0-9]*\)x real time), \([0-9]*\) windows.*/\2 \1 \3/p' "$tmp/scan.err" > "$tmp/sum"
    sed -n 's/.*decode \([0-9.]*\) s, resample \([0-9.]*\) s, spectrogram \([0-9.]*\) s, network \([0-9.]*\) s/\1 \2 \3 \4/p' "$tmp/scan.err" > "$tmp/times"
    read -r rtf wall windows < "$tmp/sum"; read -r td tr ts tn < "$tmp/times"
    peak=$(sed -n 's/.*peak memory \([0-9.]*\) MiB.*/\1/p' "$tmp/scan.err")
    cpu=
    [ -s "$tmp/cpu" ] && cpu=$(awk -v s="$secs" '{ printf "%.0fx cpu", s / ($1 + $2) }' "$tmp/cpu") && rm -f "$tmp/cpu"
    printf '%-16s %8sx %7ss %9s | %6ss %6ss %6ss %6ss | %8s  %s\n' "$arch" "$rtf" "$wall" "$windows" "$td" "$tr" "$ts" "$tn" "$peak" "$cpu"
    if [ "$arch" = baseline ]; then
        printf '%-16s %8.0fx  (decode + resample + spectrogram alone)\n' "  front end" "$(echo "$secs / ($td + $tr + $ts)" | bc -l)"
    fi
done
if [ -s "$tmp/perf.data" ]; then
    echo "perf, baseline run, top symbols:"
    perf report -i "$tmp/perf.data" --no-children --sort symbol 2>/dev/null | grep -E '^ +[0-9.]+%' | head -12 || true
fi
