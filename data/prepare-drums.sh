#!/usr/bin/env bash
# prepare-drums.sh - the default data set: acoustic drum one-shots from Debian's hydrogen-drumkits
# package, as a kick / snare / hihat / tom / cymbal classifier grouped by kit.
#
#   data/prepare-drums.sh [KITS_DIR [OUT_DIR]]
#
# KITS_DIR defaults to /usr/share/hydrogen/data/drumkits, OUT_DIR to the folder of this script. Writes
#   OUT_DIR/drums/<class>/<kit>__<sample>.<ext>   symbolic links to the package's samples
#   OUT_DIR/drums.tsv                             path, label, group (= kit), kit, instrument
#   OUT_DIR/drums-excluded.tsv                    every sample of the kits left out, and why
# Idempotent: links and tables are rewritten only when they change, so a second run leaves the
# pipeline's inputs untouched. The rules are in data/README.md; they are the functions below.
set -euo pipefail
export LC_ALL=C
KITS=${1:-/usr/share/hydrogen/data/drumkits}
OUTDIR=${2:-$(cd "$(dirname "$0")" && pwd)}
# Acoustic kits only: the electronic kits (ElectricEmpireKit, HardElectro1, VariBreaks), the hand
# percussion of Gimme A Hand, the West African drums of circAfrique and Audiophob (freesound samples of
# mixed origin: 8-bit and noise drums, a tom filed as the kick) are left out.
ACOUSTIC_KITS=(BJA_Pacific ColomboAcousticDrumkit ForzeeStereo Millo-Drums_v.1 Millo_MultiLayered2
               Millo_MultiLayered3 "The Black Pearl 1.0" rumpf_kit_z01_h2)

die() { echo "prepare-drums: error: $*" >&2; exit 1; }
[ -d "$KITS" ] || die "$KITS: no such directory (install hydrogen-drumkits: make data)"

# classify.awk: reads Hydrogen's drumkit.xml (the old layout, one <filename> per instrument, and the
# layered one, a <filename> per <layer>) and prints, per sample file, "class<TAB>file<TAB>instruments"
# or "-<TAB>file<TAB>why it is left out". The rules:
#   1. A lower-cased instrument name containing cowbell, clap, stick, rim click, tambourine, agogo,
#      roll or empty is left out (not a single hit of a kit drum or cymbal).
#   2. Otherwise, in this order: kick / bass drum / bd -> kick; snare -> snare; hi-hat / hihat / hh /
#      hat -> hihat; tom -> tom; crash / ride / china / splash / cymbal / bell -> cymbal.
#   3. An instrument name that says nothing ("redo super opaco", "f#4 - ", "Sample: beats_06-10.flac")
#      is replaced by the file name (snare-opaque-2mics_normal-shot1.flac -> snare); if that says
#      nothing either, the sample is left out.
#   4. A sample shared by several instruments (Tom Mid and Tom Hi) is kept once if they agree, left
#      out as ambiguous if not.
CLASSIFY='
function text(line) { sub(/^[^>]*>/, "", line); sub(/<.*$/, "", line);
    gsub(/&lt;/, "<", line); gsub(/&gt;/, ">", line); gsub(/&quot;/, "\"", line);
    gsub(/&apos;/, "\047", line); gsub(/&amp;/, "\\&", line); gsub(/\t/, " ", line); return line }
function classify(s) {
    s = tolower(s)
    if (s ~ /cowbell|clap|stick|rim click|tambourine|agogo|roll|empty/) return "-"
    if (s ~ /kick|bass[ _-]?drum|(^|[^a-z])bd([^a-z]|$)/) return "kick"
    if (s ~ /snare/) return "snare"
    if (s ~ /hi[ -]?hat|(^|[^a-z])(hh|hat)([^a-z]|$)/) return "hihat"
    if (s ~ /(^|[^a-z])tom/) return "tom"
    if (s ~ /crash|ride|china|splash|cymbal|bell/) return "cymbal"
    return ""
}
function add(f, c, why) {
    if (!(f in cls)) { order[++n] = f; cls[f] = c; names[f] = name; reason[f] = why; return }
    if (index("|" names[f] "|", "|" name "|") == 0) names[f] = names[f] "|" name
    if (cls[f] != c) { if (cls[f] != "-" && c != "-") { cls[f] = "-"; reason[f] = "ambiguous: instruments " names[f] }
                       else if (c == "-") { cls[f] = "-"; reason[f] = why } }
}
/<instrument>/   { inst = 1; name = ""; k = 0; next }
inst && /<name>/ && name == "" { name = text($0) }
inst && /<filename>/ { f = text($0); if (f != "") files[++k] = f }
/<\/instrument>/ {
    inst = 0
    for (j = 1; j <= k; j++) {
        f = files[j]; stem = f; sub(/\.[^.]*$/, "", stem)
        c = classify(name); why = "not a kit drum or cymbal hit: " name
        if (c == "") { c = classify(stem); why = "not a kit drum or cymbal hit: " f }
        if (c == "") { c = "-"; why = "no class in the instrument or file name: " name }
        add(f, c, why)
    }
}
END { for (i = 1; i <= n; i++) { f = order[i]; print cls[f] "\t" f "\t" (cls[f] == "-" ? reason[f] : names[f]) } }'

clean() { printf '%s' "$1" | tr -c 'A-Za-z0-9._-' '_'; }

tsv=$(mktemp) excl=$(mktemp) want=$(mktemp)
trap 'rm -f "$tsv" "$excl" "$want" "$want.have"' EXIT
printf 'path\tlabel\tgroup\tkit\tinstrument\n' > "$tsv"
printf 'kit\tsample\treason\n' > "$excl"
rel=drums   # paths in drums.tsv are relative to OUT_DIR's parent (the repository root for data/)
base=$(basename "$OUTDIR")
for kit in "${ACOUSTIC_KITS[@]}"; do
    dir=$KITS/$kit
    [ -f "$dir/drumkit.xml" ] || die "$dir/drumkit.xml: missing (is hydrogen-drumkits installed?)"
    group=$(clean "$kit")
    while IFS=$'\t' read -r class file names; do
        if [ ! -f "$dir/$file" ]; then printf '%s\t%s\t%s\n' "$kit" "$file" "missing from the kit" >> "$excl"
        elif [ "$class" = - ]; then printf '%s\t%s\t%s\n' "$kit" "$file" "$names" >> "$excl"
        else
            link=$class/${group}__${file//[^A-Za-z0-9._-]/_}
            printf '%s/%s/%s\t%s\t%s\t%s\t%s\n' "$base" "$rel" "$link" "$class" "$group" "$kit" "$names" >> "$tsv"
            printf '%s\t%s\n' "$link" "$dir/$file" >> "$want"
        fi
    done < <(awk "$CLASSIFY" "$dir/drumkit.xml")
done

# Links: create or repoint what changed, remove what is no longer wanted.
mkdir -p "$OUTDIR/$rel"
dups=$(cut -f1 "$want" | sort | uniq -d)
[ -z "$dups" ] || die "two samples sanitise to the same name: $dups"
while IFS=$'\t' read -r link target; do
    mkdir -p "$OUTDIR/$rel/$(dirname "$link")"
    [ "$(readlink "$OUTDIR/$rel/$link" 2>/dev/null)" = "$target" ] || ln -sfn "$target" "$OUTDIR/$rel/$link"
done < "$want"
( cd "$OUTDIR/$rel" && find . -mindepth 2 \( -type l -o -type f \) | sed 's|^\./||' ) | sort > "$want.have"
cut -f1 "$want" | sort | comm -23 "$want.have" - | while read -r stale; do rm -f "$OUTDIR/$rel/$stale"; done
find "$OUTDIR/$rel" -mindepth 1 -type d -empty -delete

# Tables: sorted by path, replaced only when their content changes.
put() { # TMP FINAL
    { head -n 1 "$1"; tail -n +2 "$1" | sort; } > "$2.tmp"
    if cmp -s "$2.tmp" "$2"; then rm -f "$2.tmp"; else mv "$2.tmp" "$2"; fi
}
put "$tsv" "$OUTDIR/drums.tsv"
put "$excl" "$OUTDIR/drums-excluded.tsv"
n=$(( $(wc -l < "$OUTDIR/drums.tsv") - 1 ))
echo "prepare-drums: $n samples of ${#ACOUSTIC_KITS[@]} kits in $OUTDIR/$rel: $(tail -n +2 "$OUTDIR/drums.tsv" | cut -f2 | sort | uniq -c | awk '{printf "%s%s %d", s, $2, $1; s = ", "}'); $(( $(wc -l < "$OUTDIR/drums-excluded.tsv") - 1 )) left out (drums-excluded.tsv)" >&2
