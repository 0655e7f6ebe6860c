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

# Multi-label test data (cnntrain.sh, cnneval.sh), mltones: tones of 3 families (lo ~500 Hz, mid ~1500 Hz,
# hi ~3500 Hz), each clip one tone or two mixed (100 010 001 110 011 101); takes 1-7 train (42 clips),
# 8-10 val (18); ml-<split>.npy stacks with (N, 3) uint8 targets in ml-<split>-labels.npy (needs PY3).
# mknpy FILE DESCR SHAPE VALUES...: a .npy by python3 alone
mknpy() { "$PY3" - "$@" <<'PY'
import struct, sys
path, descr, shape, vals = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
h = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shape)
h += " " * (63 - (10 + len(h)) % 64) + "\n"
fmt = {"|u1": "B", "<f4": "f", "<i8": "q"}[descr]
data = b"".join(struct.pack("<" + fmt, (float if fmt == "f" else int)(v)) for v in vals)
open(path, "wb").write(b"\x93NUMPY\x01\x00" + len(h).to_bytes(2, "little") + h.encode() + data)
PY
}
mltones() {
    local i combo c f s parts
    mkdir -p mlw
    for s in train val; do : > ml-$s.list; : > ml-$s.rows; done
    for i in 1 2 3 4 5 6 7 8 9 10; do
        s=$([ $i -le 7 ] && echo train || echo val)
        for combo in 100 010 001 110 011 101; do
            parts=()
            for c in 0 1 2; do
                [ "${combo:$c:1}" = 1 ] || continue
                f=$(( (c == 0 ? 500 : c == 1 ? 1500 : 3500) + 20 * i ))
                sox -n -r 16000 -c 1 mlw/t${i}_${combo}_$c.wav synth 0.5 sine $f 2>/dev/null || return 1
                parts+=(mlw/t${i}_${combo}_$c.wav)
            done
            if [ ${#parts[@]} = 1 ]; then cp "${parts[0]}" mlw/c${i}_$combo.wav; else sox -m "${parts[@]}" mlw/c${i}_$combo.wav || return 1; fi
            echo mlw/c${i}_$combo.wav >> ml-$s.list
            echo $combo | sed 's/./& /g' >> ml-$s.rows
        done
    done
    for s in train val; do
        $BIN/wav2mel -q --n-mels 32 --list ml-$s.list -o mlm/$s -m mlm/$s.tsv || return 1
        $BIN/specnorm -q --frames 32 -m mlm/$s.tsv --stack ml-$s.npy || return 1
        mknpy ml-$s-labels.npy '|u1' "($(wc -l < ml-$s.rows), 3)" $(cat ml-$s.rows) || return 1
    done
}
