#!/usr/bin/env bash
# specnorm from the command line: exact small cases, every error path, no partial outputs, determinism,
# usage, --help and the man page. Arrays are written with printf (no Python needed here); the NumPy
# parity checks are in tests/py/test_specnorm.py.
. "$TESTS/cli/lib.sh"
S=$BIN/specnorm
cd "$W" || exit 1

# Little-endian bytes of the values the tests use: float32, and int64 as iN.
declare -A B=(
    [0]='\x00\x00\x00\x00' [1]='\x00\x00\x80\x3f' [2]='\x00\x00\x00\x40' [3]='\x00\x00\x40\x40'
    [4]='\x00\x00\x80\x40' [5]='\x00\x00\xa0\x40' [6]='\x00\x00\xc0\x40' [7]='\x00\x00\xe0\x40'
    [8]='\x00\x00\x00\x41' [-1]='\x00\x00\x80\xbf' [0.5]='\x00\x00\x00\x3f' [0.25]='\x00\x00\x80\x3e'
    [nan]='\x00\x00\xc0\x7f' [inf]='\x00\x00\x80\x7f'
    [i0]='\x00\x00\x00\x00\x00\x00\x00\x00' [i1]='\x01\x00\x00\x00\x00\x00\x00\x00'
    [i2]='\x02\x00\x00\x00\x00\x00\x00\x00'
)

# mknpy "SHAPE" VALUE... > FILE: a .npy v1.0 with exactly numpy.save's header. SHAPE is the tuple's
# inside ("1, 2, 3", "4,", ""); values are cycled to fill the array; DESCR=<i8 for int64.
mknpy() {
    local shape=$1 descr=${DESCR:-<f4}; shift
    local numel=1 d first=${1-}
    local IFS=,
    for d in $shape; do d=${d// /}; [ -n "$d" ] && numel=$((numel * d)); done
    unset IFS
    local dict="{'descr': '$descr', 'fortran_order': False, 'shape': ($shape), }" spaces=0
    first=${shape%%,*}
    [ -n "$shape" ] && spaces=$((21 - ${#first}))
    local hlen=$((${#dict} + spaces + 1))
    local pad=$((64 - (10 + hlen) % 64))
    local total=$((hlen + pad))
    printf '\x93NUMPY\x01\x00'
    printf "\\x$(printf %02x $((total & 255)))\\x$(printf %02x $((total >> 8)))"
    printf '%s%*s\n' "$dict" $((spaces + pad)) ''
    local vals=("$@") data='' k
    for ((k = 0; k < numel; k++)); do data+=${B[${vals[k % ${#vals[@]}]}]}; done
    printf '%b' "$data"
}

manifest() { # manifest FILE then rows "key npy index shape" on stdin
    local out=$1
    printf 'key\tnpy\tsource\tlabel\tindex\tgroup\tstart\tend\tshape\n' >"$out"
    while read -r key npy index shape; do
        printf '%s\t%s\t%s.wav\tc%s\t%s\tg\t0.000000\t1.000000\t%s\n' "$key" "$npy" "$key" "$index" "$index" "$shape" >>"$out"
    done
}

same() { # same NAME FILE1 FILE2
    if cmp -s "$2" "$3"; then ok "$1"; else notok "$1: $2 and $3 differ"; fi
}

# ---- fixtures ------------------------------------------------------------------------------------
mknpy "1, 2, 6" 0 1 2 3 4 5 6 7 8 -1 0.5 0.25 >a.npy
mknpy "1, 2, 2" 1 2 3 4 >b.npy
mknpy "1, 1, 4" 0 1 2 4 >c.npy
cat a.npy b.npy >ab.npy

# ---- exact values (mode none, minmax) ------------------------------------------------------------
check "mode none, frames 0: byte-identical copy" bash -c "'$S' --mode none --frames 0 a.npy o.npy && cmp a.npy o.npy"
mknpy "2, 6" 0 1 2 3 4 5 6 7 8 -1 0.5 0.25 >a2d.npy
check "2-D (F, T) input becomes (1, F, T)" bash -c "'$S' --mode none --frames 0 a2d.npy o.npy && cmp a.npy o.npy"
mknpy "1, 2, 4" 0 1 2 3 6 7 8 -1 >want.npy
check "crop start" bash -c "'$S' --mode none --frames 4 --crop start a.npy o.npy && cmp want.npy o.npy"
mknpy "1, 2, 4" 1 2 3 4 7 8 -1 0.5 >want.npy
check "crop centre is the default" bash -c "'$S' --mode none --frames 4 a.npy o.npy && cmp want.npy o.npy"
mknpy "1, 2, 4" 1 2 0 0 3 4 0 0 >want.npy
check "pad zero is the default, at the end" bash -c "'$S' --mode none --frames 4 b.npy o.npy && cmp want.npy o.npy"
mknpy "1, 2, 4" 1 2 2 2 3 4 4 4 >want.npy
check "pad edge repeats the last frame" bash -c "'$S' --mode none --frames 4 --pad edge b.npy o.npy && cmp want.npy o.npy"
mknpy "1, 1, 4" 0 0.25 0.5 1 >want.npy
check "minmax to [0, 1]" bash -c "'$S' --mode minmax --frames 0 c.npy o.npy && cmp want.npy o.npy"
mknpy "1, 1, 3" 2 >const.npy
mknpy "1, 1, 5" 0 >want.npy
check "minmax: constant array gives zeros (padded)" bash -c "'$S' --mode minmax --frames 5 const.npy o.npy && cmp want.npy o.npy"
mknpy "1, 1, 3" 0 >want.npy
check "sample: constant array gives zeros" bash -c "'$S' --frames 3 const.npy o.npy && cmp want.npy o.npy"
check "default frames is 400" bash -c "'$S' a.npy o.npy && head -c 128 o.npy | grep -aq \"'shape': (1, 2, 400)\""

# ---- streams -------------------------------------------------------------------------------------
"$S" --mode none --frames 4 a.npy oa.npy && "$S" --mode none --frames 4 b.npy ob.npy && cat oa.npy ob.npy >want.npy
check "a stream of two arrays, in order" bash -c "'$S' --mode none --frames 4 ab.npy o.npy && cmp want.npy o.npy"
check "stdin to stdout" bash -c "'$S' --mode none --frames 4 - - <ab.npy >o.npy && cmp want.npy o.npy"
check "through a pipe" bash -c "cat ab.npy | '$S' --mode none --frames 4 - - | cat >o.npy && cmp want.npy o.npy"
check "output may replace the input" bash -c "cp ab.npy inplace.npy && '$S' --mode none --frames 4 inplace.npy inplace.npy && cmp want.npy inplace.npy"

# ---- manifests -----------------------------------------------------------------------------------
manifest m.tsv <<EOF
k1 $W/a.npy 1 1x2x6
k2 $W/ab.npy 0 1x2x6
k3 $W/ab.npy 2 1x2x2
EOF
check "-m -o DIR -M" "$S" --mode none --frames 4 -m m.tsv -o odir -M odir.tsv
same "-o: DIR/<key>.npy" oa.npy odir/k1.npy
same "-o: second array of a stream" ob.npy odir/k3.npy
if [ "$(cut -f1,2,4,5,9 odir.tsv | tr '\t' ' ' | tr '\n' ';')" = "key npy label index shape;k1 odir/k1.npy c1 1 1x2x4;k2 odir/k2.npy c0 0 1x2x4;k3 odir/k3.npy c2 2 1x2x4;" ]
then ok "-M with -o: rows with the new npy and shape"; else notok "-M with -o: $(tr '\n' ';' <odir.tsv)"; fi
check "-o creates parent directories" "$S" -q -m m.tsv -o deep/er/dir
check "-M may go inside a new DIR" bash -c "'$S' -m m.tsv -o inside -M inside/m.tsv && [ -s inside/m.tsv ] && [ -s inside/k3.npy ]"
check "-M output manifest is readable again" "$S" --mode none --frames 0 -m odir.tsv -o again
same "re-reading through -M manifest" odir/k2.npy again/k2.npy

mknpy "3, 1, 2, 4" 0 1 2 3 6 7 8 -1 0 1 2 3 6 7 8 -1 1 2 0 0 3 4 0 0 >want.npy
check "--stack" "$S" --mode none --frames 4 --crop start -m m.tsv --stack x.npy --labels y.npy -M xm.tsv
same "--stack: (N, 1, F, T), rows in manifest order" want.npy x.npy
DESCR='<i8' mknpy "3," i1 i0 i2 >want.npy
same "--labels: int64 (N,) from the index column" want.npy y.npy
if [ "$(cut -f1,2,9 xm.tsv | tr '\t' ' ' | tr '\n' ';')" = "key npy shape;k1 x.npy 1x2x4;k2 x.npy 1x2x4;k3 x.npy 1x2x4;" ]
then ok "-M with --stack: row i describes sample i"; else notok "-M with --stack: $(tr '\n' ';' <xm.tsv)"; fi

manifest mstdin.tsv <<EOF
s1 - 0 1x2x6
s2 - 0 1x2x2
EOF
mknpy "2, 1, 2, 4" 1 2 3 4 7 8 -1 0.5 1 2 0 0 3 4 0 0 >want.npy
check "manifest rows reading stdin ('-')" bash -c "'$S' --mode none --frames 4 -m mstdin.tsv --stack o.npy <ab.npy && cmp want.npy o.npy"

# ---- --fit and --stats ---------------------------------------------------------------------------
mknpy "1, 2, 2" 1 3 2 2 >f1.npy    # band 0: 1 3, band 1: 2 2
mknpy "1, 2, 2" 1 3 4 4 >f2.npy    # band 0: 1 3, band 1: 4 4
cat f1.npy f2.npy >f12.npy
mknpy "2, 2" 2 3 1 1 >want.npy     # means 2 3, stds 1 1
check "--fit: per-band mean and population std" bash -c "'$S' --fit st.npy f12.npy && cmp want.npy st.npy"
check "--fit writes nothing else" bash -c "'$S' --fit st.npy f12.npy >o.txt && ! [ -s o.txt ]"
manifest mf.tsv <<EOF
f1 $W/f1.npy 0 1x2x2
f2 $W/f2.npy 1 1x2x2
EOF
check "--fit with -m = --fit on the stream" bash -c "'$S' --fit st2.npy -m mf.tsv && cmp st.npy st2.npy"
check "--stats implies --mode stats (values: tests/py)" "$S" --stats st.npy --frames 2 f2.npy o.npy
check "--stats with --mode stats" "$S" --mode stats --stats st.npy f2.npy o.npy

# ---- data errors: one line, exit 1, nothing left behind -------------------------------------------
expect_error "missing input file" "nope\.npy: cannot open" 1 "$S" nope.npy o1.npy
no_partial "missing input: no output" o1.npy
head -c -3 a.npy >trunc.npy
expect_error "truncated .npy" "trunc\.npy: truncated" 1 "$S" trunc.npy o1.npy
no_partial "truncated: no output" o1.npy
head -c 30 a.npy >trunchead.npy
expect_error "truncated .npy header" "trunchead\.npy: truncated" 1 "$S" trunchead.npy o1.npy
echo "this is not numpy at all" >text.npy
expect_error "not a .npy file" "text\.npy: not a \.npy file" 1 "$S" text.npy o1.npy
: >empty.npy
expect_error "empty input" "empty\.npy: empty input" 1 "$S" empty.npy o1.npy
no_partial "empty input: no output" o1.npy
mknpy "1, 2, 3" 1 nan 2 >nan.npy
cat a.npy nan.npy >nanstream.npy
expect_error "NaN names file and position" "nanstream\.npy \(array 1\): NaN value at band 0, frame 1" 1 "$S" nanstream.npy o1.npy
no_partial "NaN in the second array: no output" o1.npy
mknpy "1, 2, 3" 1 2 3 4 5 inf >inf.npy
expect_error "Inf is an error" "inf\.npy \(array 0\): infinite value at band 1, frame 2" 1 "$S" inf.npy o1.npy
expect_error "NaN caught by --fit" "NaN value" 1 "$S" --fit o1.npy nan.npy
no_partial "--fit error: no stats file" o1.npy
mknpy "4," 1 >d1.npy
expect_error "1-D array" "d1\.npy \(array 0\): expected a \(1, F, T\) or \(F, T\) spectrogram, got shape 4" 1 "$S" d1.npy o1.npy
mknpy "1, 1, 2, 2" 1 >d4.npy
expect_error "4-D array" "got shape 1x1x2x2" 1 "$S" d4.npy o1.npy
mknpy "2, 1, 2" 1 >c2.npy
expect_error "two channels" "expected one channel \(1, F, T\), got shape 2x1x2" 1 "$S" c2.npy o1.npy
mknpy "1, 2, 0" >t0.npy
expect_error "zero frames" "t0\.npy \(array 0\): empty spectrogram \(0 frames" 1 "$S" t0.npy o1.npy
DESCR='<i8' mknpy "" i1 >scalar.npy
expect_error "scalar" "got shape \(\)" 1 "$S" scalar.npy o1.npy
expect_error "stats with wrong F (stream)" "c\.npy \(array 0\): has 1 mel bands but the statistics in st\.npy have 2" 1 "$S" --stats st.npy c.npy o1.npy
no_partial "stats with wrong F: no output" o1.npy
manifest mc.tsv <<EOF
c1 $W/c.npy 0 1x1x4
EOF
expect_error "stats with wrong F (manifest, before reading)" "mc\.tsv line 2 \(key 'c1'\): has 1 mel bands but the statistics" 1 "$S" --stats st.npy -m mc.tsv -o o1
no_partial "stats with wrong F: no directory" o1
expect_error "stats file of the wrong shape" "a\.npy: not a statistics file" 1 "$S" --stats a.npy c.npy o1.npy
expect_error "missing stats file" "nostats\.npy: cannot open" 1 "$S" --stats nostats.npy c.npy o1.npy
touch afile
expect_error "unwritable output directory (-o)" "afile/sub: cannot create directory: afile: Not a directory" 1 "$S" -m m.tsv -o afile/sub
expect_error "output in a missing directory" "nodir/o\.npy: cannot create output" 1 "$S" a.npy nodir/o.npy
expect_error "--stack in a missing directory" "nodir/x\.npy: cannot create output" 1 "$S" -m m.tsv --stack nodir/x.npy
expect_error "-M in a missing directory" "nodir/m\.tsv: cannot create output" 1 "$S" -m m.tsv -o o1 -M nodir/m.tsv
no_partial "-M failed: no directory" o1
expect_error "missing manifest" "nomanifest\.tsv" 1 "$S" -m nomanifest.tsv -o o1
manifest mmiss.tsv <<EOF
k1 $W/a.npy 0 1x2x6
k2 $W/missing.npy 0 1x2x6
EOF
expect_error "manifest naming a missing file" "missing\.npy: cannot open.*mmiss\.tsv line 3" 1 "$S" -m mmiss.tsv -o o1
no_partial "missing file: nothing of DIR left" o1
expect_error "manifest naming a missing file (--stack)" "missing\.npy: cannot open" 1 "$S" -m mmiss.tsv --stack o1.npy --labels o2.npy -M o3.tsv
no_partial "missing file: no stack" o1.npy
no_partial "missing file: no labels" o2.npy
no_partial "missing file: no stack manifest" o3.tsv
manifest mlab.tsv <<EOF
k1 $W/a.npy 0 1x2x6
k2 $W/b.npy -1 1x2x2
EOF
expect_error "--labels with index -1 names the row" "mlab\.tsv line 3 \(key 'k2'\): no class index" 1 "$S" -m mlab.tsv --stack o1.npy --labels o2.npy
no_partial "index -1: no stack" o1.npy
no_partial "index -1: no labels" o2.npy
check "index -1 is fine without --labels" "$S" -m mlab.tsv --stack o1.npy
rm -f o1.npy
manifest mshape.tsv <<EOF
k1 $W/a.npy 0 1x2x5
EOF
expect_error "manifest shape differs from the array" "a\.npy: array for key 'k1' has shape 1x2x6 but mshape\.tsv line 2 says 1x2x5" 1 "$S" -m mshape.tsv -o o1
manifest mbadshape.tsv <<EOF
k1 $W/c2.npy 0 2x1x2
EOF
expect_error "manifest row with two channels" "mbadshape\.tsv line 2 \(key 'k1'\): expected one channel" 1 "$S" -m mbadshape.tsv --stack o1.npy
manifest mF.tsv <<EOF
k1 $W/a.npy 0 1x2x6
k2 $W/c.npy 0 1x1x4
EOF
expect_error "--stack needs equal F" "mF\.tsv line 3 \(key 'k2'\): has 1 mel bands but line 2 has 2" 1 "$S" -m mF.tsv --stack o1.npy
expect_error "--fit needs equal F" "has 1 mel bands but line 2 has 2" 1 "$S" --fit o1.npy -m mF.tsv
check "-o allows different F" "$S" -q -m mF.tsv -o mixed
expect_error "--stack --frames 0 needs equal T" "m\.tsv line 4 \(key 'k3'\): has 2 frames but line 2 has 6" 1 "$S" -m m.tsv --stack o1.npy --frames 0
manifest mdup.tsv <<EOF
k1 $W/a.npy 0 1x2x6
k1 $W/b.npy 0 1x2x2
EOF
expect_error "duplicate keys with -o" "mdup\.tsv line 3: duplicate key 'k1' \(also on line 2\)" 1 "$S" -m mdup.tsv -o o1
manifest mslash.tsv <<EOF
../k1 $W/a.npy 0 1x2x6
EOF
expect_error "key that is not a file name" "key '\.\./k1' cannot be used as a file name" 1 "$S" -m mslash.tsv -o o1
mkdir -p src && cp a.npy src/k1.npy
manifest mself.tsv <<EOF
k1 src/k1.npy 0 1x2x6
EOF
expect_error "-o refuses to replace an input" "src/k1\.npy: output for key 'k1' is one of the input files" 1 "$S" -m mself.tsv -o src
same "input left alone" a.npy src/k1.npy
manifest mempty.tsv </dev/null
expect_error "manifest without rows" "mempty\.tsv: no rows" 1 "$S" -m mempty.tsv --stack o1.npy

# no partial output from -o: a NaN in the third row removes what the run wrote
manifest mnan.tsv <<EOF
k1 $W/a.npy 0 1x2x6
k2 $W/b.npy 0 1x2x2
k3 $W/nan.npy 0 1x2x3
EOF
expect_error "NaN in a manifest names file and key" "nan\.npy \(key 'k3'\): NaN value at band 0, frame 1" 1 "$S" -m mnan.tsv -o fresh/dir -M fresh.tsv
no_partial "no_partial: new DIR removed" fresh
no_partial "no_partial: no -M manifest" fresh.tsv
mkdir -p existing && echo keep >existing/keep.txt
expect_error "NaN with an existing DIR" "NaN value" 1 "$S" -m mnan.tsv -o existing
no_partial "no_partial: files of the failed run removed" existing/k1.npy
if [ -f existing/keep.txt ] && [ "$(ls existing)" = keep.txt ]; then ok "no_partial: other files in DIR kept"; else notok "no_partial: DIR now holds $(ls existing)"; fi
expect_error "NaN in --stack" "NaN value" 1 "$S" -m mnan.tsv --stack o1.npy --labels o2.npy -M o3.tsv
no_partial "no_partial: --stack" o1.npy
no_partial "no_partial: --labels" o2.npy
no_partial "no_partial: --stack -M" o3.tsv

# ---- determinism -----------------------------------------------------------------------------------
mknpy "1, 3, 50" 0 1 2 3 4 5 6 7 8 >r.npy
for i in 1 2 3 4 5 6 7; do cat r.npy; done >r8.npy
"$S" --crop random --seed 1 --frames 10 r8.npy rA.npy
"$S" --crop random --seed 1 --frames 10 r8.npy rB.npy
"$S" --crop random --seed 2 --frames 10 r8.npy rC.npy
same "random crop: same seed, same bytes" rA.npy rB.npy
if ! cmp -s rA.npy rC.npy; then ok "random crop: another seed, other crops"; else notok "random crop: seeds 1 and 2 gave the same bytes"; fi
"$S" --frames 10 r8.npy rD.npy
if ! cmp -s rA.npy rD.npy; then ok "random crop differs from centre"; else notok "random crop equals centre crop"; fi
for i in 1 2 3 4 5 6; do echo "r$i $W/r8.npy 0 1x3x50"; done | manifest fwd.tsv   # identical arrays
(head -n 1 fwd.tsv; tail -n +2 fwd.tsv | tac) >rev.tsv
"$S" --crop random --frames 10 -m fwd.tsv -o fwd
"$S" --crop random --frames 10 -m rev.tsv -o rev
if diff -r fwd rev >/dev/null && [ "$(ls fwd | wc -l)" = 6 ]; then ok "random crop depends on the key, not the order"
else notok "random crop: forward and reversed manifests differ"; fi
if [ "$(md5sum fwd/*.npy | cut -d' ' -f1 | sort -u | wc -l)" -gt 1 ]; then ok "random crop: keys give different crops"
else notok "random crop: all keys gave the same crop"; fi
"$S" -m m.tsv --stack s1.npy --crop random --frames 3
"$S" -m m.tsv --stack s2.npy --crop random --frames 3
same "--stack twice: same bytes" s1.npy s2.npy

# ---- usage -----------------------------------------------------------------------------------------
expect_error "no arguments" "missing IN and OUT" 2 "$S"
expect_error "one argument" "missing IN and OUT" 2 "$S" a.npy
expect_error "three arguments" "too many arguments" 2 "$S" a.npy b.npy c.npy
expect_error "unknown long option" "unknown option '--bogus'" 2 "$S" --bogus a.npy u.npy
expect_error "unknown short option" "unknown option '-x'" 2 "$S" -x a.npy u.npy
expect_error "missing option argument" "option '--frames' needs an argument" 2 "$S" a.npy u.npy --frames
expect_error "bad --mode" "unknown mode 'zscore'" 2 "$S" --mode zscore a.npy u.npy
expect_error "bad --crop" "unknown crop 'middle'" 2 "$S" --crop middle a.npy u.npy
expect_error "bad --pad" "unknown pad 'reflect'" 2 "$S" --pad reflect a.npy u.npy
expect_error "negative --frames" "--frames needs a whole number" 2 "$S" --frames -1 a.npy u.npy
expect_error "--frames not a number" "--frames needs a whole number" 2 "$S" --frames 12x a.npy u.npy
expect_error "bad --seed" "--seed needs" 2 "$S" --seed -3 a.npy u.npy
expect_error "--mode stats without --stats" "--mode stats needs --stats" 2 "$S" --mode stats a.npy u.npy
expect_error "--stats with another mode" "--stats goes with --mode stats" 2 "$S" --stats st.npy --mode minmax a.npy u.npy
expect_error "-m without an output" "-m needs exactly one of" 2 "$S" -m m.tsv
expect_error "-m with both -o and --stack" "-m needs exactly one of" 2 "$S" -m m.tsv -o d --stack x.npy
expect_error "-m with IN" "unexpected argument 'a\.npy'" 2 "$S" -m m.tsv -o d a.npy
expect_error "--labels without --stack" "--labels goes with --stack" 2 "$S" -m m.tsv -o d --labels y.npy
expect_error "-o without -m" "need -m MANIFEST" 2 "$S" -o d a.npy u.npy
expect_error "--fit with -o" "--fit writes only the statistics" 2 "$S" --fit st.npy -m m.tsv -o d
expect_error "--fit with --mode" "--fit computes statistics" 2 "$S" --fit st.npy --mode none a.npy
expect_error "--fit with IN and OUT" "--fit needs one input" 2 "$S" --fit st.npy a.npy u.npy
expect_error "--labels onto the stack" "must name different files" 2 "$S" -m m.tsv --stack x.npy --labels x.npy
expect_error "two outputs on stdout" "only one output can go to standard output" 2 "$S" -m m.tsv --stack - --labels -
no_partial "usage error: nothing written" u.npy

"$S" --help >help.txt 2>help.err
rc=$?
if [ $rc = 0 ] && ! [ -s help.err ] && grep -q '^usage: specnorm' help.txt; then ok "--help on stdout, exit 0"; else notok "--help: rc=$rc"; fi
missing=""
for o in -m --manifest -o --outdir --stack --labels -M --out-manifest --fit --mode --stats --frames --crop --pad --seed -q --quiet -v --verbose -h --help sample minmax stats none start centre random zero edge; do
    grep -q -- "$o\b" help.txt || missing+=" $o"
done
if [ -z "$missing" ]; then ok "--help lists every option"; else notok "--help lacks:$missing"; fi
check "-h is --help" bash -c "'$S' -h | cmp - help.txt"

"$S" -v --frames 4 ab.npy o.npy 2>v.err
if grep -q '^specnorm: 2 arrays (1 cropped, 1 padded), mode sample' v.err; then ok "-v summary"; else notok "-v: $(cat v.err)"; fi
"$S" -q -m m.tsv -o quiet 2>q.err
if ! [ -s q.err ]; then ok "-q: nothing on stderr"; else notok "-q: $(cat q.err)"; fi
"$S" -m m.tsv -o notty 2>n.err
if ! [ -s n.err ]; then ok "no progress when stderr is not a terminal"; else notok "progress on a file: $(cat n.err)"; fi

# ---- the man page --------------------------------------------------------------------------------
MAN=$TESTS/../man/specnorm.1
if command -v groff >/dev/null; then
    check "man page: groff -man -ww without warnings" bash -c "groff -man -ww -z '$MAN' 2>&1 | (! grep .)"
else
    skip "man page warnings: groff not installed"
fi
for s in NAME SYNOPSIS DESCRIPTION OPTIONS "EXIT STATUS" EXAMPLES; do
    grep -q "^\.SH \"*$s" "$MAN" || { notok "man page: no $s section"; continue; }
done
ok "man page: NAME SYNOPSIS DESCRIPTION OPTIONS EXIT STATUS EXAMPLES"
missing=""
for o in manifest outdir stack labels out-manifest fit mode stats frames crop pad seed quiet verbose help; do
    sed 's/\\-/-/g' "$MAN" | grep -q -- "--$o" || missing+=" --$o"
done
if [ -z "$missing" ]; then ok "man page documents every option"; else notok "man page lacks:$missing"; fi

# The EXAMPLES run as written, on small data named as they name it.
mkdir -p ex && cd ex || exit 1
cp ../a.npy ../b.npy . && cat a.npy b.npy a.npy >mels.npy
printf 'key\tnpy\tsource\tlabel\tindex\tgroup\tstart\tend\tshape\n' >train.tsv
printf 't%s\tmels.npy\tx.wav\tc\t%s\t\t0\t1\t%s\n' 1 0 1x2x6 2 1 1x2x2 3 0 1x2x6 >>train.tsv
sed 's/^t/v/' train.tsv >val.tsv
n=0
while IFS= read -r line; do
    n=$((n + 1))
    if PATH="$BIN:$PATH" bash -c "set -o pipefail; $line" >ex.out 2>ex.err; then ok "man example $n: $line"
    else notok "man example $n: $line: $(head -c 300 ex.err)"; fi
done < <(sed -n '/^\.EX/,/^\.EE/p' "$MAN" | grep -v '^\.E[EX]' | sed 's/\\-/-/g; s/\\(.*//')
[ "$n" -ge 5 ] && ok "man page: $n examples run" || notok "man page: only $n examples found"
for f in stats.npy train_x.npy train_y.npy train_x.tsv val_x.npy val_y.npy norm/t1.npy norm.tsv scaled.npy windows.npy; do
    [ -s "$f" ] || notok "man examples: $f not written"
done
cd ..
