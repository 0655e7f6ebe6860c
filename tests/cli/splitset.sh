# splitset: class folders / TSV lists -> train.tsv, val.tsv, test.tsv, classes.tsv.
# Fake data sets are empty *.wav files (splitset never opens them).
. "$TESTS/cli/lib.sh"
S=$BIN/splitset
TAB=$(printf '\t')
export LC_ALL=C

# mkclass DIR N [PREFIX]: N empty recordings DIR/PREFIX_i.wav
mkclass() {
    local d=$1 n=$2 p=${3:-f} i
    mkdir -p "$d"
    for ((i = 1; i <= n; i++)); do : >"$d/${p}_$i.wav"; done
}
# rows OUT: "path<TAB>split" for every listed file, sorted
rows() {
    local sp
    for sp in train val test; do tail -n +2 "$1/$sp.tsv" | cut -f1 | sed "s/\$/$TAB$sp/"; done | sort
}
# groups_ok OUT: no group column value in two splits
groups_ok() {
    local sp
    for sp in train val test; do tail -n +2 "$1/$sp.tsv" | cut -f4 | sort -u | sed "s/\$/$TAB$sp/"; done |
        awk -F'\t' '{ if (($1 in s) && s[$1] != $2) { print "group " $1 " in " s[$1] " and " $2 > "/dev/stderr"; bad = 1 } s[$1] = $2 }
                    END { exit bad }'
}
# count OUT SPLIT: data rows in OUT/SPLIT.tsv
count() { echo $(($(wc -l <"$1/$2.tsv") - 1)); }
# class_counts_within OUT TOL TRAIN VAL TEST: every class's counts in classes.tsv within TOL of the targets
class_counts_within() {
    awk -F'\t' -v tol="$2" -v a="$3" -v b="$4" -v c="$5" 'NR > 1 {
        d1 = $3 - a; d2 = $4 - b; d3 = $5 - c
        if (d1 < -tol || d1 > tol || d2 < -tol || d2 > tol || d3 < -tol || d3 > tol) { print "class " $2 ": " $3 "/" $4 "/" $5 > "/dev/stderr"; bad = 1 }
    } END { exit bad }' "$1/classes.tsv"
}

export -f rows groups_ok count class_counts_within
export TAB
cd "$W" || exit 1

# --- help and usage ---------------------------------------------------------------------------------------
"$S" --help >help.out 2>help.err
rc=$?
missing=""
for o in --ratios --group --test-match --test-list --seed --fresh --quiet --help; do grep -q -- "$o" help.out || missing="$missing $o"; done
if [ $rc = 0 ] && [ -z "$missing" ] && [ ! -s help.err ]; then ok "--help: exit 0, every option on stdout"; else notok "--help: rc=$rc, missing:$missing"; fi
"$S" --no-such-option data out >out.txt 2>err.txt
rc=$?
if [ $rc = 2 ] && grep -q '^usage: splitset' err.txt && [ ! -s out.txt ]; then ok "unknown option: usage on stderr, exit 2"; else notok "unknown option: rc=$rc"; fi
"$S" onlyone >out.txt 2>err.txt
rc=$?
if [ $rc = 2 ] && grep -q '^usage: splitset' err.txt; then ok "missing OUTDIR: exit 2"; else notok "missing OUTDIR: rc=$rc"; fi

# --- a folder of class folders ----------------------------------------------------------------------------
# Bytewise order: 'Zebra' < '_x' < 'apple' (Python's sorted(), not the locale's).
mkclass data/apple 100 a
mkclass data/Zebra 100 z
mkclass data/_x 100 x
mkdir -p data/apple/sub/deeper data/apple/.hiddendir data/empty
: >data/apple/sub/deeper/deep.FLAC
: >data/apple/sub/song.Mp3
: >data/apple/.hidden.wav
: >data/apple/.hiddendir/h.wav
: >data/apple/notes.txt
: >data/README.md
"$S" data out1 2>err1.txt
rc=$?
check "folder input: exit 0" test $rc = 0
check "classes.tsv: header and bytewise class order" \
    cmp out1/classes.tsv <(printf 'index\tname\ttrain\tval\ttest\n'; cut -f3- out1/classes.tsv | tail -n +2 |
        paste <(printf '0\tZebra\n1\t_x\n2\tapple\n') -)
check "split headers" bash -c 'for s in train val test; do [ "$(head -n 1 out1/$s.tsv)" = "path${0}label${0}index${0}group" ] || exit 1; done' "$TAB"
check "index column agrees with classes.tsv" bash -c \
    'for s in train val test; do tail -n +2 out1/$s.tsv; done | awk -F"\t" "BEGIN{m[\"Zebra\"]=0; m[\"_x\"]=1; m[\"apple\"]=2} m[\$2] != \$3 {exit 1}"'
check "recursive, case-insensitive extensions; hidden and other files skipped" bash -c \
    "rows out1 | cut -f1 | grep -qx data/apple/sub/deeper/deep.FLAC && rows out1 | cut -f1 | grep -qx data/apple/sub/song.Mp3 &&
     ! rows out1 | grep -q -e hidden -e notes -e README -e empty && [ \$(rows out1 | wc -l) = 302 ]"
check "paths relative as given (INPUT/class/...)" bash -c "! rows out1 | cut -f1 | grep -v '^data/[^/]*/'"
check "rows sorted by path" bash -c 'for s in train val test; do tail -n +2 out1/$s.tsv | cut -f1 | sort -c || exit 1; done'
check "group column is the file stem without groups" grep -q "^data/Zebra/z_7.wav${TAB}Zebra${TAB}0${TAB}z_7\$" out1/train.tsv out1/val.tsv out1/test.tsv
check "each file in exactly one split" bash -c "[ \$(rows out1 | cut -f1 | sort -u | wc -l) = 302 ]"
check "70/15/15 per class within 2" class_counts_within out1 2 70 15 15
check "empty class folder: warning, skipped" bash -c \
    "grep -q 'splitset: warning: data/empty: no audio files' err1.txt && ! grep -q empty out1/classes.tsv"
check "summary on stderr" grep -q '^splitset: train: [0-9]* files' err1.txt
rmdir data/empty # (its warning would be a second line on stderr in the error checks below)
"$S" -q data outq 2>errq.txt
check "-q: no summary" bash -c "! grep -q 'train:' errq.txt"
"$S" data/ outslash 2>/dev/null
check "trailing slash on INPUT: same lists" cmp out1/train.tsv outslash/train.tsv

# determinism and seeds
"$S" -q data out2 2>/dev/null
check "same input and seed: identical bytes" bash -c 'for f in train val test classes; do cmp -s out1/$f.tsv out2/$f.tsv || exit 1; done'
"$S" -q --seed 7 data out3 2>/dev/null
check "another seed: another split" bash -c '! cmp -s out1/train.tsv out3/train.tsv'
check "another seed: still stratified" class_counts_within out3 2 70 15 15

# ratios
"$S" -q --ratios 80/20/0 data out8020 2>err8020.txt
check "80/20/0: test.tsv only a header" bash -c "[ \$(wc -l <out8020/test.tsv) = 1 ] && [ \$(count out8020 train) -ge 238 ]"
check "80/20/0: no warning about the empty test split" bash -c '! grep -q "no files in test" err8020.txt'
"$S" -q --ratios 0.5/0.25/0.25 data outfrac 2>/dev/null
check "fractional ratios 0.5/0.25/0.25" class_counts_within outfrac 2 50 25 25

# a class too small for every split: warning
mkclass small/a 30 a
mkclass small/b 1 b
"$S" -q small outsmall 2>errsmall.txt
check "class absent from a split: warning" grep -q "splitset: warning: class 'b' has no files in val" errsmall.txt

# --- groups -------------------------------------------------------------------------------------------------
# 40 speakers x 3 classes x 5 takes; the speaker is in the name
for c in c0 c1 c2; do
    mkdir -p grp/$c
    for ((s = 1; s <= 40; s++)); do for t in 1 2 3 4 5; do : >"grp/$c/${c}_spk${s}_$t.wav"; done; done
done
"$S" --group '_(spk[0-9]+)_' grp gout 2>gerr.txt
rc=$?
check "--group: exit 0" test $rc = 0
check "--group: no group in two splits" groups_ok gout
check "--group: a speaker's files in one split across classes" bash -c \
    "[ \$(for s in train val test; do grep -l \"${TAB}spk7\$\" gout/\$s.tsv; done | wc -l) = 1 ]"
check "--group: near 70/15/15 per class" class_counts_within gout 10 140 30 30
check "--group: summary counts groups" grep -q '^splitset: train: [0-9]* files, [0-9]* groups' gerr.txt
"$S" -q --group 'spk[0-9]+' grp gout2 2>/dev/null
check "--group without a capture: whole match is the group" bash -c "groups_ok gout2 && grep -q \"${TAB}spk12\$\" gout2/*.tsv"
expect_error "--group: a file name that does not match" "grp/c1/c1_nospeaker\\.wav: .*does not match" 1 \
    bash -c ": >grp/c1/c1_nospeaker.wav; trap 'rm -f grp/c1/c1_nospeaker.wav' EXIT; \"$S\" --group '_(spk[0-9]+)_' grp gbad"
no_partial "--group mismatch: no outputs" gbad/train.tsv

# --- stability --------------------------------------------------------------------------------------------
cp -r grp grp2
"$S" -q --group '_(spk[0-9]+)_' grp2 stab 2>/dev/null
rows stab | sed 's|^grp2/||' >stab.before
# new takes of old speakers, new speakers, a new class, and one file removed
for c in c0 c1 c2; do
    for ((s = 1; s <= 40; s += 3)); do : >"grp2/$c/${c}_spk${s}_9.wav"; done
    for ((s = 41; s <= 60; s++)); do for t in 1 2 3 4 5; do : >"grp2/$c/${c}_spk${s}_$t.wav"; done; done
done
mkdir -p grp2/a_new
for ((s = 1; s <= 60; s += 2)); do : >"grp2/a_new/a_new_spk${s}_1.wav"; done
rm grp2/c0/c0_spk2_1.wav
"$S" --group '_(spk[0-9]+)_' grp2 stab 2>stab.err
rc=$?
rows stab | sed 's|^grp2/||' >stab.after
check "stability: second run exit 0" test $rc = 0
check "stability: no earlier file changed split" bash -c \
    "join -t \"$TAB\" stab.before stab.after | awk -F'\t' '\$2 != \$3 {bad=1} END {exit bad}' && [ \$(join -t \"$TAB\" stab.before stab.after | wc -l) = 599 ]"
check "stability: new takes follow their speaker" bash -c \
    "for s in 1 4 7 10; do a=\$(grep \"c0/c0_spk\${s}_1.wav\" stab.after | cut -f2); b=\$(grep \"c1/c1_spk\${s}_9.wav\" stab.after | cut -f2);
     c=\$(grep \"a_new/a_new_spk\${s}_1.wav\" stab.after | cut -f2); [ \"\$a\" = \"\$b\" ] || exit 1; [ -z \"\$c\" ] || [ \"\$c\" = \"\$a\" ] || exit 1; done"
check "stability: groups still whole" groups_ok stab
check "stability: vanished file dropped" bash -c "! grep -q c0_spk2_1.wav stab.after && [ \$(wc -l <stab.after) = \$(find grp2 -name '*.wav' | wc -l) ]"
check "stability: new groups placed, all splits used" bash -c \
    "for s in train val test; do grep -q 'spk5[0-9]' stab/\$s.tsv || exit 1; done"
check "stability: summary reports new files" grep -q '(.*new)' stab.err
check "stability: classes re-indexed with the new class" grep -q "^0${TAB}a_new${TAB}" stab/classes.tsv
# the same with single files (no groups)
cp -r data data2
"$S" -q data2 stab1 2>/dev/null
rows stab1 >stab1.before
mkclass data2/apple 130 b
mkclass data2/_x 20 y
"$S" -q data2 stab1 2>/dev/null
rows stab1 >stab1.after
check "stability without groups: no earlier file changed split" bash -c \
    "join -t \"$TAB\" stab1.before stab1.after | awk -F'\t' '\$2 != \$3 {bad=1} END {exit bad}' && [ \$(join -t \"$TAB\" stab1.before stab1.after | wc -l) = 302 ]"
check "stability without groups: still near 70/15/15 for the grown class" \
    awk -F'\t' '$2 == "apple" { exit !($3 >= 160 && $3 <= 166 && $4 >= 33 && $4 <= 37 && $5 >= 33 && $5 <= 37) }' stab1/classes.tsv
"$S" -q --fresh data2 stab1f 2>/dev/null
"$S" -q --fresh data2 stab1 2>/dev/null
check "--fresh ignores the earlier split" cmp stab1/train.tsv stab1f/train.tsv
# regrouping makes the earlier split contradictory
expect_error "earlier split puts a group in two splits" "stab1: .*group .* in both .*--fresh" 1 \
    "$S" --group '^([a-zA-Z]+)' data2 stab1
check "failed run leaves the earlier outputs alone" cmp stab1/train.tsv stab1f/train.tsv

# --- fixed test set -------------------------------------------------------------------------------------
"$S" -q --test-match '_[0-4]\.wav$' data tm 2>/dev/null
check "--test-match: test set is exactly the matching files" bash -c \
    "diff <(tail -n +2 tm/test.tsv | cut -f1) <(rows out1 | cut -f1 | grep -E '_[0-4]\.wav\$')"
check "--test-match: rest split 70:15 per class" bash -c \
    "awk -F'\t' 'NR > 1 { n = \$3 + \$4; if (\$3 < int(n * 70 / 85) - 1 || \$3 > int(n * 70 / 85) + 2) exit 1 }' tm/classes.tsv"
printf 'data/apple/a_17.wav\nelsewhere/z_3.wav\n\nx_99.wav\r\nnot_there.wav\n' >list.txt
"$S" --test-list list.txt data tl 2>tl.err
check "--test-list: by base name" bash -c \
    "[ \"\$(tail -n +2 tl/test.tsv | cut -f1 | tr '\n' ' ')\" = 'data/Zebra/z_3.wav data/_x/x_99.wav data/apple/a_17.wav ' ]"
check "--test-list: warning for names matching no file" grep -q "splitset: warning: list.txt: 1 name matches no file (e.g. 'not_there.wav')" tl.err
printf 'label\tpath\nq\tdata/apple/a_5.wav\nq\ta_6.wav\n' >list.tsv
"$S" -q --test-list list.tsv data tl2 2>/dev/null
check "--test-list: TSV with a path column" bash -c \
    "[ \"\$(tail -n +2 tl2/test.tsv | cut -f1 | tr '\n' ' ')\" = 'data/apple/a_5.wav data/apple/a_6.wav ' ]"
expect_error "fixed test set splitting a group" "grp: group 'spk[0-9]+' has files both in the fixed test set" 1 \
    "$S" --group '_(spk[0-9]+)_' --test-match '_1\.wav$' grp tgbad
no_partial "straddling group: no outputs" tgbad/train.tsv
"$S" -q --group '_(spk[0-9]+)_' --test-match '_spk(1|2|3)_' grp tg 2>/dev/null
check "--test-match with groups: whole groups in test" bash -c \
    "groups_ok tg && [ \$(count tg test) = 45 ] && [ \"\$(tail -n +2 tg/test.tsv | cut -f4 | sort -u | tr '\n' ' ')\" = 'spk1 spk2 spk3 ' ]"

# --- TSV input --------------------------------------------------------------------------------------------
{
    printf 'path\tlabel\tgroup\n'
    for ((i = 1; i <= 60; i++)); do printf 'rec/%d.wav\t%s\tg%d\n' "$i" "$([ $((i % 2)) = 0 ] && echo yes || echo no)" $((i % 12)); done
} >in.tsv
"$S" -q in.tsv tsvout 2>/dev/null
rc=$?
check "TSV input: exit 0" test $rc = 0
check "TSV input: classes from sorted labels" bash -c "[ \"\$(cut -f1,2 tsvout/classes.tsv | tail -n +2 | tr '\t\n' ': ')\" = '0:no 1:yes ' ]"
check "TSV input: group column keeps groups whole" groups_ok tsvout
check "TSV input: group column written" grep -q "^rec/12.wav${TAB}yes${TAB}1${TAB}g0\$" tsvout/train.tsv tsvout/val.tsv tsvout/test.tsv
"$S" -q - tsvstdin <in.tsv 2>/dev/null
check "TSV on stdin ('-')" cmp tsvout/train.tsv tsvstdin/train.tsv
"$S" -q --group '^([0-9])' in.tsv tsvre 2>/dev/null
check "--group wins over a group column" bash -c "groups_ok tsvre && cut -f4 tsvre/train.tsv | grep -qx '[0-9]' && ! grep -q '${TAB}g[0-9]*\$' tsvre/*.tsv"
printf 'path\tlabel\nx/1.wav\ta\nx/2.wav\tb\nx/3.wav\ta\nx/4.wav\tb\n' >nogroup.tsv
"$S" -q --ratios 50/50/0 nogroup.tsv ngout 2>/dev/null
check "TSV input without a group column: 50/50 per class" bash -c \
    "[ \$(count ngout train) = 2 ] && [ \$(count ngout val) = 2 ] && awk -F'\t' 'NR > 1 && (\$3 != 1 || \$4 != 1) {exit 1}' ngout/classes.tsv"

# --- errors: exit status, one line naming the file, nothing written ----------------------------------------
expect_error "missing INPUT" "nosuch: cannot open" 1 "$S" nosuch e1
no_partial "missing INPUT: no outputs" e1
mkdir -p emptydir
expect_error "empty folder" "emptydir: no class folders" 1 "$S" emptydir e2
no_partial "empty folder: no outputs" e2
mkdir -p noaudio/a noaudio/b && : >noaudio/a/readme.txt
expect_error "no audio at all" "noaudio: no audio files" 1 "$S" noaudio e3
no_partial "no audio: no outputs" e3
printf 'a\0b\n' >binary.tsv
expect_error "unreadable TSV (binary)" "binary.tsv: not a text file" 1 "$S" binary.tsv e4
no_partial "unreadable TSV: no outputs" e4
printf 'file\tclass\nx.wav\ta\n' >nocols.tsv
expect_error "TSV without path/label columns" "nocols.tsv: .*path and label" 1 "$S" nocols.tsv e5
no_partial "TSV without columns: no outputs" e5
printf 'path\tlabel\nx.wav\ta\ny.wav\tb\nx.wav\tb\n' >dup.tsv
expect_error "TSV listing a path twice" "dup.tsv: line 4: 'x.wav' is listed twice" 1 "$S" dup.tsv e6
printf 'path\tlabel\nx.wav\t\n' >nolabel.tsv
expect_error "TSV with an empty label" "nolabel.tsv: line 2: empty label" 1 "$S" nolabel.tsv e6
printf 'path\tlabel\nx\r.wav\ta\n' >cr.tsv
expect_error "TSV with a carriage return in a path" "cr.tsv: line 2: path 'x\\\\r.wav'" 1 "$S" cr.tsv e6
no_partial "bad TSV: no outputs" e6
expect_error "bad --group regex (usage)" "--group: bad regular expression" 2 "$S" --group '(' data e7
expect_error "bad --test-match regex (usage)" "--test-match: bad regular expression" 2 "$S" --test-match 'a[' data e7
expect_error "ratios all zero (usage)" "--ratios: '0/0/0': .*zero" 2 "$S" --ratios 0/0/0 data e7
expect_error "malformed ratios (usage)" "--ratios: '70/-5/15'" 2 "$S" --ratios 70/-5/15 data e7
expect_error "two ratios only (usage)" "--ratios: '80/20'" 2 "$S" --ratios 80/20 data e7
expect_error "fixed test set with no train or val (usage)" "--ratios: .*train and val" 2 "$S" --ratios 0/0/1 --test-match x data e7
expect_error "bad --seed (usage)" "--seed: 'x1'" 2 "$S" --seed x1 data e7
expect_error "INPUT and --test-list both stdin (usage)" "cannot both be '-'" 2 "$S" --test-list - - e7
no_partial "usage errors: no outputs" e7
expect_error "missing --test-list file" "nolist.txt: cannot open" 1 "$S" --test-list nolist.txt data e9
no_partial "missing --test-list: no outputs" e9
: >afile
expect_error "OUTDIR is a file" "afile: not a folder" 1 "$S" data afile
expect_error "OUTDIR's parent missing" "nodir/out: cannot create folder" 1 "$S" data nodir/out
no_partial "OUTDIR's parent missing: nothing created" nodir
mkdir -p blocked/classes.tsv
expect_error "an output path taken by a folder" "blocked/classes.tsv: is a folder" 1 "$S" --fresh data blocked
no_partial "output path taken: no train.tsv" blocked/train.tsv
if [ "$(id -u)" != 0 ]; then
    mkdir -p ro && chmod 555 ro
    expect_error "unwritable OUTDIR" "ro/train.tsv: cannot create output" 1 "$S" data ro
    no_partial "unwritable OUTDIR: no outputs" ro/train.tsv
    chmod 755 ro
else
    skip "unwritable OUTDIR: running as root, permissions are not enforced (OUTDIR-is-a-file and missing-parent cases checked instead)"
fi
mkdir -p tabs/a && : >"tabs/a/x${TAB}y.wav"
expect_error "tab in a file name" 'tabs/a/x\\ty\.wav: .*tab or newline' 1 "$S" tabs e8
no_partial "tab in a file name: no outputs" e8
mkdir -p nl/a && : >"nl/a/x
y.wav"
expect_error "newline in a file name" 'nl/a/x\\ny\.wav: .*tab or newline' 1 "$S" nl e8

# --- real data: FSDD (../shared/data/fsdd) ----------------------------------------------------------------
if have_shared; then
    F=$SHARED/data/fsdd
    "$S" -q --group '^[0-9]+_([a-z]+)_' "$F" fsdd_spk 2>/dev/null
    rc=$?
    check "FSDD speaker split: exit 0, 3000 files" bash -c "[ $rc = 0 ] && [ \$(rows fsdd_spk | wc -l) = 3000 ]"
    check "FSDD speaker split: each speaker in one split" groups_ok fsdd_spk
    check "FSDD speaker split: 6 speakers, all splits used" bash -c \
        "[ \$(for s in train val test; do tail -n +2 fsdd_spk/\$s.tsv | cut -f4 | sort -u; done | wc -l) = 6 ] &&
         [ \$(count fsdd_spk val) -gt 0 ] && [ \$(count fsdd_spk test) -gt 0 ]"
    "$S" -q --test-match '_[0-4]\.wav$' "$F" fsdd_off 2>/dev/null
    check "FSDD official split: 300 test files, 2700 others" bash -c \
        "[ \$(count fsdd_off test) = 300 ] && [ \$((\$(count fsdd_off train) + \$(count fsdd_off val))) = 2700 ]"
    check "FSDD official split: test = takes 0-4, 30 per digit" bash -c \
        "! tail -n +2 fsdd_off/test.tsv | cut -f1 | grep -vE '_[0-4]\.wav\$' && awk -F'\t' 'NR > 1 && \$5 != 30 {exit 1}' fsdd_off/classes.tsv"
else
    skip "FSDD speaker split: no $SHARED/data/fsdd"
    skip "FSDD official split: no $SHARED/data/fsdd"
fi
# ---- --folds K: cross-validation folds ----------------------------------------------------------------------
rm -rf cvd && for c in ant bee cow; do mkclass cvd/$c 10 $c; done
mkclass cvd/dog 7 dog
"$S" -q --folds 5 cvd cv1 2>cv.err; rc=$?
[ $rc = 0 ] && [ -s cv1/folds.tsv ] && for k in 1 2 3 4 5; do [ -s cv1/fold$k/test.tsv ] || rc=9; done
[ $rc = 0 ] && [ "$(head -1 cv1/folds.tsv)" = "path${TAB}label${TAB}index${TAB}group${TAB}fold" ] \
    && [ "$(tail -n +2 cv1/folds.tsv | wc -l)" = 37 ] && ok "--folds 5: folds.tsv (path label index group fold) and fold1..fold5" \
    || notok "--folds 5: rc=$rc $(cat cv.err) $(ls cv1)"
bad=""
for k in 1 2 3 4 5; do
    want=$(awk -F'\t' -v k=$k 'NR > 1 && $5 == k { print $1 }' cv1/folds.tsv | sort)
    [ "$(tail -n +2 cv1/fold$k/test.tsv | cut -f1 | sort)" = "$want" ] || bad="$bad fold$k-test"
    [ "$(rows cv1/fold$k | cut -f1)" = "$(tail -n +2 cv1/folds.tsv | cut -f1 | sort)" ] || bad="$bad fold$k-cover"
    [ "$(rows cv1/fold$k | cut -f1 | uniq -d)" = "" ] || bad="$bad fold$k-twice"
done
[ -z "$bad" ] && ok "each fold's test.tsv is that fold; its train/val/test hold every file once" || notok "folds:$bad"
strat=$(awk -F'\t' 'NR > 1 { n[$2, $5]++; tot[$2]++ } END { for (c in tot) for (k = 1; k <= 5; k++) { d = n[c, k] - tot[c] / 5; if (d > 1 || d < -1) print c, k, n[c, k] } }' cv1/folds.tsv)
[ -z "$strat" ] && ok "--folds: stratified (every class within one file of its share in every fold)" || notok "--folds strata: $strat"
val=$(for k in 1 2 3 4 5; do echo "$(count cv1/fold$k val) $(count cv1/fold$k train)"; done | awk '{ f = $1 / ($1 + $2); if (f < 0.1 || f > 0.25) print }')
[ -z "$val" ] && [ "$(count cv1/fold1 val)" -ge 4 ] && ok "--folds: val carved from the other folds by --ratios' train:val (15/85 of them, per class)" \
    || notok "--folds val sizes (val train): $val"
"$S" -q --folds 5 cvd cv2 && cmp -s cv1/folds.tsv cv2/folds.tsv && diff -r cv1 cv2 >/dev/null && ok "--folds: same input and seed, same bytes" \
    || notok "--folds not deterministic"
rm -rf cvg && for c in ant bee; do for s in s1 s2 s3 s4 s5 s6 s7; do for i in 1 2; do mkdir -p cvg/$c; : > cvg/$c/${s}_${c}_$i.wav; done; done; done
"$S" -q --folds 3 --group '^(s[0-9])_' cvg cvg1 2>/dev/null
[ "$(tail -n +2 cvg1/folds.tsv | cut -f4,5 | sort -u | cut -f1 | uniq -d)" = "" ] && [ "$(tail -n +2 cvg1/folds.tsv | cut -f4 | sort -u | wc -l)" = 7 ] \
    && ok "--folds --group: a group never spans two folds" || notok "--folds groups: $(tail -n +2 cvg1/folds.tsv | cut -f4,5 | sort -u | tr '\n' ' ')"
cp cv1/folds.tsv cv.before
mkclass cvd/ant 3 new; mkclass cvd/eel 5 eel
"$S" -q --folds 5 cvd cv1 2>/dev/null
moved=$(tail -n +2 cv.before | cut -f1,5 | while IFS=$TAB read -r p k; do grep -q "^$p$TAB.*$TAB$k\$" cv1/folds.tsv || echo "$p"; done)
[ -z "$moved" ] && [ "$(tail -n +2 cv1/folds.tsv | wc -l)" = 45 ] && ok "--folds: stable when recordings are added (no earlier file moves)" \
    || notok "--folds moved: $moved"
expect_error "--folds 1" "--folds: '1'" 2 "$S" --folds 1 cvd cvx
expect_error "--folds with a fixed test set" "do not go together" 2 "$S" --folds 3 --test-match 'ant_1' cvd cvx
# the man page's EXAMPLES, run as written (they use data/ -> ../shared/data)
if have_shared && [ -d "$SHARED/data/watkins10" ]; then
    mkdir -p manex && ln -s "$SHARED/data" manex/data
    # "$ " starts a command; a line ending in '|' continues on the next
    ex=$(awk '/^\.Sh EXAMPLES/ { on = 1; next } /^\.Sh / { on = 0 }
              on { if (cont) cmd = cmd " " $0; else if (/^\$ /) cmd = substr($0, 3); else next
                   cont = cmd ~ /\|[ ]*$/; if (!cont) print cmd }' "$TESTS/../man/splitset.1" |
        sed -e "s/\\\\(aq/'/g" -e 's/\\e/\\/g')
    if [ -n "$ex" ]; then
        n=0 bad=""
        while IFS= read -r cmd; do
            n=$((n + 1))
            (cd manex && PATH=$BIN:$PATH eval "$cmd") >/dev/null 2>manex/err || bad="$bad [$cmd: $(head -c 200 manex/err)]"
            grep -q 'warning:' manex/err && bad="$bad [$cmd warns: $(grep -m1 warning: manex/err)]"
        done <<<"$ex"
        if [ -z "$bad" ]; then ok "man page EXAMPLES run ($n commands)"; else notok "man page EXAMPLES:$bad"; fi
    else
        notok "man page EXAMPLES: no '\$ ' lines found in man/splitset.1"
    fi
else
    skip "man page EXAMPLES: they need $SHARED/data/fsdd and $SHARED/data/watkins10"
fi
