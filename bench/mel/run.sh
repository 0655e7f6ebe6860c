#!/usr/bin/env bash
# bench/mel: wav2mel against torchaudio and librosa on every FSDD recording (3,000 files, 8 kHz):
# decode + resample to 22050 Hz + 128-band log-mel, one core and both cores, one run, ratios printed.
# Environment: BIN (tools), PY (Python with Debian's torchaudio 1.13 and librosa), PYPI_PY (optional: a
# Python with the current PyPI torch/torchaudio), SHARED, PROFILE=1 for a callgrind profile of wav2mel.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-build/bin}; PY=${PY:-.venv/bin/python}; SHARED=${SHARED:-../shared}
data=$SHARED/data/fsdd
[ -d "$data" ] || { echo "bench/mel: $data is absent; nothing to measure" >&2; exit 0; }
tmp=$(mktemp -d /dev/shm/bench-mel.XXXXXX 2>/dev/null || mktemp -d); trap 'rm -rf "$tmp"' EXIT
find "$data" -name '*.wav' | sort > "$tmp/list"
n=$(wc -l < "$tmp/list")
cat "$tmp/list" | xargs cat > /dev/null  # warm the page cache for every contender
now() { date +%s.%N; }
ours() { # jobs sr
    local t0 t1; t0=$(now); "$BIN/wav2mel" -q -j "$1" --sr "$2" -l "$tmp/list" "$tmp/out.npy"; t1=$(now)
    echo "$t1 - $t0" | bc -l
}
peer() { # python kind procs sr
    "$1" bench/mel/peer.py "$2" "$tmp/list" "$3" "$4" | awk '{print $2}'
}
rate() { echo "$n / $1" | bc -l; }
printf 'bench/mel: %d FSDD files, decode + resample 8 kHz -> 22050 Hz (soxr HQ) + 128-band log-mel\n' "$n"
printf 'machine: %s, %s cores\n' "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')" "$(nproc)"
declare -A T
for sr in 22050 0; do
    if [ $sr = 0 ]; then echo "-- no resampling (each file at its own 8 kHz): decode + log-mel only"
    else echo "-- resampling to 22050 Hz"; fi
    T[ours1]=$(ours 1 $sr); T[ours2]=$(ours 2 $sr)
    printf '%-46s %9.1f files/s\n' "wav2mel -j 1 (one core)" "$(rate "${T[ours1]}")" "wav2mel -j 2 (two cores)" "$(rate "${T[ours2]}")"
    for pyname in PY PYPI_PY; do
        py=${!pyname:-}
        [ -n "$py" ] && [ -x "$py" ] || continue
        for kind in torchaudio librosa; do
            [ "$pyname" = PYPI_PY ] && [ "$kind" = librosa ] && continue
            ver=$("$py" -c "import $kind; print($kind.__version__)" 2>/dev/null) || { echo "($kind not importable from $py)"; continue; }
            [ "$kind" = torchaudio ] && ver="$ver, torch $("$py" -c 'import torch; print(torch.__version__)')"
            for p in 1 2; do
                t=$(peer "$py" "$kind" "$p" "$sr")
                r=$(echo "${T[ours$p]}" | awk -v t="$t" '{printf "%.2f", t / $1}')
                printf '%-46s %9.1f files/s   ratio wav2mel/peer %s\n' "$kind $ver, $p proc" "$(rate "$t")" "$r"
            done
        done
    done
done
if [ "${PROFILE:-0}" = 1 ] && command -v valgrind >/dev/null; then
    head -n 300 "$tmp/list" > "$tmp/list300"
    valgrind --tool=callgrind --callgrind-out-file="$tmp/cg" "$BIN/wav2mel" -q -l "$tmp/list300" "$tmp/p.npy" 2>/dev/null
    echo "profile (callgrind, 300 files, instructions by function incl. callees):"
    callgrind_annotate --inclusive=yes "$tmp/cg" 2>/dev/null | grep -E 'frontend_run|audio_load|resample_whole|spec_compute|fftw_execute|npy_write|soxr_process|sf_readf_float|log10' | head -12
    callgrind_annotate "$tmp/cg" 2>/dev/null | sed -n '/Ir/,$p' | head -14
fi
