# wav2mel: formats, inputs/outputs, manifests, threads, segments, and every kind of bad input.
. "$(dirname "$0")/lib.sh"
cd "$W"
B=$BIN
if ! command -v sox >/dev/null; then skip "wav2mel tests: sox is needed to make test audio"; exit 0; fi

sox -n -r 16000 -c 2 -b 16 tone.wav synth 1.0 sine 440 sine 1000 2>/dev/null
sox tone.wav tone.flac 2>/dev/null
sox tone.wav -e floating-point -b 32 tonef.wav 2>/dev/null
sox tone.wav -b 24 tone24.wav 2>/dev/null
sox tone.wav -b 8 tone8.wav 2>/dev/null
sox tone.wav tone.ogg 2>/dev/null
sox tone.wav -C 128 tone.mp3 2>/dev/null
sox -n -r 8000 -c 1 silent.wav trim 0 0.5 2>/dev/null

check "16-bit stereo WAV" $B/wav2mel tone.wav a.npy
check "FLAC" $B/wav2mel tone.flac b.npy
check "FLAC decodes to the same spectrogram as the WAV" cmp a.npy b.npy
check "32-bit float WAV" $B/wav2mel tonef.wav c.npy
check "24-bit WAV" $B/wav2mel tone24.wav d.npy
check "8-bit WAV" $B/wav2mel tone8.wav e.npy
if [ -s tone.ogg ]; then check "OGG/Vorbis" $B/wav2mel tone.ogg f.npy; else skip "OGG: sox cannot write it"; fi
if [ -s tone.mp3 ]; then check "MP3" $B/wav2mel tone.mp3 g.npy; else skip "MP3: sox cannot write it"; fi

# header of the output: 1 x 128 x (1 + 22050/256) frames for one second resampled to 22050 Hz
head -c 128 a.npy | grep -q "'shape': (1, 128, 87), }" && ok "shape (1, n_mels, frames) at 22050 Hz" || notok "shape: $(head -c 128 a.npy | tr -d '\000')"
$B/wav2mel --sr 0 --n-mels 40 --hop 160 tone.wav h.npy
head -c 128 h.npy | grep -q "'shape': (1, 40, 101), }" && ok "--sr 0 keeps the file's rate" || notok "--sr 0 shape"
$B/wav2mel --kind stft --n-fft 512 tone.wav i.npy
head -c 128 i.npy | grep -q "'shape': (1, 257, 87), }" && ok "--kind stft has n_fft/2+1 bins" || notok "--kind stft shape"

# stdin / stdout
cat tone.wav | $B/wav2mel - - > s.npy && cmp -s s.npy a.npy && ok "stdin to stdout equals file to file" || notok "stdin/stdout"
cat tone.flac | $B/wav2mel - s2.npy && cmp -s s2.npy a.npy && ok "FLAC on stdin" || notok "FLAC on stdin"

# several inputs into one stream, with a manifest; -o DIR; --list plain and TSV
$B/wav2mel -m m.tsv tone.wav tonef.wav both.npy
[ "$(cat a.npy c.npy | cmp - both.npy && echo same)" = same ] && ok "stream of two arrays is their concatenation" || notok "stream concatenation"
[ "$(sed -n 1p m.tsv)" = "$(printf 'key\tnpy\tsource\tlabel\tindex\tgroup\tstart\tend\tshape')" ] && ok "manifest header" || notok "manifest header: $(sed -n 1p m.tsv)"
[ "$(cut -f1,2,3,9 m.tsv | sed -n 2p)" = "$(printf 'tone\tboth.npy\ttone.wav\t1x128x87')" ] && ok "manifest row" || notok "manifest row: $(sed -n 2p m.tsv)"
mkdir sub && cp tone.wav sub/x.wav && cp tonef.wav sub/y.wav
$B/wav2mel -o od sub/x.wav sub/y.wav && cmp -s od/x.npy a.npy && cmp -s od/y.npy c.npy && ok "-o DIR writes DIR/<stem>.npy" || notok "-o DIR"
printf 'sub/x.wav\nsub/y.wav\n' > list.txt
$B/wav2mel -l list.txt -o od2 && cmp -s od2/x.npy a.npy && ok "--list plain" || notok "--list plain"
printf 'path\tlabel\tindex\tgroup\nsub/x.wav\tcat\t0\tg1\nsub/y.wav\tdog\t1\tg2\n' > list.tsv
$B/wav2mel -l list.tsv -o od3 -m m3.tsv
[ "$(cut -f3-6 m3.tsv | sed -n 3p)" = "$(printf 'sub/y.wav\tdog\t1\tg2')" ] && ok "--list TSV carries label, index, group" || notok "--list TSV: $(sed -n 3p m3.tsv)"
cp tone.wav sub2.wav; mkdir d2; cp tone.wav d2/x.wav
expect_error "two inputs with one stem in -o mode" "would both write" 1 $B/wav2mel -o od4 sub/x.wav d2/x.wav

# threads: same bytes whatever -j
for i in 1 2 3 4 5 6; do cp tone.wav "m$i.wav"; sox -n -r 22050 -c 1 "n$i.wav" synth 0.$i pinknoise 2>/dev/null; done
$B/wav2mel -j 1 -m j1.tsv m*.wav n*.wav j1.npy && $B/wav2mel -j 2 -m j2.tsv m*.wav n*.wav j2.npy && $B/wav2mel -j 5 m*.wav n*.wav j5.npy
cmp -s j1.npy j2.npy && cmp -s j1.npy j5.npy && cmp -s <(cut -f1,3- j1.tsv) <(cut -f1,3- j2.tsv) && ok "-j 1/2/5 give identical bytes" || notok "-j changes output"

# segments
sox -n -r 8000 -c 1 long.wav synth 10.5 sine 300 2>/dev/null
$B/wav2mel --segment 2 --overlap 0.5 -m seg.tsv long.wav seg.npy
[ "$(($(wc -l < seg.tsv) - 1))" = 10 ] && ok "10.5 s in 2 s windows, hop 1 s: 10 windows" || notok "segments: $(wc -l < seg.tsv)"
[ "$(sed -n 11p seg.tsv | cut -f1,7,8,9)" = "$(printf 'long_0009\t9.000000\t10.500000\t1x128x173')" ] && ok "last window times clipped to the recording, padded frames" || notok "last window: $(sed -n 11p seg.tsv)"
$B/wav2mel --segment 2 -o segd long.wav && [ -f segd/long_0000.npy ] && [ -f segd/long_0005.npy ] && [ ! -e segd/long_0006.npy ] && ok "-o DIR with segments: <stem>_NNNN.npy" || notok "segment files"
$B/wav2mel --duration 1.5 tone.wav dur.npy && head -c 128 dur.npy | grep -q "(1, 128, 130)" && ok "--duration pads to 1.5 s" || notok "--duration"
sox -n -r 8000 -c 1 padded.wav synth 0.5 sine 500 pad 1 1 2>/dev/null
$B/wav2mel --sr 0 --trim 60 -m trim.tsv padded.wav trim.npy
awk -F'\t' 'NR==2 { exit !($7 > 0.8 && $7 < 1.0 && $8 > 1.5 && $8 < 1.7) }' trim.tsv && ok "--trim cuts leading/trailing silence, times in the manifest" || notok "--trim: $(sed -n 2p trim.tsv)"

# bad input: one line naming the file, exit 1, no output
head -c 1000 tone.wav > trunc.wav
echo "not audio" > text.wav
: > empty.wav
expect_error "truncated WAV" "trunc.wav: truncated audio" 1 $B/wav2mel trunc.wav o1.npy; no_partial "no output for truncated WAV" o1.npy
expect_error "text file" "text.wav: not a readable audio file" 1 $B/wav2mel text.wav o2.npy; no_partial "no output for text file" o2.npy
expect_error "empty file" "empty.wav: empty file" 1 $B/wav2mel empty.wav o3.npy; no_partial "no output for empty file" o3.npy
expect_error "empty stdin" "<stdin>: empty input" 1 $B/wav2mel - o3b.npy </dev/null
expect_error "missing file" "missing.wav: cannot open: No such file" 1 $B/wav2mel missing.wav o4.npy; no_partial "no output for missing file" o4.npy
expect_error "silent recording" "silent.wav: silent audio" 1 $B/wav2mel silent.wav o5.npy; no_partial "no output for silent file" o5.npy
expect_error "trimmed to nothing" "silent audio" 1 $B/wav2mel --trim 20 silent.wav o5b.npy
# a float WAV with a NaN sample: patch the first sample's bytes
cp tonef.wav nan.wav
off=$(grep -abo data nan.wav | head -1 | cut -d: -f1)
printf '\000\000\300\177' | dd of=nan.wav bs=1 seek=$((off + 8)) conv=notrunc 2>/dev/null
expect_error "NaN sample" "nan.wav: sample 0 is NaN" 1 $B/wav2mel nan.wav o6.npy; no_partial "no output for NaN" o6.npy
expect_error "unwritable output directory" "nodir/o.npy: cannot create output" 1 $B/wav2mel tone.wav nodir/o.npy
mkdir ro && chmod 555 ro
if [ "$(id -u)" != 0 ]; then expect_error "read-only directory" "ro/o.npy: cannot create output" 1 $B/wav2mel tone.wav ro/o.npy
else skip "read-only directory: running as root (the /proc case below covers it)"; fi
expect_error "directory no one may write, even root" "/proc/audiocnn-test.npy: cannot create output" 1 $B/wav2mel tone.wav /proc/audiocnn-test.npy
# a failing file in a batch leaves nothing behind, with or without a manifest
expect_error "batch stops at the bad file" "text.wav: not a readable" 1 $B/wav2mel -m bm.tsv tone.wav text.wav batch.npy
no_partial "no stream output after a failed batch" batch.npy; no_partial "no manifest after a failed batch" bm.tsv
expect_error "-o batch stops at the bad file" "text.wav" 1 $B/wav2mel -o bd sub/x.wav text.wav
[ -z "$(ls bd)" ] && ok "-o batch removes what it wrote" || notok "-o batch left: $(ls bd)"
$B/wav2mel -k -m km.tsv tone.wav text.wav tonef.wav kg.npy 2>kg.err; rc=$?
[ $rc = 1 ] && [ "$(($(wc -l < km.tsv) - 1))" = 2 ] && grep -q "text.wav.*skipped" kg.err && ok "--keep-going skips and reports" || notok "--keep-going rc=$rc"
# --info: lengths from the headers, a TSV; nothing printed on error
cp tone.wav ./-early.wav
$B/wav2mel --info tone.wav -- -early.wav > info.tsv 2>info.err
printf 'path\tframes\tsample_rate\tchannels\tseconds\ntone.wav\t%s\t%s\t%s\t%s\n' "$(soxi -s tone.wav)" "$(soxi -r tone.wav)" "$(soxi -c tone.wav)" \
    "$(awk -v n="$(soxi -s tone.wav)" -v r="$(soxi -r tone.wav)" 'BEGIN { printf "%.6f", n / r }')" > info.want
tail -n 1 info.tsv | cut -f1 > info.last
cmp -s <(head -n 2 info.tsv) info.want && [ "$(cat info.last)" = -early.wav ] && ok "--info: path, frames, rate, channels, seconds per recording" \
    || notok "--info: $(cat info.tsv info.err)"
expect_error "--info on a missing file" "nothere.wav: cannot open" 1 $B/wav2mel --info tone.wav nothere.wav
[ ! -s "$W/out" ] && ok "--info prints nothing when a recording fails" || notok "--info printed: $(cat "$W/out")"
# usage errors: exit 2
expect_error "OUT must be .npy" "OUT must be" 2 $B/wav2mel tone.wav tone2.wav
expect_error "bad option value" "bad value for --kind" 2 $B/wav2mel --kind cqt tone.wav x.npy
expect_error "bad settings" "bad mel settings" 2 $B/wav2mel --fmax 30000 tone.wav x.npy
expect_error "no inputs" "no input" 2 $B/wav2mel x.npy
$B/wav2mel --help | grep -q -- "--segment SEC" && ok "--help lists options" || notok "--help"

# the EXAMPLES of the man page run as written
mkdir ex && cd ex
sox -n -r 16000 -c 1 dog.wav synth 0.8 sine 600 2>/dev/null; cp dog.wav x.wav
sox -n -r 44100 -c 2 field.flac synth 7 pinknoise 2>/dev/null
mkdir split && printf 'path\tlabel\tindex\tgroup\ndog.wav\tdog\t0\tg\nx.wav\tdog\t0\th\n' > split/train.tsv
sed -n '/^\.SH EXAMPLES/,/^\.SH SEE ALSO/p' "$TESTS/../man/wav2mel.1" | grep -E '^    wav2mel' | sed 's/\\-/-/g' > examples
[ "$(wc -l < examples)" -ge 4 ] || notok "man page EXAMPLES not found"
while read -r cmd; do
    if PATH="$BIN:$PATH" bash -c "$cmd" >/dev/null 2>ex.err; then ok "man example: $cmd"; else notok "man example: $cmd: $(head -c 200 ex.err)"; fi
done < examples
cd ..
