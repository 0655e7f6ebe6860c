#!/usr/bin/env bash
# bench/transfer: training and inference throughput (samples/s) and peak memory of the torchvision
# architectures in C (ours) and in PyTorch, same run: input 1x128x400, batch 16, 2 threads; training =
# forward + cross-entropy + backward + AdamW step, inference = eval-mode forward. Ours feeds the one
# channel through the summed three-channel stem (--in-chans repeat); PyTorch gets it repeated to three
# channels. GFLOP/s count the torchvision model's multiply-adds (x2; x3 for a training step), beside
# the GFLOP/s of OpenBLAS's sgemm and of our gemm_f32 (lib/nn/gemm.h) measured here. Environment: BIN_DIR (build dir with libaudiocnn.a; default
# build), PY (Debian torch with torchvision), PYPI_PY (optional current torch; skipped without
# torchvision), ARCHS (default "resnet18 efficientnet_b0"), THREADS, BATCH, STEPS, ROUNDS (default 3: ours and
# each torch run in turn, that many times; the medians and the per-round ratios' range are printed, since single
# runs on a shared VM swing by 10-20%).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}; PY=${PY:-.venv/bin/python}; THREADS=${THREADS:-2}; BATCH=${BATCH:-16}; STEPS=${STEPS:-6}
ROUNDS=${ROUNDS:-3}
ARCHS=${ARCHS:-resnet18 efficientnet_b0}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cc -O3 -march=x86-64-v2 -Ilib -I/usr/include/x86_64-linux-gnu/openblas-pthread bench/transfer/bench.c \
    "$BUILD/libaudiocnn.a" -lsndfile -lfftw3 -lsoxr -lopenblas -lpng -lm -lpthread -o "$tmp/bench"
cc -O2 -I/usr/include/x86_64-linux-gnu/openblas-pthread bench/train/sgemm.c -lopenblas -o "$tmp/sgemm"
cc -O2 -Ilib bench/transfer/gemm.c "$BUILD/libaudiocnn.a" -lopenblas -lm -lpthread -o "$tmp/gemm"
read -r ours_gf kernel < <("$tmp/gemm" "$THREADS")
printf 'bench/transfer: batch %s, 1x128x400, %s threads; sgemm here: OpenBLAS %s GFLOP/s, ours (%s) %s GFLOP/s\n' \
    "$BATCH" "$THREADS" "$("$tmp/sgemm" "$THREADS")" "$kernel" "$ours_gf"
# share of the FMA peak (bench/peak, passed by make bench as PEAK_GFLOPS) when it is known
of_peak() { [ -n "${PEAK_GFLOPS:-}" ] && printf '  (%.0f%% of the %s GFLOP/s peak)' "$(echo "100 * $1 / $PEAK_GFLOPS" | bc -l)" "$PEAK_GFLOPS" || true; }
[ -z "${PEAK_GFLOPS:-}" ] || echo "gemm_f32: $(of_peak "$ours_gf" | sed 's/^  //')"
# median of the numbers given as arguments
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
for arch in $ARCHS; do
    gf=$("$PY" bench/transfer/peer.py "$arch" flops)
    for mode in train infer; do
        mul=1; [ $mode = train ] && mul=3
        # ROUNDS interleaved rounds (ours, then each torch), so that a slow spell of the machine falls on all
        # of them; each line gives the median, its ratio the medians' ratio, and the per-round ratios' range
        peers=()
        for pyname in PY PYPI_PY; do
            py=${!pyname:-}; [ -n "$py" ] && [ -x "$py" ] && "$py" -c "import torchvision" 2>/dev/null && peers+=("$py")
        done
        ours_runs=(); declare -A peer_runs=() peer_rss=() peer_ver=()
        for ((r = 0; r < ROUNDS; r++)); do
            read -r ours rss < <("$tmp/bench" "$arch" $mode "$BATCH" "$STEPS" "$THREADS")
            ours_runs+=("$ours")
            for i in "${!peers[@]}"; do
                read -r rate prss ver < <("${peers[$i]}" bench/transfer/peer.py "$arch" $mode "$BATCH" "$STEPS" "$THREADS")
                peer_runs[$i]="${peer_runs[$i]:-} $rate"; peer_rss[$i]=$prss; peer_ver[$i]=$ver
            done
        done
        ours=$(median "${ours_runs[@]}")
        printf '%-16s %-5s %-14s %7.1f samples/s %6.1f GFLOP/s  peak RSS %5d MiB%s  (runs:%s)\n' "$arch" $mode "ours" "$ours" \
            "$(echo "$ours * $gf * $mul" | bc -l)" "$rss" "$(of_peak "$(echo "$ours * $gf * $mul" | bc -l)")" \
            "$(printf ' %.1f' "${ours_runs[@]}")"
        for i in "${!peers[@]}"; do
            read -ra runs <<< "${peer_runs[$i]}"
            rate=$(median "${runs[@]}")
            ratios=(); for ((r = 0; r < ROUNDS; r++)); do ratios+=("$(echo "${ours_runs[$r]} / ${runs[$r]}" | bc -l)"); done
            lo=$(printf '%s\n' "${ratios[@]}" | sort -g | head -1); hi=$(printf '%s\n' "${ratios[@]}" | sort -g | tail -1)
            printf '%-16s %-5s %-14s %7.1f samples/s %6.1f GFLOP/s  peak RSS %5d MiB   ours/torch: speed %.2fx (rounds %.2f-%.2fx), memory %.2fx%s  (runs:%s)\n' \
                "$arch" $mode "torch ${peer_ver[$i]}" "$rate" "$(echo "$rate * $gf * $mul" | bc -l)" "${peer_rss[$i]}" \
                "$(echo "$ours / $rate" | bc -l)" "$lo" "$hi" "$(echo "$rss / ${peer_rss[$i]}" | bc -l)" \
                "$(of_peak "$(echo "$rate * $gf * $mul" | bc -l)")" "$(printf ' %.1f' "${runs[@]}")"
        done
        unset peer_runs peer_rss peer_ver
    done
done
