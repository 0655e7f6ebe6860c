# Annotated long recordings -> labelled windows (splitset --windows): a Raven selection table (two views
# of one selection) and an Audacity label track over sox recordings; windows and labels against times
# computed by hand, bad tables refused, background class, class subset, band, splits keep recordings whole.
. "$(dirname "$0")/lib.sh"
command -v sox >/dev/null || { skip "annotations: sox not installed"; exit 0; }
mkdir "$W/d" && cd "$W/d"
sox -n -r 16000 -c 1 n.wav synth 10 whitenoise vol 0.02 2>/dev/null
sox -n -r 16000 -c 1 t.wav synth 1 sine 1000 pad 1 8 2>/dev/null
sox -m n.wav t.wav rec1.wav 2>/dev/null                      # 10 s, a tone at 1-2 s
sox -n -r 16000 -c 1 rec2.wav synth 8 whitenoise vol 0.02 2>/dev/null   # 8 s
H=$'Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)\tAnnotation\tNotes'
printf '%s\n1\tWaveform 1\t1\t1.0\t2.0\t0\t8000\tbird\tx\n1\tSpectrogram 1\t1\t1.0\t2.0\t500\t1500\tbird\tx\n2\tSpectrogram 1\t1\t3.5\t4.25\t100\t900\tfrog\t\n3\tSpectrogram 1\t1\t6.2\t6.4\t3000\t4000\tbird\t\n' "$H" >rec1.Table.1.selections.txt
printf '0.5\t1.5\tfrog\n4.0\t6.0\tbird\n\\\t2000\t3000\n4.5\t5.0\tfrog\n' >rec2.txt
printf 'recording\ttable\nrec1.wav\trec1.Table.1.selections.txt\nrec2.wav\trec2.txt\n' >list.tsv

# 2-s windows every second; a selection labels a window holding half of it (the default): by hand,
# rec1: bird 1-2 -> [0,2) [1,3); frog 3.5-4.25 -> [2,4) [3,5); bird 6.2-6.4 -> [5,7) [6,8)
# rec2: frog 0.5-1.5 -> [0,2) [1,3); bird 4-6 -> [3,5) [4,6) [5,7); frog 4.5-5 -> [3,5) [4,6)
cat >want.tsv <<'T'
path	start	end	bird	frog	group
rec1.wav	0	2	1	0	rec1.wav
rec1.wav	1	3	1	0	rec1.wav
rec1.wav	2	4	0	1	rec1.wav
rec1.wav	3	5	0	1	rec1.wav
rec1.wav	4	6	0	0	rec1.wav
rec1.wav	5	7	1	0	rec1.wav
rec1.wav	6	8	1	0	rec1.wav
rec1.wav	7	9	0	0	rec1.wav
rec1.wav	8	10	0	0	rec1.wav
rec2.wav	0	2	0	1	rec2.wav
rec2.wav	1	3	0	1	rec2.wav
rec2.wav	2	4	0	0	rec2.wav
rec2.wav	3	5	1	1	rec2.wav
rec2.wav	4	6	1	1	rec2.wav
rec2.wav	5	7	1	0	rec2.wav
rec2.wav	6	8	0	0	rec2.wav
T
printf 'index\tname\ttrain\tval\ttest\n0\tbird\t7\t0\t0\n1\tfrog\t6\t0\t0\n' >want-classes.tsv
check "windows of a Raven table and an Audacity track" "$BIN/splitset" -q --windows 2 --step 1 -r 100/0/0 list.tsv out
cmp -s out/train.tsv want.tsv && ok "windows and multi-label rows as computed by hand (views collapsed)" || notok "windows: $(diff want.tsv out/train.tsv | head -c 400)"
cmp -s out/classes.tsv want-classes.tsv && ok "classes.tsv counts windows per class" || notok "classes.tsv: $(cat out/classes.tsv)"
[ "$(wc -l <out/val.tsv)" = 1 ] && [ "$(wc -l <out/test.tsv)" = 1 ] && ok "empty splits: header only" || notok "val/test not empty"
check "--overlap 0.5 = --step 1" "$BIN/splitset" -q --windows 2 --overlap 0.5 -r 100/0/0 list.tsv out-ov
cmp -s out/train.tsv out-ov/train.tsv && ok "--overlap gives the same windows" || notok "--overlap differs"

# background class, a band (2000-5000 Hz: rec1's first two selections drop out, rec2's unbanded frogs stay)
check "--background and --band" "$BIN/splitset" -q --windows 2 --step 1 -r 100/0/0 --background noise --band 2000:5000 list.tsv outb
want_b=$'path\tstart\tend\tbird\tfrog\tnoise\tgroup\nrec1.wav\t0\t2\t0\t0\t1\trec1.wav\nrec1.wav\t1\t3\t0\t0\t1\trec1.wav\nrec1.wav\t2\t4\t0\t0\t1\trec1.wav\nrec1.wav\t3\t5\t0\t0\t1\trec1.wav\nrec1.wav\t4\t6\t0\t0\t1\trec1.wav\nrec1.wav\t5\t7\t1\t0\t0\trec1.wav\nrec1.wav\t6\t8\t1\t0\t0\trec1.wav\nrec1.wav\t7\t9\t0\t0\t1\trec1.wav\nrec1.wav\t8\t10\t0\t0\t1\trec1.wav\nrec2.wav\t0\t2\t0\t1\t0\trec2.wav\nrec2.wav\t1\t3\t0\t1\t0\trec2.wav\nrec2.wav\t2\t4\t0\t0\t1\trec2.wav\nrec2.wav\t3\t5\t1\t1\t0\trec2.wav\nrec2.wav\t4\t6\t1\t1\t0\trec2.wav\nrec2.wav\t5\t7\t1\t0\t0\trec2.wav\nrec2.wav\t6\t8\t0\t0\t1\trec2.wav'
[ "$(cat outb/train.tsv)" = "$want_b" ] && ok "background class and band as computed by hand" || notok "background/band: $(cat outb/train.tsv | head -c 600)"
# a class subset, an overlap in seconds (>= 0.75 s: rec1's short bird at 6.2-6.4 labels nothing)
check "--classes and --min-overlap" "$BIN/splitset" -q --windows 2 --step 1 -r 100/0/0 --classes bird --min-overlap 0.75 list.tsv outc
got=$(awk -F'\t' 'NR > 1 && $4 == 1 { printf "%s@%s ", $1, $2 }' outc/train.tsv)
[ "$(head -n 1 outc/train.tsv)" = $'path\tstart\tend\tbird\tgroup' ] && [ "$got" = "rec1.wav@0 rec1.wav@1 rec2.wav@3 rec2.wav@4 rec2.wav@5 " ] &&
    ok "class subset and overlap in seconds" || notok "subset: $(head -n 1 outc/train.tsv) / $got"
# Raven's naming convention in one folder
mkdir -p folder && cp rec1.wav rec1.Table.1.selections.txt folder/
check "a folder of recordings with their Raven tables" "$BIN/splitset" -q --windows 2 --step 1 -r 100/0/0 folder outf
[ "$(cut -f 2- outf/train.tsv | sed 's|folder/||g')" = "$(head -n 10 want.tsv | cut -f 2- | sed 's|rec1.wav|rec1.wav|')" ] &&
    ok "folder input: the same windows" || notok "folder: $(head -n 3 outf/train.tsv)"
# the label column by name
printf 'Begin Time (s)\tEnd Time (s)\tAnnotation\tSpecies\n1\t2\t\tx\n3\t5\t\tx\n' >sp.txt
printf 'recording\ttable\nrec1.wav\tsp.txt\n' >sp.tsv
check "--label-column" "$BIN/splitset" -q --windows 2 -r 100/0/0 --label-column Species --background none sp.tsv outs
[ "$(head -n 1 outs/train.tsv)" = $'path\tstart\tend\tnone\tx\tgroup' ] && ok "labels from the named column" || notok "label column: $(head -n 1 outs/train.tsv)"

# bad tables: one line naming the file and line, exit 1, nothing written
bad() { # name, regex, table text
    printf '%s' "$3" >bad.txt
    printf 'recording\ttable\nrec1.wav\trec1.Table.1.selections.txt\nrec2.wav\tbad.txt\n' >bad.tsv
    expect_error "$1 refused" "$2" 1 "$BIN/splitset" -q --windows 2 bad.tsv outbad
    no_partial "$1: nothing written" outbad/train.tsv
}
bad "malformed row" "bad.txt: line 2: a label line has 2 fields" $'0.5\t1.5\tfrog\n1\t2\n'
bad "time past the recording's end" "bad.txt: line 1: end 8.5 s past the recording's end \\(8 s\\)" $'7\t8.5\tfrog\n'
bad "end before begin" "bad.txt: line 1: end 1 s before begin 2 s" $'2\t1\tfrog\n'
bad "bad number" "bad.txt: line 1: bad time" $'x\t1\tfrog\n'
bad "unknown label column" "bad.txt: line 1: no label column 'Annotation'" $'Begin Time (s)\tEnd Time (s)\tSpecies\n1\t2\tbird\n'
bad "views that disagree" "bad.txt: line 3: selection 1 disagrees" "$H"$'\n1\tWaveform 1\t1\t1\t2\t0\t8000\tbird\t\n1\tSpectrogram 1\t1\t1\t2.5\t0\t8000\tbird\t\n'
expect_error "a missing recording refused" "nope.wav" 1 "$BIN/splitset" -q --windows 2 <(printf 'recording\ttable\nnope.wav\trec2.txt\n') outm
expect_error "a list without a table column refused" "columns 'recording' and 'table'" 1 "$BIN/splitset" -q --windows 2 <(printf 'path\tlabel\nrec1.wav\tx\n') outm
expect_error "--background named like a label refused" "--background 'bird'" 1 "$BIN/splitset" -q --windows 2 --background bird list.tsv outm
no_partial "nothing written" outm/train.tsv
expect_error "--step without --windows" "need --windows" 2 "$BIN/splitset" --step 1 list.tsv outm
expect_error "--step and --overlap" "do not go together" 2 "$BIN/splitset" --windows 2 --step 1 --overlap 0.5 list.tsv outm
expect_error "--band malformed" "--band" 2 "$BIN/splitset" --windows 2 --band 5000:100 list.tsv outm
expect_error "--windows 0" "--windows" 2 "$BIN/splitset" --windows 0 list.tsv outm

# splits keep recordings whole: 12 recordings with their tables, default ratios
printf 'recording\ttable\n' >many.tsv
for i in $(seq 1 12); do
    if [ $((i % 2)) = 1 ]; then cp rec1.wav r$i.wav; cp rec1.Table.1.selections.txt r$i.txt; else cp rec2.wav r$i.wav; cp rec2.txt r$i.txt; fi
    printf 'r%d.wav\tr%d.txt\n' $i $i >>many.tsv
done
check "12 recordings split" "$BIN/splitset" -q --windows 2 --step 1 --background noise many.tsv outm12
n=$(for s in train val test; do tail -n +2 outm12/$s.tsv | cut -f 1 | sort -u | sed "s/^/$s /"; done | cut -d' ' -f 2 | sort | uniq -d | wc -l)
tot=$(cat outm12/train.tsv outm12/val.tsv outm12/test.tsv | grep -vc '^path')
[ "$n" = 0 ] && [ "$tot" = $((6 * 9 + 6 * 7)) ] && ok "every recording in one split, every window once" || notok "split: $n recordings in two splits, $tot windows"
for s in train val test; do [ "$(wc -l <outm12/$s.tsv)" -gt 1 ] || notok "$s empty"; done
check "same again" "$BIN/splitset" -q --windows 2 --step 1 --background noise --fresh many.tsv outm12b
same=1; for f in train val test classes; do cmp -s outm12/$f.tsv outm12b/$f.tsv || same=0; done
[ $same = 1 ] && ok "deterministic" || notok "two runs differ"
# stable: a recording added keeps the others where they were
printf 'r13.wav\tr13.txt\n' >>many.tsv; cp rec2.wav r13.wav; cp rec2.txt r13.txt
cp -r outm12 outm13
check "a recording added" "$BIN/splitset" -q --windows 2 --step 1 --background noise many.tsv outm13
moved=0; for s in train val test; do for r in $(tail -n +2 outm12/$s.tsv | cut -f 1 | sort -u); do grep -q "^$r	" outm13/$s.tsv || moved=1; done; done
[ $moved = 0 ] && ok "earlier recordings stay in their splits" || notok "a recording moved"
# groups by a rule on the file name: r1..r9 vs r10..r13 by the first digit
check "--group" "$BIN/splitset" -q --windows 2 --background noise -g '^r([0-9])' --fresh many.tsv outg
[ "$(tail -q -n +2 outg/*.tsv | grep -v '^[0-9]' | awk -F'\t' '{print $NF}' | sort -u | tr '\n' ' ')" = "1 2 3 4 5 6 7 8 9 " ] &&
    ok "group column from --group" || notok "groups: $(tail -q -n +2 outg/train.tsv | awk -F'\t' '{print $NF}' | sort -u | tr '\n' ' ')"

# wav2mel on a windows list: each row's [start, end) cut from the long recording = wav2mel on the part
# cut out first by sox (byte for byte, at the file's rate and resampled); the manifest keeps start, end
# and the class columns
check "wav2mel --list on windows" "$BIN/wav2mel" -q --sr 0 --n-mels 32 --list outb/train.tsv -o mels -m mels.tsv
sox rec1.wav clip1.wav trim 1 2 2>/dev/null; sox rec2.wav clip2.wav trim 3 2 2>/dev/null
"$BIN/wav2mel" -q --sr 0 --n-mels 32 clip1.wav clip1.npy && "$BIN/wav2mel" -q --sr 0 --n-mels 32 clip2.wav clip2.npy
cmp -s clip1.npy mels/rec1_001000.npy && cmp -s clip2.npy mels/rec2_003000.npy && ok "windows = the parts cut first (file rate)" || notok "windows differ from sox trim"
"$BIN/wav2mel" -q --sr 22050 --n-mels 32 clip1.wav clip1r.npy
"$BIN/wav2mel" -q --sr 22050 --n-mels 32 --list outb/train.tsv -o melsr
cmp -s clip1r.npy melsr/rec1_001000.npy && ok "windows = the parts cut first (resampled)" || notok "resampled window differs"
[ "$(head -n 1 mels.tsv)" = $'key\tnpy\tsource\tlabel\tindex\tgroup\tstart\tend\tshape\tbird\tfrog\tnoise' ] &&
    [ "$(awk -F'\t' '$1 == "rec2_003000" { print $7, $8, $10, $11, $12 }' mels.tsv)" = "3.000000 5.000000 1 1 0" ] &&
    [ "$(tail -n +2 mels.tsv | wc -l)" = 16 ] && ok "manifest: start, end and the class columns" || notok "manifest: $(head -n 3 mels.tsv)"
printf 'path\tstart\tend\tbird\tgroup\nrec2.wav\t7\t9\t1\tg\n' >past.tsv
expect_error "a window past the recording's end refused" "rec2.wav: part \\[7, 9\\) s ends past" 1 "$BIN/wav2mel" -q --list past.tsv -o mp
printf 'path\tstart\tend\tbird\tgroup\nrec2.wav\t3\t2\t1\tg\n' >back.tsv
expect_error "a window ending before it starts refused" "back.tsv: line 2: bad window" 1 "$BIN/wav2mel" -q --list back.tsv -o mp
# one pass per recording: overlapping windows of a 44.1-kHz FLAC and a WAV in time order, then one that
# starts earlier again (the reader reopens), with -j 1 and -j 2: each window the same bytes as that
# window listed alone (decoded from the start)
sox rec1.wav -r 44100 long.flac 2>/dev/null
{ printf 'path\tstart\tend\tx\tgroup\n'; for f in long.flac rec2.wav; do awk -v f=$f 'BEGIN { for (t = 0; t + 0.7 <= 7.9; t += 0.3) printf "%s\t%.1f\t%.1f\t1\tg\n", f, t, t + 0.7 }'; done
  printf 'long.flac\t2.05\t2.75\t1\tg\n'; } >pass.tsv
check "windows in one pass (-j 1)" "$BIN/wav2mel" -q --sr 22050 --list pass.tsv -o pass1
check "windows in one pass (-j 2)" "$BIN/wav2mel" -q -j 2 --sr 22050 --list pass.tsv -o pass2
same=1; n=0
while IFS=$'\t' read -r p s e x g; do
    [ "$p" = path ] && continue
    printf 'path\tstart\tend\tx\tgroup\n%s\t%s\t%s\t1\tg\n' "$p" "$s" "$e" >one.tsv
    rm -rf one && "$BIN/wav2mel" -q --sr 22050 --list one.tsv -o one || same=0
    k=$(ls one); cmp -s "one/$k" "pass1/$k" && cmp -s "one/$k" "pass2/$k" || same=0; n=$((n + 1))
done <pass.tsv
[ $same = 1 ] && ok "$n windows read in one pass = each decoded alone (byte for byte, -j 1 and -j 2)" || notok "one-pass windows differ"
printf 'path\tstart\tend\tbird\tgroup\n' >none.tsv
expect_error "a windows list without rows: a usage error, no crash" "no input recordings" 2 "$BIN/wav2mel" -q --list none.tsv -o mp -m mp.tsv
no_partial "nothing written for an empty list" mp.tsv

# the whole chain: split windows -> spectrograms -> stacks with (N, K) uint8 targets -> cnntrain --multilabel
check "12 recordings: spectrograms of every split's windows" bash -c '
    for s in train val test; do "$0"/wav2mel -q --sr 0 --n-mels 32 --list outm12/$s.tsv -o m12/$s -m m12/$s.tsv || exit 1; done' "$BIN"
check "stacks with multi-label targets (specnorm --classes)" bash -c '
    for s in train val test; do "$0"/specnorm -q --frames 64 -m m12/$s.tsv --stack $s.npy --labels $s-labels.npy --classes outm12/classes.tsv || exit 1; done' "$BIN"
if [ -x "${PY:-}" ] && "$PY" -c 'import numpy' 2>/dev/null; then
    "$PY" - outm12 <<'P' && ok "targets (N, K) uint8 = the windows' class columns, numpy reads them" || notok "targets differ"
import csv, sys, numpy as np
d = sys.argv[1]
names = [r["name"] for r in csv.DictReader(open(d + "/classes.tsv"), delimiter="\t")]
for s in ("train", "val", "test"):
    rows = list(csv.DictReader(open(d + "/" + s + ".tsv"), delimiter="\t"))
    y = np.load(s + "-labels.npy")
    assert y.dtype == np.uint8 and y.shape == (len(rows), len(names)), (y.dtype, y.shape)
    assert (y == np.array([[int(r[c]) for c in names] for r in rows], dtype=np.uint8)).all()
    assert np.load(s + ".npy").shape == (len(rows), 1, 32, 64)
P
else
    t=$(head -c 10 train-labels.npy | tail -c 2 | od -An -tu2 | tr -d ' ')
    head -c $((10 + t)) train-labels.npy | grep -q "'descr': '|u1', 'fortran_order': False, 'shape': ($(($(wc -l <outm12/train.tsv) - 1)), 3)" &&
        ok "targets: a (N, 3) uint8 .npy" || notok "targets header: $(head -c 120 train-labels.npy | tail -c 110)"
fi
check "cnntrain --multilabel on the stacked windows" "$BIN/cnntrain" -q --multilabel --train train.npy --val val.npy \
    --classes outm12/classes.tsv --epochs 2 --batch 16 -o ml.safetensors --history mlhist
[ -s ml.safetensors ] && grep -q val_map mlhist* 2>/dev/null && ok "a multi-label model and its history (val_map)" || notok "no model or history: $(ls)"
expect_error "--classes naming a class the manifest lacks" "no column for class 'owl'" 1 "$BIN/specnorm" -q --frames 64 -m m12/train.tsv \
    --stack x.npy --labels x-labels.npy --classes <(printf 'index\tname\n0\towl\n')
no_partial "nothing stacked" x.npy
expect_error "--classes without --labels" "--classes goes with --labels" 2 "$BIN/specnorm" -m m12/train.tsv --stack x.npy --classes outm12/classes.tsv

# every new option in --help and in the man pages
missing=
for o in --windows --step --overlap --min-overlap --min-fraction --band --classes --background --label-column; do
    "$BIN/splitset" --help | grep -q -- "$o " || missing+=" help:$o"
    grep -qF -- "Fl \\-${o#--}" "$TESTS/../man/splitset.1" || missing+=" man:$o"
done
"$BIN/specnorm" --help | grep -q -- "--classes " || missing+=" specnorm-help:--classes"
grep -qF -- '\-\-classes' "$TESTS/../man/specnorm.1" || missing+=" specnorm-man:--classes"
[ -z "$missing" ] && ok "new options in --help and the man pages" || notok "missing:$missing"
