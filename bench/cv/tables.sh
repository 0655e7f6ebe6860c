#!/usr/bin/env bash
# The tables of bench/cv/README.md from run.sh's outputs: per recipe, CV accuracy mean +- sd per data
# set, the mean over the data sets (of those run on all), its difference from def, and the paired
# folds won against def. Usage: bench/cv/tables.sh [OUTDIR] (default outputs/bench-cv).
set -eu -o pipefail
cd "$(dirname "$0")/../.."
OUTDIR=${1:-outputs/bench-cv}
sets=; for d in drums watkins fsdd; do [ -s "$OUTDIR/$d/cv/summary.tsv" ] && sets="$sets $d"; done
awk -F'\t' -v sets="$sets" '
  BEGIN { ns = split(sets, S, " ") }
  FNR == 1 { d = FILENAME; sub(/\/cv\/.*/, "", d); sub(/.*\//, "", d); kind = FILENAME ~ /summary/ ? "s" : "r"; next }
  kind == "s" { if (!($1 in seen)) order[++n] = $1; seen[$1] = 1; m[$1, d] = $3; sd[$1, d] = $4; k[d] = $2 }
  kind == "r" { acc[$1, d, $2] = $3 }
  END {
    printf "| recipe |"; for (i = 1; i <= ns; i++) printf " %s (%d folds) |", S[i], k[S[i]]; printf " mean over data sets | vs def | folds won vs def |\n"
    printf "|---|"; for (i = 1; i <= ns; i++) printf "---|"; printf "---|---|---|\n"
    for (j = 1; j <= n; j++) { r = order[j]; all = 1; s = 0; w = t = 0
      printf "| %s |", r
      for (i = 1; i <= ns; i++) { d = S[i]
        if ((r, d) in m) { printf " %.3f ± %.3f |", m[r, d], sd[r, d]; s += m[r, d]
          for (f = 1; f <= k[d]; f++) { t++; if (acc[r, d, f] > acc["def", d, f]) w++ } }
        else { printf " – |"; all = 0 } }
      if (all) { a = s / ns; if (r == "def") base = a; printf " %.3f | %+.3f | %d of %d |\n", a, a - base, w, t }
      else printf " – | – | – |\n" } }' \
  $(for d in $sets; do echo "$OUTDIR/$d/cv/summary.tsv"; done) $(for d in $sets; do echo "$OUTDIR/$d/cv/results.tsv"; done)
echo
[ -s "$OUTDIR/walltime.tsv" ] && { echo "Wall time:"; column -t "$OUTDIR/walltime.tsv"; }
[ -s "$OUTDIR/ensemble.tsv" ] && { echo; echo "Ensembles:"; column -t -s$'\t' "$OUTDIR/ensemble.tsv"; }
exit 0
