#!/usr/bin/env bash
# The K fold models as an ensemble against each of them alone (issue 17), on a test part held out
# beforehand and used for nothing else: for each data set, a main split WITH a test part (grouped as in
# run.sh), `make tune TUNE_BUDGET=1 TUNE_FOLDS=K` (the one candidate: cnntrain's defaults + OPTS)
# trains K fold models inside train+val, then cnneval scores each fold model and their ensemble
# (cnneval -m ... -m ...) on the test stack; the main run's single model (trained on train, early-
# stopped on val) is scored too. Usage: bench/cv/ensemble.sh [drums|watkins|fsdd ...].
# Environment as run.sh (OUTDIR, BIN, MK, SHARED, EPOCHS, PATIENCE, THREADS, BASE), OPTS (cnntrain options
# added to BASE), K (3). Writes $OUTDIR/ensemble.tsv and walltime lines.
set -eu -o pipefail
cd "$(dirname "$0")/../.."
OUTDIR=${OUTDIR:-outputs/bench-cv}
BIN=${BIN:-build/bin}
MK=${MK:-pipeline.mk}
SHARED=${SHARED:-../shared/data}
EPOCHS=${EPOCHS:-40}; PATIENCE=${PATIENCE:-10}; THREADS=${THREADS:-2}
BASE=${BASE:---threads $THREADS --epochs $EPOCHS --patience $PATIENCE}
OPTS=${OPTS:-}
K=${K:-3}
mkdir -p "$OUTDIR"
[ -f "$OUTDIR/ensemble.tsv" ] || printf 'dataset\tfolds\ttest_recordings\tfold_acc_mean\tfold_acc_std\tfold_acc_min\tfold_acc_max\tensemble_acc\tgain\tmain_model_acc\topts\n' > "$OUTDIR/ensemble.tsv"
[ -f "$OUTDIR/walltime.tsv" ] || printf 'dataset\tfolds\trecipes\tseconds\n' > "$OUTDIR/walltime.tsv"
acc() { sed -n 's/.*"accuracy": *\([0-9.eE+-]*\).*/\1/p' "$1" | head -n 1; }
run() {   # run NAME make-variables...
    local name=$1; shift
    local out="$OUTDIR/ens-$name" t0=$(date +%s)
    make -f "$MK" tune evaluate BIN="$BIN" OUT="$out" MODELS=baseline TUNE_BUDGET=1 TUNE_FOLDS="$K" TUNE_STOP= \
        TRAIN_OPTS="$BASE $OPTS" "$@" > "$OUTDIR/ens-$name.log" 2>&1
    local models=() accs=() k
    for k in $(seq 1 "$K"); do
        "$BIN/cnneval" -q "$out/tune/fold$k/models/tune-c01.safetensors" "$out/test.npy" -o "$out/ens/fold$k"
        models+=(-m "$out/tune/fold$k/models/tune-c01.safetensors"); accs+=("$(acc "$out/ens/fold$k/metrics.json")")
    done
    "$BIN/cnneval" -q "${models[@]}" "$out/test.npy" -o "$out/ens/all"
    local e; e=$(acc "$out/ens/all/metrics.json")
    local n=$(( $(wc -l < "$out/split/test.tsv") - 1 ))
    printf '%s\n' "${accs[@]}" | awk -v d="$name" -v k="$K" -v n="$n" -v e="$e" -v m="$(acc "$out/eval/baseline/metrics.json")" -v o="$BASE $OPTS" -v OFS='\t' \
        '{ s += $1; q += $1 * $1; if (NR == 1 || $1 < lo) lo = $1; if (NR == 1 || $1 > hi) hi = $1 }
         END { mu = s / NR; sd = NR > 1 ? sqrt((q - NR * mu * mu) / (NR - 1)) : 0
               printf "%s\t%d\t%d\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t%+.4f\t%.4f\t%s\n", d, k, n, mu, sd, lo, hi, e, e - mu, m, o }' >> "$OUTDIR/ensemble.tsv"
    printf 'ens-%s\t%s\t1\t%s\n' "$name" "$K" $(( $(date +%s) - t0 )) >> "$OUTDIR/walltime.tsv"
    tail -n 1 "$OUTDIR/ensemble.tsv"
}
for d in ${@:-drums watkins fsdd}; do case $d in
  drums)   run drums DATA=data/drums.tsv SPLIT_OPTS='--ratios 60/20/20' TUNE_SPLIT_OPTS='--ratios 60/40/0' MEL_OPTS='--n-mels 64' FRAMES=64 ;;
  watkins) run watkins DATA="$SHARED/watkins10" SPLIT_OPTS="--group '^([0-9]+_[A-Z]+_[0-9]+)_[12]\.wav' --ratios 70/15/15" \
             MEL_OPTS='--sr 16000 --n-fft 512 --hop 256 --n-mels 64' FRAMES=64 ;;
  fsdd)    run fsdd DATA="$SHARED/fsdd" SPLIT_OPTS="--group '^[0-9]+_([a-z]+)_'" \
             MEL_OPTS='--sr 8000 --n-fft 256 --hop 128 --n-mels 32' FRAMES=48 ;;
  *) echo "bench/cv/ensemble.sh: unknown data set $d" >&2; exit 2 ;;
esac; done
