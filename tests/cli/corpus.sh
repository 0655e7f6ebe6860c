# The hostile audio corpus (tests/corpus/wav): every bad_* file is refused with one line naming it and
# exit 1, good_* files convert, odd_* files may go either way but never crash.
. "$(dirname "$0")/lib.sh"
for f in "$TESTS"/corpus/wav/*; do
    n=$(basename "$f")
    case $n in
    bad_*) expect_error "$n refused" "$(basename "$f")" 1 "$BIN/wav2mel" --sr 0 "$f" "$W/$n.npy"; no_partial "$n leaves no output" "$W/$n.npy" ;;
    good_*) check "$n converts" "$BIN/wav2mel" --sr 0 "$f" "$W/$n.npy" ;;
    *) "$BIN/wav2mel" --sr 0 "$f" "$W/$n.npy" 2>/dev/null; rc=$?
       [ $rc -le 1 ] && ok "$n: no crash (exit $rc)" || notok "$n: exit $rc" ;;
    esac
done
