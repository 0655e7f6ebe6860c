# Helpers for the command-line tests: report lines that tests/run.sh counts.
# Sourced by tests/cli/*.sh; BIN, TMPROOT, TESTS and SHARED come from run.sh.
set -u
W=$(mktemp -d "$TMPROOT/cli.XXXXXX")
ok() { echo "ok $*"; }
notok() { echo "not ok $*"; }
skip() { echo "skip $*"; }
check() { # name, then a command that must succeed
    local name=$1; shift
    if "$@" >/dev/null 2>"$W/check.err"; then ok "$name"; else notok "$name: $(head -c 300 "$W/check.err")"; fi
}
# expect_error NAME REGEX EXPECTED_RC CMD...: the command must exit with EXPECTED_RC and print exactly one
# line on stderr, in the "tool: error: ..." form, matching REGEX.
expect_error() {
    local name=$1 re=$2 want=$3; shift 3
    "$@" >"$W/out" 2>"$W/err"
    local rc=$?
    local lines; lines=$(wc -l <"$W/err")
    if [ "$rc" = "$want" ] && [ "$lines" = 1 ] && grep -Eq "^[a-z0-9]+: error: .*$re" "$W/err"; then ok "$name"
    else notok "$name: rc=$rc (want $want), stderr: $(head -c 300 "$W/err")"; fi
}
# no_partial NAME PATH: nothing at PATH and no temporary files beside it
no_partial() {
    local name=$1 path=$2
    if [ ! -e "$path" ] && ! ls "$path".tmp* >/dev/null 2>&1; then ok "$name"; else notok "$name: $path or a temporary file exists"; fi
}
have_shared() { [ -d "$SHARED/data/fsdd" ]; }

# make_tone_splits: 3 classes (cat, dog, owl) x 8 tones of distinct pitch in data/, split with splitset
# into split/, spectrograms (32 mel bands) in mels/<split>/ with manifests, stacked to 32 frames as
# <split>.npy + <split>-labels.npy. Returns non-zero if a tool fails. Needs sox.
make_tone_splits() {
    local f=0 c i s
    for c in cat dog owl; do
        mkdir -p data/$c; f=$((f + 1))
        for i in 1 2 3 4 5 6 7 8; do sox -n -r 16000 -c 1 data/$c/${c}_$i.wav synth 0.$((i + 2)) sine $((f * f * 400 + 25 * i)) 2>/dev/null; done
    done
    "$BIN/splitset" -q data split || return 1
    for s in train val test; do
        "$BIN/wav2mel" -q --n-mels 32 --list split/$s.tsv -o mels/$s -m mels/$s.tsv || return 1
        "$BIN/specnorm" -q --frames 32 -m mels/$s.tsv --stack $s.npy --labels $s-labels.npy || return 1
    done
}
