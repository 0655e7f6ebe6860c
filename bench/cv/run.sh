#!/usr/bin/env bash
# Cross-validated recipe comparison on the three small data sets (issue 17): for each data set, one
# `make cv` with every recipe of RECIPES as a model (features shared), then each data set's
# summary and paired tables. Usage: bench/cv/run.sh [drums|watkins|fsdd ...] (default: all three).
# Environment: OUTDIR (default outputs/bench-cv), BIN (default build/bin), MK (default pipeline.mk),
# EPOCHS (40), PATIENCE (10), THREADS (2), BASE (cnntrain options every recipe shares).
# Wall times go to $OUTDIR/walltime.tsv. Never uses a test split: make cv's folds only.
set -eu -o pipefail
cd "$(dirname "$0")/../.."
OUTDIR=${OUTDIR:-outputs/bench-cv}
BIN=${BIN:-build/bin}
MK=${MK:-pipeline.mk}
SHARED=${SHARED:-../shared/data}
EPOCHS=${EPOCHS:-40}; PATIENCE=${PATIENCE:-10}; THREADS=${THREADS:-2}
# --mixup 0: the recipes are relative to the defaults before mixup 0.2 became one (as measured)
BASE=${BASE:---threads $THREADS --epochs $EPOCHS --patience $PATIENCE --mixup 0}
# name=cnntrain options ('|' for spaces), after BASE; def = the old defaults; ablations turn one
# default off, candidates add or change one thing
# (the drums were also run with cos=--schedule|cosine and masks2=--masks|2 added)
RECIPES=${RECIPES:-"def=
noaug=--no-augment
nocw=--no-class-weights
nodrop=--dropout|0
nowd=--wd|0
nosched=--schedule|none
mix=--mixup|0.2
ls=--label-smoothing|0.1
combo=--mixup|0.2|--label-smoothing|0.1|--schedule|cosine"}
mkdir -p "$OUTDIR"
[ -f "$OUTDIR/walltime.tsv" ] || printf 'dataset\tfolds\trecipes\tseconds\n' > "$OUTDIR/walltime.tsv"
models=; vars=()
for r in $RECIPES; do n=${r%%=*}; o=${r#*=}; models="$models $n"; vars+=("ARCH_$n=baseline" "TRAIN_OPTS_$n=${o//|/ }"); done
run() {   # run NAME FOLDS make-variables...
    local name=$1 folds=$2; shift 2
    local t0=$(date +%s)
    make -f "$MK" cv BIN="$BIN" OUT="$OUTDIR/$name" FOLDS="$folds" MODELS="${models# }" "${vars[@]}" \
        TRAIN_OPTS="$BASE" "$@" > "$OUTDIR/$name.log" 2>&1
    local t1=$(date +%s)
    printf '%s\t%s\t%s\t%s\n' "$name" "$folds" "$(echo $models | wc -w)" $((t1 - t0)) >> "$OUTDIR/walltime.tsv"
    echo "== $name: $folds folds, $((t1 - t0)) s"; column -t "$OUTDIR/$name/cv/summary.tsv"
}
for d in ${@:-drums watkins fsdd}; do case $d in
  drums)   run drums 4 DATA=data/drums.tsv SPLIT_OPTS='--ratios 60/40/0' MEL_OPTS='--n-mels 64' FRAMES=64 ;;
  watkins) run watkins 3 DATA="$SHARED/watkins10" SPLIT_OPTS="--group '^([0-9]+_[A-Z]+_[0-9]+)_[12]\.wav' --ratios 80/20/0" \
             MEL_OPTS='--sr 16000 --n-fft 512 --hop 256 --n-mels 64' FRAMES=64 ;;
  fsdd)    run fsdd 3 DATA="$SHARED/fsdd" SPLIT_OPTS="--group '^[0-9]+_([a-z]+)_' --ratios 75/25/0" \
             MEL_OPTS='--sr 8000 --n-fft 256 --hop 128 --n-mels 32' FRAMES=48 ;;
  *) echo "bench/cv/run.sh: unknown data set $d" >&2; exit 2 ;;
esac; done
