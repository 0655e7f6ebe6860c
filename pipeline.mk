# pipeline.mk - the whole job as a Make DAG: labelled recordings -> splits -> spectrograms -> stacked
# splits -> one checkpoint per model -> evaluations. `make -f pipeline.mk help` prints this summary
# with the current values; every product is a file, and make redoes only what changed.
define HELP
usage: make -f pipeline.mk [TARGET...] [VARIABLE=VALUE...]

Input (DATA, default data/drums.tsv: the drum one-shots that `make data` prepares):
  DATA=DIR        a folder of class folders: DIR/<class>/.../<recording> (WAV, FLAC, OGG, MP3, AIFF, ...;
                  files directly in DIR, hidden files and other extensions are ignored)
  DATA=LIST.tsv   a table of recordings, tab-separated, header line first: columns 'path' (the
                  recording, relative to the directory make runs in, or absolute), 'label' (its class)
                  and optionally 'group' (recordings of one group, such as one speaker or one drum
                  kit, all go to the same split; empty: a group of its own); other columns are ignored
  Any folder and file names (spaces, UTF-8, : # % ; = * ? " ' ( ) | < > & [ ] ...) but tabs and
  newlines: each recording gets a key make can use ($$(OUT)/recordings.txt), its path stays in the
  tables. In DATA and SCAN themselves write $$ as $$$$ (make expands it); OUT must be a plain name.

Or annotated long recordings (ANNOTATIONS, instead of DATA): field recordings with one selection per call
  ANNOTATIONS=DIR   recordings with their Raven Pro tables beside them (X.wav + X.Table.1.selections.txt)
  ANNOTATIONS=LIST  a TSV with columns recording, table (Raven tables or Audacity label tracks), group
  Every recording is cut into WINDOW-second windows labelled with the selections they overlap (multi-
  label); a recording is never in two splits. Each model of MODELS is trained multi-label (one sigmoid per
  class), evaluated on the test windows, and scans the test recordings with per-class thresholds chosen
  on val; its events are scored against their annotations ($$(OUT)/detect/<model>/detection.{tsv,json}:
  matched calls, precision, recall, F1, count error per recording). Targets: split mels features train
  evaluate detect report all. Not with SCAN, cv, tune or NORM=stats.
  WINDOW=$(WINDOW)   seconds per window (the model's input: scans use windows of this length)
  WINDOW_OPTS=$(WINDOW_OPTS)   splitset --windows options: --step S or --overlap F, --min-fraction F,
                  --min-overlap S, --band LOW:HIGH, --classes A,B, --label-column COL
  BACKGROUND=$(BACKGROUND)   a class for windows without a call (e.g. noise): learnt, never counted

Targets:
  all (default)   everything below: split, features, models, evaluations, count check, report (+ scan
                  with SCAN)
  split           $$(OUT)/split/{train,val,test,classes}.tsv            splitset SPLIT_OPTS
  mels            $$(OUT)/mels/<key>.{npy,tsv}, one per recording (key: its path in DATA, or with
                  characters make cannot take as _ and a hash appended), in jobs of SHARD recordings
                  ($$(OUT)/mels/shards/)  wav2mel MEL_OPTS
  features        $$(OUT)/{train,val,test}.npy + -labels.npy: (N,1,n_mels,FRAMES) stacks (specnorm)
  train           $$(OUT)/models/<model>.safetensors + .history.{tsv,json}   cnntrain, per MODELS
  evaluate        $$(OUT)/eval/<model>/{metrics.json,predictions.tsv,misclassified.tsv}   cnneval
  check           $$(OUT)/counts.tsv: recordings = split rows = spectrograms + left out = stacked rows
  report          $$(OUT)/report.html (+ figures/*.png): data, models, curves, confusion, galleries with
                  sound, and the scan, cross-validation and recipe search when made   mkreport
  scan            $$(OUT)/scan/{scores,results}.tsv, events/*.selections.txt (Raven): SCAN_MODEL over SCAN
  detect          (ANNOTATIONS) $$(OUT)/detect/<model>/: the test recordings scanned, scored against their
                  annotations
  tune            recipe search: TUNE_BUDGET candidate cnntrain settings for TUNE_ARCH, each scored by
                  TUNE_FOLDS-fold cross-validation inside train+val (never the test split), a hopeless
                  one stopped early (TUNE_STOP); $$(OUT)/tune/results.tsv and recipe.opts (the best;
                  use it with RECIPE=)
  cv              FOLDS-fold cross-validation of every model of MODELS ($$(OUT)/cv/): splitset --folds,
                  per fold stacks, a checkpoint and an evaluation per model (spectrograms shared);
                  $$(OUT)/cv/{results,summary,paired}.tsv: per fold, mean and std, paired comparison
  help            this text            clean    remove $$(OUT)

Variables (current value):
  DATA=$(DATA)
  OUT=$(OUT)   (default outputs/<name of DATA>)
  BIN=$(BIN)   (the tools; missing ones are built with the top-level Makefile)
  SPLIT_OPTS=$(SPLIT_OPTS)   splitset options, e.g. --ratios 80/10/10, --group REGEX, --test-match REGEX
  MEL_OPTS=$(MEL_OPTS)   wav2mel options (default: wav2mel's: 22050 Hz, 128 mel bands, hop 256, dB)
  NORM=$(NORM)   specnorm --mode: sample, minmax, none, or stats (per-band statistics of train)
  FRAMES=$(FRAMES)   frames per stacked spectrogram (pad/crop; specnorm's default 400)
  NORM_OPTS=$(NORM_OPTS)   more specnorm options (--crop, --pad)
  MODELS=$(MODELS)   models to train, one checkpoint each; a model's name is its architecture
                  (`cnntrain --help` lists them) unless ARCH_<model> names one (MODELS="baseline
                  small" ARCH_small=baseline TRAIN_OPTS_small="--dropout 0.1": two variants)
  TRAIN_OPTS=$(TRAIN_OPTS)   cnntrain options for every model (default: cnntrain's)
  TRAIN_OPTS_<model>   cnntrain options for that model only, after TRAIN_OPTS
  ARCH_<model>    its architecture (default: the model's name)
  EVAL_OPTS=$(EVAL_OPTS)   cnneval options (--top-k K)
  SCAN=$(SCAN)   long recordings to scan: a folder (searched recursively), one recording, or a list
                  (one path a line, or a TSV with a path column; scanned in its order); empty: no scan
  SCAN_MODEL=$(SCAN_MODEL)   (or MODEL=) the model that scans: a name of MODELS or a .safetensors path
  SCAN_OPTS=$(SCAN_OPTS)   cnneval --scan options: --overlap F, --threshold T, --classes a,b, --csv
  SCAN_SHARD=$(SCAN_SHARD)   seconds of audio per scan job (runs of recordings in order; a longer
                  recording is a job of its own); merged, any SCAN_SHARD gives the same bytes
  FOLDS=$(FOLDS)   folds of make cv (2..30; SPLIT_OPTS' --ratios gives train:val inside the other folds)
  TUNE_BUDGET=$(TUNE_BUDGET) TUNE_FOLDS=$(TUNE_FOLDS) TUNE_SEED=$(TUNE_SEED) TUNE_ARCH=$(TUNE_ARCH)   make tune's size
  TUNE_GRID=$(TUNE_GRID)
                  the knobs: OPTION=VALUE,VALUE,... words (cnntrain options)
  TUNE_SPLIT_OPTS=$(TUNE_SPLIT_OPTS)   splitset options of make tune's folds of train+val, e.g. --ratios
                  60/40/0 (train:val inside the other folds; default splitset's 70/15/15)
  TUNE_STOP=$(TUNE_STOP)   early stopping of make tune: after each fold, a candidate whose mean macro F1
                  over its folds so far is below an earlier fully scored candidate's mean over the
                  same folds by more than TUNE_STOP is not trained on its remaining folds ('stopped'
                  in results.tsv, ranked after the others); empty: every candidate on every fold
  RECIPE=$(RECIPE)   a file of cnntrain options (make tune's recipe.opts) added to TRAIN_OPTS
  REPORT_TITLE=$(REPORT_TITLE)
  SKIP_BAD=$(SKIP_BAD)   1: a recording wav2mel cannot read is left out and listed in $$(OUT)/skipped.tsv;
                  0: it stops the run with its name
  SHARD=$(SHARD)   recordings per spectrogram job (about: a split's recordings go to a power-of-two number
                  of shards by a hash of their keys); any SHARD gives the same bytes
  CMD=$(CMD)   a command prefix every job runs through: srun (Slurm), 'sbatch --wait', ...; empty: here
  CMD_FEATURES, CMD_TRAIN, CMD_EVAL, CMD_SCAN, CMD_REPORT   one stage's prefix (default: CMD), e.g.
                  CMD_TRAIN='srun --gres=gpu:1 -c 8'; `make -j 200 all CMD=srun` keeps 200 jobs queued.
                  OUT must then be on a file system every node sees: jobs read and write only there

Rebuilds: settings live in $$(OUT)/*.opts and $$(OUT)/models/<model>.opts, rewritten only when they
change: MEL_OPTS redoes every spectrogram and what follows, NORM/FRAMES/NORM_OPTS the stacks and what
follows, TRAIN_OPTS every model, TRAIN_OPTS_<model> that model only; a new or edited recording redoes its
spectrogram, its split's stack, and what depends on that. Splits are stable: when recordings are
added, splitset keeps the earlier ones where they were (with -f in SPLIT_OPTS it re-splits everything
whenever the split is redone; `make clean` starts over). Results depend on the tool binaries too: rebuilt
tools redo the stages that use them. `make -n`/`make -q` answer what would be redone (the split is
computed for real, because the per-split dependencies come from it).
endef

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DELETE_ON_ERROR:
.SUFFIXES:
MAKEFLAGS += --no-builtin-rules
# this makefile, for make tune's recursive steps (before any include adds to MAKEFILE_LIST)
SELF := $(lastword $(MAKEFILE_LIST))

DATA       ?= data/drums.tsv
BIN        ?= build/bin
SPLIT_OPTS ?=
MEL_OPTS   ?=
NORM       ?= sample
FRAMES     ?= 400
NORM_OPTS  ?=
MODELS     ?= baseline
TRAIN_OPTS ?=
EVAL_OPTS  ?=
SKIP_BAD   ?= 0
SHARD      ?= 1000
SCAN_SHARD ?= 28800
FOLDS      ?= 5
TUNE_BUDGET ?= 8
TUNE_FOLDS ?= 3
TUNE_SEED  ?= 1
TUNE_STOP  ?= 0.1
TUNE_SPLIT_OPTS ?=
RECIPE     ?=
# Jobs through a command prefix (srun, sbatch --wait, ...): CMD for every stage, or one per stage
CMD        ?=
CMD_FEATURES ?= $(CMD)
CMD_TRAIN  ?= $(CMD)
CMD_EVAL   ?= $(CMD)
CMD_SCAN   ?= $(CMD)
CMD_REPORT ?= $(CMD)
SCAN       ?=
ANNOTATIONS ?=
WINDOW     ?= 2
WINDOW_OPTS ?=
BACKGROUND ?=
SCAN_MODEL ?= $(or $(MODEL),$(firstword $(MODELS)))
SCAN_OPTS  ?=
REPORT_TITLE ?= audiocnn report: $(notdir $(OUT))
SPLITS     := train val test

WAV2MEL  := $(BIN)/wav2mel
SPECNORM := $(BIN)/specnorm
SPLITSET := $(BIN)/splitset
CNNTRAIN := $(BIN)/cnntrain
CNNEVAL  := $(BIN)/cnneval
MKREPORT := $(BIN)/mkreport

.PHONY: all split mels features stacks train evaluate check scan detect report cv tune help clean FORCE
all:

shq   = '$(subst ','\'',$(1))'
define newline


endef
oneline = $(subst $(newline), ,$(1))
streq = $(if $(subst x$(1),,x$(2))$(subst x$(2),,x$(1)),,t)

# RECIPE: a file of cnntrain options (make tune's recipe.opts), added to TRAIN_OPTS
ifneq ($(RECIPE),)
ifeq ($(wildcard $(RECIPE)),)
$(error pipeline: error: RECIPE=$(RECIPE): no such file (make tune writes OUT/tune/recipe.opts))
endif
override TRAIN_OPTS := $(TRAIN_OPTS) $(strip $(file <$(RECIPE)))
endif

# OUT: outputs/ and DATA's last name without its extension, every byte make cannot take as _
ifeq ($(origin OUT),undefined)
OUT := outputs/$(shell n=$(call shq,$(or $(ANNOTATIONS),$(DATA))); n=$${n%/}; n=$${n##*/}; b=$${n%.*}; [ -z "$$b" ] || n=$$b; \
                     printf '%s' "$$n" | LC_ALL=C tr -c 'A-Za-z0-9._+@\200-\377-' _)
endif

# ---------------------------------------------------------------------------------------------------
# The recordings. Make cannot name a file whose path holds a space or one of :#%$;=\*?"'()`|<>&{}[],
# so recording paths never become make's words: each recording gets a key, a name make can use, and
# the path stays in the tables ($(OUT)/recordings.txt: "path<TAB>key" per recording, sorted by path).
# The key names its files under $(OUT)/mels/: the path inside DATA=DIR (for a list: the path without
# the list's folder, leading ./ or /, with ../ as __/) as it is when make can name it; otherwise with
# each such character as _ and _XXXXXXXX appended, a hash of that path (a key never changes when other
# recordings come or go). Make sees a recording it cannot name through a symbolic link named by its
# key, $(OUT)/links/rec/<key> (make takes the time of what a link points to), so that an edited
# recording still redoes its spectrogram. Only tabs, newlines and other control characters are refused
# in a name: the tables are TSV.
AUDIO_RE := [.](wav|flac|ogg|oga|opus|mp3|aif|aiff|aifc|au|snd|w64|caf|rf64)$$
# Characters make cannot take in a word (a bracket expression for awk and grep, in the environment as
# AUDIOCNN_UNSAFE: awk -v would eat its backslashes), and the bytes OUT may hold (tr).
MAKE_UNSAFE  := [][[:space:][:cntrl:]:\#%$$;=\\*?"'\''()`|<>&{},~!]
MAKE_SAFE_TR := A-Za-z0-9._+@/\200-\377-
ifneq ($(shell printf '%s' $(call shq,$(OUT)) | LC_ALL=C tr -d '$(MAKE_SAFE_TR)'),)
$(error pipeline: error: OUT=$(OUT): an output folder make cannot name (letters, digits, UTF-8 and ._+@-/ only))
endif
PATH_SETUP = export LC_ALL=C AUDIOCNN_UNSAFE='$(MAKE_UNSAFE)'; out=$(call shq,$(OUT)); cwd=$(call shq,$(CURDIR))
# awk: phash(s), a 31-bit polynomial hash of the bytes of s (stable: keys and shards are made from it);
# key(path, name): NAME if make can take it, else NAME with unsafe characters as _ + _<phash of PATH>
HASH_AWK := function phash(s,   i, h) { if (!ord["A"]) for (i = 1; i < 256; i++) ord[sprintf("%c", i)] = i; \
              h = 0; for (i = 1; i <= length(s); i++) h = (h * 257 + ord[substr(s, i, 1)]) % 2147483647; return h }
KEY_AWK := $(HASH_AWK) function key(p, k) { if (k !~ ENVIRON["AUDIOCNN_UNSAFE"]) return k; \
             gsub(ENVIRON["AUDIOCNN_UNSAFE"], "_", k); return k "_" sprintf("%08x", phash(p)) }
# awk: a path with a newline or tab (find's output passed through tr '\n\t\0' '\001\002\n') or another
# control character: its error line, else ""
BADNAME_AWK := function badname(p) { if (index(p, "\001") || index(p, "\002")) { gsub(/\001/, "\\n", p); gsub(/\002/, "\\t", p); \
                 return "!" p ": a name with a newline or tab (shown as \\n, \\t): the tables cannot hold it; rename it" } \
               if (p ~ /[[:cntrl:]]/) return "!" p ": a name with a control character; rename it"; return "" }

# Prints "path<TAB>key" per recording of DATA, sorted; a line starting with ! is an error. (These
# scripts run through $(shell), which joins their lines with spaces: every line ends with ; or |.)
define FIND_RECORDINGS
if [ -d "$$data" ]; then
  find -L "$$data" -type f -print0 | tr '\n\t\0' '\001\002\n' | awk -v root="$$data/" -v ext='$(AUDIO_RE)' '
    index($$0, root) == 1 { r = substr($$0, length(root) + 1);
      if (r ~ /\// && r !~ /(^|\/)\./ && tolower(r) ~ ext) print $$0 "\t" r };';
elif [ -f "$$data" ]; then
  case $$data in */*) dir=$${data%/*}/;; *) dir=;; esac; [ "$$dir" != ./ ] || dir=;
  awk -F'\t' -v dir="$$dir" 'NR == 1 { for (i = 1; i <= NF; i++) if ($$i == "path") p = i;
      if (!p) { print "!" FILENAME ": no path column in the header line"; exit } next };
    $$p == "" { print "!" FILENAME ": line " NR ": no path"; exit };
    { k = $$p; if (dir != "" && index(k, dir) == 1) k = substr(k, length(dir) + 1);
      sub(/^(\.\/)+/, "", k); sub(/^\/+/, "", k); gsub(/\.\.\//, "__/", k); print $$p "\t" k };' "$$data";
else echo "!$$data: no such file or directory (DATA is a folder of class folders or a .tsv list)"; fi |
sort -t "$$(printf '\t')" -k1,1 | awk -F'\t' -v data="$$data" '
    $(BADNAME_AWK);
    $(KEY_AWK);
    /^!/ { print; bad = 1; exit };
    (e = badname($$1)) != "" { print e; bad = 1; exit };
    { k = key($$1, $$2) };
    k == "train" || k == "val" || k == "test" { print "!" $$1 ": name reserved for a split table; rename it"; bad = 1; exit };
    seen[k]++ { print "!" $$1 ": listed twice (or its spectrogram would have the name of another)"; bad = 1; exit };
    { line[++n] = $$1 "\t" k };
    END { if (bad) exit; if (!n) print "!" data ": no recordings (DATA=DIR needs class folders with recordings; a list, rows)";
          for (i = 1; i <= n; i++) print line[i] }'
endef

# Shell: table "path<TAB>key" lines in $$table -> FILE rewritten only if it differs (returns 1 if it did).
define WRITE_IF_CHANGED
{ [ -f "$(1)" ] && [ "$$(cat "$(1)")" = "$$table" ]; } || { { [ -z "$$table" ] || printf '%s\n' "$$table"; } > "$(1).tmp" && mv "$(1).tmp" "$(1)" && false; }
endef
# Shell: the links of DIR made, replaced or removed to match $$table (a link DIR/KEY for each path make
# cannot name).
define SYNC_LINKS
mkdir -p "$(1)";
{ find "$(1)" -type l -printf 'have\t%P\t%l\n'; printf '%s\n' "$$table" | sed 's/^/want\t/'; } |
awk -F'\t' -v OFS='\t' -v cwd="$$cwd" -v dir="$(1)/" '
    $$1 == "have" { have[$$2] = $$3; next };
    $$2 ~ ENVIRON["AUDIOCNN_UNSAFE"] { t = $$2; if (t !~ /^\//) t = cwd "/" t; want[$$3] = t; if (have[$$3] != t) print "ln", t, dir $$3 };
    END { for (k in have) if (!(k in want)) print "rm", "-", dir k }' |
while IFS=$$'\t' read -r op target link; do
    if [ "$$op" = ln ]; then mkdir -p "$${link%/*}" && ln -sfn -- "$$target" "$$link"; else rm -f -- "$$link"; fi;
done
endef

# Brings $(OUT)/recordings.txt (rewritten only when the recordings or their keys change) and the links
# in $(OUT)/links/ up to date, and prints a DATA list's dependency (the list, or its link; nothing for a
# folder), or one line "!ERROR". It runs when the makefile is read (under make -n and -q too), so that
# every rule sees the current set of recordings (split/deps.mk gives the shards their recordings).
define SYNC_RECORDINGS
$(PATH_SETUP); data=$(call shq,$(DATA)); [ "$$data" = / ] || data=$${data%/};
table=$$( $(FIND_RECORDINGS) ) || { echo "!$(DATA): listing the recordings failed"; exit 0; };
case $$table in '!'*) printf '%s\n' "$${table%%$$'\n'*}"; exit 0;; esac;
mkdir -p "$$out/links" || { echo "!$$out: cannot create the output folder"; exit 0; };
$(call WRITE_IF_CHANGED,$$out/recordings.txt) || echo "pipeline: $$out/recordings.txt: $$(printf '%s\n' "$$table" | wc -l) recordings" >&2;
$(call SYNC_LINKS,$$out/links/rec);
if [ -f "$$data" ]; then
  if printf '%s' "$$data" | grep -q "$$AUDIOCNN_UNSAFE"; then
    case $$data in /*) t=$$data;; *) t=$$cwd/$$data;; esac;
    [ "$$(readlink "$$out/links/DATA")" = "$$t" ] || ln -sfn -- "$$t" "$$out/links/DATA";
    echo "$$out/links/DATA";
  else echo "$$data"; fi;
fi
endef

NEED_DATA := $(if $(ANNOTATIONS),,$(filter-out help clean,$(or $(MAKECMDGOALS),all)))
ifneq ($(NEED_DATA),)
FOUND := $(shell $(SYNC_RECORDINGS))
ifneq ($(filter !%,$(firstword $(FOUND))),)
$(error pipeline: error: $(patsubst !%,%,$(FOUND)))
endif
endif
LIST_DEP  := $(FOUND)

# ---------------------------------------------------------------------------------------------------
# Settings files: each holds a variable's value and is rewritten (making what depends on it out of
# date) only when the value differs, decided when the makefile is read, so make -n and -q see it too.
# $(call settings,FILE,VARIABLE)
define settings
$(1): $$(if $$(and $$(wildcard $(1)),$$(call streq,$$(file <$(1)),$$($(2)))),,FORCE)
	@mkdir -p $$(@D) && printf '%s\n' $$(call shq,$$($(2))) > $$@.tmp && mv $$@.tmp $$@
endef
NORM_SETTINGS = --mode $(NORM) --frames $(FRAMES) $(NORM_OPTS)
$(eval $(call settings,$(OUT)/split.opts,SPLIT_OPTS))
$(eval $(call settings,$(OUT)/frontend.opts,MEL_OPTS))
$(eval $(call settings,$(OUT)/norm.opts,NORM_SETTINGS))
$(eval $(call settings,$(OUT)/eval.opts,EVAL_OPTS))
$(eval $(call settings,$(OUT)/skipbad.opts,SKIP_BAD))
$(foreach m,$(MODELS),$(eval TRAIN_OPTS_$(m) ?=)$(eval ARCH_$(m) ?= $(m))$(eval TRAIN_SETTINGS_$(m) = --arch $$(ARCH_$(m)) $$(TRAIN_OPTS) $$(TRAIN_OPTS_$(m))) \
  $(eval $(call settings,$(OUT)/models/$(m).opts,TRAIN_SETTINGS_$(m))))

# Tools that write several files are rules for one of them (GNU make 4.3's grouped targets are not
# seen as remade under make -n); the others depend on it and are touched after it, so that they are
# never older. $(call also_made,PRIMARY,OTHERS)
define also_made
$(2): $(1)
	@[ -f $$@ ] || { echo "pipeline: error: $$@: missing, although $(1) is up to date (remove $(1) to redo it)" >&2; exit 1; }
endef

# ---------------------------------------------------------------------------------------------------
# ANNOTATIONS: long recordings with their selection tables instead of DATA's clips. splitset --windows
# cuts every recording into WINDOW-second windows labelled by the selections they overlap (multi-label
# rows: one 0/1 column per class, BACKGROUND a class of its own for windows without a call), a recording
# never in two splits; wav2mel cuts each split's windows from the recordings (no audio written); specnorm
# stacks them with (N, K) targets (frames: those of a window); each model is trained multi-label
# (cnntrain --multilabel: one sigmoid per class), evaluated on the test windows (average precision,
# ROC-AUC, F1; per-class best-F1 thresholds from val), and scans the test recordings with those
# thresholds, its events scored against their annotations (cnneval --scan --annotations: matched calls,
# precision, recall, F1 and count error per recording); the report shows it all.
ifneq ($(ANNOTATIONS),)
ifneq ($(filter stats,$(NORM)),)
$(error pipeline: error: NORM=stats does not go with ANNOTATIONS: use NORM=sample, minmax or none)
endif
ifneq ($(filter cv tune scan,$(MAKECMDGOALS)),)
$(error pipeline: error: make $(filter cv tune scan,$(MAKECMDGOALS)) goes with DATA, not ANNOTATIONS (the test recordings are scanned by make all: OUT/detect/))
endif
ifneq ($(strip $(SCAN)),)
$(error pipeline: error: SCAN goes with DATA: with ANNOTATIONS the test recordings are scanned and scored (OUT/detect/); scan others with cnneval --scan)
endif
# Prints nothing, or "!ERROR"; writes $(OUT)/annotations.txt (every recording and table with its time
# and size, rewritten only when one changes: what the split depends on).
define SYNC_ANNOTATIONS
$(PATH_SETUP); a=$(call shq,$(ANNOTATIONS)); [ "$$a" = / ] || a=$${a%/};
if [ -d "$$a" ]; then table=$$(find -L "$$a" -type f ! -name '.*' -printf '%p\t%T@\t%s\n' | sort);
elif [ -f "$$a" ]; then
  table=$$( { printf '%s\n' "$$a"; awk -F'\t' 'NR == 1 { for (i = 1; i <= NF; i++) { if ($$i == "recording") r = i; if ($$i == "table") t = i }; next };
      r && t { print $$r; print $$t }' "$$a"; } |
    while IFS= read -r f; do case $$f in /*) g=$$f;; *) g=./$$f;; esac;
      find -L "$$g" -maxdepth 0 -printf '%p\t%T@\t%s\n' 2>/dev/null || printf '%s\tmissing\n' "$$f"; done );
else echo "!$$a: no such file or directory (ANNOTATIONS is a folder of recordings with their Raven tables, or a list with columns recording and table)"; exit 0; fi;
mkdir -p "$$out" || { echo "!$$out: cannot create the output folder"; exit 0; };
$(call WRITE_IF_CHANGED,$$out/annotations.txt) || :
endef
ifneq ($(filter-out help clean,$(or $(MAKECMDGOALS),all)),)
ANN_FOUND := $(shell $(SYNC_ANNOTATIONS))
ifneq ($(filter !%,$(firstword $(ANN_FOUND))),)
$(error pipeline: error: $(patsubst !%,%,$(ANN_FOUND)))
endif
endif
WINDOW_SETTINGS = --windows $(WINDOW) $(WINDOW_OPTS) $(if $(BACKGROUND),--background $(call shq,$(BACKGROUND))) $(SPLIT_OPTS)
$(eval $(call settings,$(OUT)/windows.opts,WINDOW_SETTINGS))
ANN_SCAN_SETTINGS = $(SCAN_OPTS) | $(BACKGROUND)
$(eval $(call settings,$(OUT)/scan.opts,ANN_SCAN_SETTINGS))

SPLIT_TABLES := $(foreach s,$(SPLITS) classes,$(OUT)/split/$(s).tsv)
$(OUT)/split/train.tsv: $(OUT)/annotations.txt $(OUT)/windows.opts $(SPLITSET)
	@a=$(call shq,$(ANNOTATIONS)); [ "$$a" = / ] || a=$${a%/}; \
	 echo $(CMD_FEATURES) $(SPLITSET) -q $(WINDOW_SETTINGS) -- "$$a" $(OUT)/split; \
	 $(CMD_FEATURES) $(SPLITSET) -q $(WINDOW_SETTINGS) -- "$$a" $(OUT)/split
	@touch $(filter-out $@,$(SPLIT_TABLES)); \
	 for s in $(SPLITS); do [ "$$(wc -l < $(OUT)/split/$$s.tsv)" -gt 1 ] || { \
	   echo "pipeline: error: $(OUT)/split/$$s.tsv: no windows in the $$s split (too few recordings for SPLIT_OPTS' ratios: each split needs a recording)" >&2; \
	   rm -f $@; exit 1; }; done; \
	 echo "pipeline: $(OUT)/split: $$(for s in $(SPLITS); do printf '%s %d windows of %d recordings, ' $$s $$(($$(wc -l < $(OUT)/split/$$s.tsv) - 1)) \
	   $$(tail -n +2 $(OUT)/split/$$s.tsv | cut -f1 | uniq | wc -l); done | sed 's/, $$//')" >&2
$(eval $(call also_made,$(OUT)/split/train.tsv,$(filter-out $(OUT)/split/train.tsv,$(SPLIT_TABLES))))

# Each split's windows, cut from their recordings by one wav2mel job: $(OUT)/mels/<split>/<key>.npy and
# the manifest $(OUT)/mels/<split>.tsv (its class columns from the split table).
$(foreach s,$(SPLITS),$(eval $(OUT)/mels/$(s).tsv: $(OUT)/split/$(s).tsv $(OUT)/frontend.opts $(WAV2MEL) ; \
  $$(CMD_FEATURES) $$(WAV2MEL) -q $$(MEL_OPTS) --list $(OUT)/split/$(s).tsv -o $(OUT)/mels/$(s) -m $$@))
# The frames of a window's spectrogram (the first training window's; all windows have its length up to a
# frame of resampling), the stacks' and so the model's input width.
$(OUT)/frames.txt: $(OUT)/mels/train.tsv
	@awk -F'\t' 'NR == 1 { for (i = 1; i <= NF; i++) if ($$i == "shape") c = i; next } \
	  NR == 2 { n = split($$c, d, "x"); print d[n]; exit }' $< > $@.tmp
	@grep -qx '[1-9][0-9]*' $@.tmp || { echo "pipeline: error: $<: no shape of a window" >&2; rm -f $@.tmp; exit 1; }; mv $@.tmp $@
ANN_NORM = --mode $(NORM) --frames "$$(cat $(OUT)/frames.txt)" $(NORM_OPTS)
$(foreach s,$(SPLITS),$(eval $(OUT)/$(s).npy: $(OUT)/mels/$(s).tsv $(OUT)/frames.txt $(OUT)/norm.opts $(OUT)/split/classes.tsv $(SPECNORM) ; \
  $$(CMD_FEATURES) $$(SPECNORM) -q $$(ANN_NORM) -m $$< --stack $$@ --labels $(OUT)/$(s)-labels.npy --classes $(OUT)/split/classes.tsv \
  && touch $(OUT)/$(s)-labels.npy) $(eval $(call also_made,$(OUT)/$(s).npy,$(OUT)/$(s)-labels.npy)))

define ann_model
$(OUT)/models/$(1).safetensors: $(OUT)/train.npy $(OUT)/train-labels.npy $(OUT)/val.npy $(OUT)/val-labels.npy \
		$(OUT)/split/classes.tsv $(OUT)/frames.txt $(OUT)/models/$(1).opts $(CNNTRAIN)
	@mkdir -p $$(@D)
	$$(CMD_TRAIN) $$(CNNTRAIN) -q --multilabel --arch $$(ARCH_$(1)) --train $(OUT)/train.npy --val $(OUT)/val.npy \
	  --classes $(OUT)/split/classes.tsv --frontend "$$$$(printf '%s | %s' $$(call shq,$$(MEL_OPTS)) "$$(ANN_NORM)")" \
	  --history $(OUT)/models/$(1).history --state $(OUT)/models/$(1).state.safetensors $$(TRAIN_OPTS) $$(TRAIN_OPTS_$(1)) \
	  -o $(OUT)/models/$(1).safetensors
	@touch $(OUT)/models/$(1).history.tsv $(OUT)/models/$(1).history.json
$$(eval $$(call also_made,$(OUT)/models/$(1).safetensors,$(OUT)/models/$(1).history.tsv $(OUT)/models/$(1).history.json))
# the test windows: average precision, ROC-AUC, F1 (cnneval's multi-label metrics)
$(OUT)/eval/$(1)/metrics.json: $(OUT)/models/$(1).safetensors $(OUT)/test.npy $(OUT)/test-labels.npy $(OUT)/eval.opts $(CNNEVAL)
	$$(CMD_EVAL) $$(CNNEVAL) -q $$(EVAL_OPTS) $(OUT)/models/$(1).safetensors $(OUT)/test.npy -o $(OUT)/eval/$(1)
	@echo "pipeline: $(OUT)/eval/$(1): test windows: macro average precision $$$$(awk '/"macro_avg"/ { m = 1 } m && /"average_precision"/ { gsub(/[^0-9.eE+-]/, "", $$$$2); print $$$$2; exit }' FS=: $(OUT)/eval/$(1)/metrics.json)" >&2
# each class's best-F1 threshold on the val windows (never the test split), for scanning
$(OUT)/eval/$(1)/thresholds.tsv: $(OUT)/models/$(1).safetensors $(OUT)/val.npy $(OUT)/val-labels.npy $(CNNEVAL)
	@mkdir -p $$(@D)
	$$(CMD_EVAL) $$(CNNEVAL) -q $(OUT)/models/$(1).safetensors $(OUT)/val.npy -o $(OUT)/eval/$(1)/val --thresholds-out $$@
# the test recordings scanned with those thresholds, the events scored against their annotations
$(OUT)/detect/$(1)/detection.json: $(OUT)/models/$(1).safetensors $(OUT)/eval/$(1)/thresholds.tsv $(OUT)/split/test.tsv \
		$(OUT)/annotations.txt $(OUT)/scan.opts $(CNNEVAL)
	@rm -rf $(OUT)/detect/$(1).tmp; a=$(call shq,$(ANNOTATIONS)); [ "$$$$a" = / ] || a=$$$${a%/}; \
	 classes=$$$$(awk -F'\t' -v bg=$(call shq,$(BACKGROUND)) 'NR > 1 && $$$$2 != bg { printf "%s%s", s, $$$$2; s = "," }' $(OUT)/split/classes.tsv); \
	 mapfile -t files < <(tail -n +2 $(OUT)/split/test.tsv | cut -f1 | uniq); \
	 echo "$$(CMD_SCAN) $$(CNNEVAL) --scan -q --thresholds $(OUT)/eval/$(1)/thresholds.tsv --classes $$$$classes $$(SCAN_OPTS) --annotations $$$$a -o $(OUT)/detect/$(1) $(OUT)/models/$(1).safetensors -- ($$$${#files[@]} test recordings)"; \
	 $$(CMD_SCAN) $$(CNNEVAL) --scan -q --thresholds $(OUT)/eval/$(1)/thresholds.tsv --classes "$$$$classes" $$(SCAN_OPTS) \
	   --annotations "$$$$a" -o $(OUT)/detect/$(1).tmp $(OUT)/models/$(1).safetensors -- "$$$${files[@]}"
	@rm -rf $(OUT)/detect/$(1) && mv $(OUT)/detect/$(1).tmp $(OUT)/detect/$(1); \
	 awk -F'\t' '$$$$1 == "*" { a += $$$$3; d += $$$$4; m += $$$$5 } END { printf "pipeline: $(OUT)/detect/$(1): %d annotated calls in the test recordings, %d detected, %d matched (count error %+d)\n", a, d, m, d - a > "/dev/stderr" }' \
	   $(OUT)/detect/$(1)/detection.tsv
endef
$(foreach m,$(MODELS),$(eval $(call ann_model,$(m))))

MODEL_FILES := $(MODELS:%=$(OUT)/models/%.safetensors)
EVAL_FILES  := $(foreach m,$(MODELS),$(OUT)/eval/$(m)/metrics.json $(OUT)/eval/$(m)/thresholds.tsv)
DETECT_FILES := $(MODELS:%=$(OUT)/detect/%/detection.json)
$(eval $(call settings,$(OUT)/report.opts,REPORT_TITLE))
$(OUT)/report.html: $(MODEL_FILES) $(EVAL_FILES) $(DETECT_FILES) $(OUT)/report.opts $(MKREPORT)
	@rm -rf $(OUT)/figures.tmp
	$(CMD_REPORT) $(MKREPORT) -q --title $(call shq,$(REPORT_TITLE)) \
	  $(foreach m,$(MODELS),-m $(m)=$(OUT)/models/$(m).safetensors,$(OUT)/models/$(m).history,$(OUT)/eval/$(m)) \
	  --scan $(OUT)/detect/$(firstword $(MODELS)) --figures $(OUT)/figures.tmp -o $@.tmp
	@rm -rf $(OUT)/figures && mv $(OUT)/figures.tmp $(OUT)/figures && mv $@.tmp $@ && \
	 echo "pipeline: $@: the report ($$(ls $(OUT)/figures | wc -l) figures; open it in a browser)" >&2

split: $(SPLIT_TABLES)
mels: $(foreach s,$(SPLITS),$(OUT)/mels/$(s).tsv)
features stacks: $(foreach s,$(SPLITS),$(OUT)/$(s).npy $(OUT)/$(s)-labels.npy)
train: $(MODEL_FILES)
evaluate: $(EVAL_FILES)
detect: $(DETECT_FILES)
report: $(OUT)/report.html
all: train evaluate detect report
else

# ---------------------------------------------------------------------------------------------------
# Stage 1, split: one splitset run writes the four tables. Count check: the tables hold exactly the
# recordings found.
SPLIT_TABLES := $(foreach s,$(SPLITS) classes,$(OUT)/split/$(s).tsv)
$(OUT)/split/train.tsv: $(OUT)/recordings.txt $(OUT)/split.opts $(LIST_DEP) $(SPLITSET)
	@data=$(call shq,$(DATA)); [ "$$data" = / ] || data=$${data%/}; \
	 echo $(CMD_FEATURES) $(SPLITSET) -q $(SPLIT_OPTS) -- "$$data" $(OUT)/split; $(CMD_FEATURES) $(SPLITSET) -q $(SPLIT_OPTS) -- "$$data" $(OUT)/split
	@touch $(filter-out $@,$(SPLIT_TABLES))
	@cut -f1 $(OUT)/recordings.txt > $(OUT)/split/.found.tmp; \
	 for s in $(SPLITS); do tail -n +2 $(OUT)/split/$$s.tsv; done | cut -f1 | LC_ALL=C sort > $(OUT)/split/.placed.tmp; \
	 if ! cmp -s $(OUT)/split/.found.tmp $(OUT)/split/.placed.tmp; then \
	   echo "pipeline: error: $(OUT)/split: $$(wc -l < $(OUT)/split/.placed.tmp) rows for $$(wc -l < $(OUT)/split/.found.tmp) recordings ($$(LC_ALL=C comm -3 $(OUT)/split/.found.tmp $(OUT)/split/.placed.tmp | head -n 1 | tr -d '\t'): not in both)" >&2; \
	   rm -f $(OUT)/split/.*.tmp; exit 1; fi; \
	 rm -f $(OUT)/split/.*.tmp; \
	 echo "pipeline: $(OUT)/split: $$(for s in $(SPLITS); do printf '%s %d, ' $$s $$(($$(wc -l < $(OUT)/split/$$s.tsv) - 1)); done | sed 's/, $$//') recordings" >&2

$(eval $(call also_made,$(OUT)/split/train.tsv,$(filter-out $(OUT)/split/train.tsv,$(SPLIT_TABLES))))

# Shards: the spectrograms are made in jobs of about SHARD recordings of one split (a split of N
# recordings has the smallest power of two >= N/SHARD shards, a recording goes to shard phash(key) mod
# that: adding recordings moves no other one until the count doubles). $(OUT)/split/deps.mk, made from
# the split tables and included (so make first brings the split up to date, then reads it), gives each
# shard $(OUT)/mels/shards/<split>-<i>.done its list (<split>-<i>.list, "path<TAB>key", rewritten only
# when it changes) and its recordings as dependencies (FORCE when one of their spectrograms is missing),
# and each split's manifest its shards.
$(eval $(call settings,$(OUT)/shard.opts,SHARD))
$(OUT)/split/deps.mk: $(SPLIT_TABLES) $(OUT)/recordings.txt $(OUT)/shard.opts
	@$(PATH_SETUP); mkdir -p $(OUT)/mels/shards; awk -F'\t' -v out="$$out" -v shard=$(call shq,$(SHARD)) ' \
	  $(HASH_AWK); \
	  function die(m) { print "pipeline: error: " m > "/dev/stderr"; bad = 1; exit 1 }; \
	  BEGIN { if (shard !~ /^[1-9][0-9]*$$/) die("SHARD=" shard ": a number of recordings (1 or more)") }; \
	  FNR == NR { key[$$1] = $$2; next }; \
	  FNR == 1 { s = FILENAME; sub(/.*\//, "", s); sub(/\.tsv$$/, "", s); splits[++ns] = s; next }; \
	  { if (!($$1 in key)) die($$1 ": in " FILENAME " but not in DATA"); rec[s, ++n[s]] = $$1 }; \
	  END { if (bad) exit 1; \
	    for (j = 1; j <= ns; j++) { s = splits[j]; nb = 1; while (nb * shard < n[s]) nb *= 2; \
	      for (i = 1; i <= n[s]; i++) { p = rec[s, i]; k = key[p]; name = s "-" (phash(k) % nb); \
	        if (!(name in list)) order[++nn] = name; list[name] = list[name] p "\t" k "\n"; \
	        dep[name] = dep[name] " " (p ~ ENVIRON["AUDIOCNN_UNSAFE"] ? out "/links/rec/" k : p); \
	        made[name] = made[name] " " out "/mels/" k ".tsv"; shards[s] = shards[s] " " out "/mels/shards/" name ".done" } } \
	    for (j = 1; j <= nn; j++) { name = order[j]; f = out "/mels/shards/" name ".list"; old = ""; \
	      while ((getline line < f) > 0) old = old line "\n"; close(f); \
	      if (old != list[name]) { printf "%s", list[name] > (f ".tmp"); close(f ".tmp"); system("mv " f ".tmp " f) } \
	      print "SHARDS += " out "/mels/shards/" name ".done"; \
	      print "SHARD_MADE_" name " :=" made[name]; \
	      print out "/mels/shards/" name ".done: " f dep[name] " $$(if $$(filter-out $$(wildcard $$(SHARD_MADE_" name ")),$$(SHARD_MADE_" name ")),FORCE)" } \
	    for (j = 1; j <= ns; j++) print out "/mels/" splits[j] ".tsv:" shards[splits[j]] }' \
	  $(OUT)/recordings.txt $(foreach s,$(SPLITS),$(OUT)/split/$(s).tsv) > $@.tmp
	@mv $@.tmp $@
ifneq ($(NEED_DATA),)
include $(OUT)/split/deps.mk
endif

# ---------------------------------------------------------------------------------------------------
# Stage 2, one spectrogram per recording: $(OUT)/mels/<key>.npy and its one-row manifest <key>.tsv,
# made by the shard jobs (one job, through CMD_FEATURES, per shard). A job makes the spectrograms of its
# shard that are missing or older than their recording, the front end's settings or wav2mel (so a
# touched recording redoes that spectrogram alone, and a new shard layout redoes none). A recording
# wav2mel cannot read (its exit status 1: a data error) stops the run, or with SKIP_BAD=1 gets a
# manifest without rows and a <key>.skip line (path, reason) that skipped.tsv collects. Any other
# failure (a usage error in MEL_OPTS, a tool that cannot run) always stops the run.
# The job's script, run as bash -c SCRIPT mel-shard OUT LIST WAV2MEL MEL_OPTS SKIP_BAD FRONTEND_OPTS:
MANIFEST_HEADER := key\tnpy\tsource\tlabel\tindex\tgroup\tstart\tend\tshape
define MEL_SHARD_JOB
set -eu; out=$$1; list=$$2; wav2mel=$$3; eval "opts=($$4)"; skipbad=$$5; front=$$6;
while IFS=$$'\t' read -r src key; do
  tsv=$$out/mels/$$key.tsv; npy=$$out/mels/$$key.npy; skip=$$out/mels/$$key.skip;
  if [ -f "$$tsv" ] && [ "$$tsv" -nt "$$src" ] && [ "$$tsv" -nt "$$front" ] && [ "$$tsv" -nt "$$wav2mel" ]; then continue; fi;
  echo "wav2mel $$src"; mkdir -p "$${tsv%/*}"; rm -f "$$skip" "$$tsv.tmp";
  if "$$wav2mel" -q "$${opts[@]}" -m "$$tsv.tmp" -- "$$src" "$$npy" 2> "$$tsv.err"; then
    cat "$$tsv.err" >&2; rm -f "$$tsv.err"; mv "$$tsv.tmp" "$$tsv";
  else
    rc=$$?; why=$$(sed -n 's/^wav2mel: error: //p' "$$tsv.err" | tail -n 1); why=$${why:-$$(tail -n 1 "$$tsv.err")}; why=$${why#"$$src: "};
    rm -f "$$tsv" "$$tsv.err" "$$tsv.tmp" "$$npy";
    if [ $$rc != 1 ]; then echo "pipeline: error: $$src: wav2mel failed (exit status $$rc): $$why" >&2; exit 1; fi;
    if [ "$$skipbad" = 1 ]; then
      printf '%s\t%s\n' "$$src" "$$why" > "$$skip.tmp" && mv "$$skip.tmp" "$$skip";
      printf '$(MANIFEST_HEADER)\n' > "$$tsv.tmp" && mv "$$tsv.tmp" "$$tsv";
      echo "pipeline: warning: $$src: left out (SKIP_BAD=1): $$why" >&2;
    else
      echo "pipeline: error: $$src: $$why (SKIP_BAD=1 leaves bad recordings out, listed in $$out/skipped.tsv)" >&2; exit 1;
    fi;
  fi;
done < "$$list"
endef
$(OUT)/mels/shards/%.list:
	@rm -f $(OUT)/split/deps.mk; echo "pipeline: error: $@: missing (it is written with $(OUT)/split/deps.mk, now removed: run make again)" >&2; exit 1
$(SHARDS): $(OUT)/mels/shards/%.done: $(OUT)/frontend.opts $(WAV2MEL)
	@$(CMD_FEATURES) bash -c $(call shq,$(call oneline,$(MEL_SHARD_JOB))) mel-shard $(OUT) $(OUT)/mels/shards/$*.list $(WAV2MEL) \
	  $(call shq,$(MEL_OPTS)) $(call shq,$(SKIP_BAD)) $(OUT)/frontend.opts; touch $@

# The recordings left out (SKIP_BAD=1), with the reason: header only when none.
$(OUT)/skipped.tsv: $(OUT)/recordings.txt $(SHARDS)
	@awk -F'\t' -v mels=$(call shq,$(OUT)/mels/) 'BEGIN { print "path\treason" } \
	  { f = mels $$2 ".skip"; while ((getline line < f) > 0) print line; close(f) }' $(OUT)/recordings.txt > $@.tmp
	@mv $@.tmp $@; n=$$(($$(wc -l < $@) - 1)); [ $$n = 0 ] || echo "pipeline: warning: $$n recording(s) left out, listed in $@" >&2

# A split's manifest: the rows of its recordings' spectrograms with label, index and group from the
# split table. Count check: every recording of the split has a spectrogram, or was left out with
# SKIP_BAD=1 (an error without it). Rewritten only when its content changes.
# $(call split_manifest,SPLIT,TABLES,DIR): DIR/mels/SPLIT.tsv from TABLES/SPLIT.tsv (the spectrograms
# themselves are always $(OUT)/mels/<key>.npy: the folds of make cv share them).
define split_manifest
$(3)/mels/$(1).tsv: $(2)/$(1).tsv $(OUT)/recordings.txt
	@mkdir -p $$(@D); awk -F'\t' -v OFS='\t' -v mels=$$(call shq,$(OUT)/mels/) -v skipbad=$$(call shq,$$(SKIP_BAD)) ' \
	  function die(m) { print "pipeline: error: " m > "/dev/stderr"; bad = 1; exit 1 } \
	  FNR == NR { key[$$$$1] = $$$$2; next } \
	  FNR == 1 { print "$(MANIFEST_HEADER)"; next } \
	  { if (!($$$$1 in key)) die($$$$1 ": in " FILENAME " but not in DATA"); \
	    row = mels key[$$$$1] ".tsv"; n = 0; \
	    while ((getline line < row) > 0) if (++n > 1) { split(line, f, "\t"); \
	      print f[1], f[2], f[3], $$$$2, $$$$3, $$$$4, f[7], f[8], f[9]; rows++ } \
	    close(row); \
	    if (n == 0) die(row ": missing (the spectrogram of " $$$$1 ")"); \
	    if (n == 1) { why = ""; s = mels key[$$$$1] ".skip"; if ((getline why < s) > 0) close(s); \
	      if (why == "") die($$$$1 ": no spectrogram in " row); \
	      if (skipbad != "1") die($$$$1 ": left out by an earlier SKIP_BAD=1 run (" substr(why, index(why, "\t") + 1) "); fix it, or run with SKIP_BAD=1"); \
	      skipped++ } } \
	  END { if (bad) exit 1; printf "%d\t%d\n", rows, skipped > "/dev/stderr" }' \
	  $(OUT)/recordings.txt $(2)/$(1).tsv > $$@.tmp 2> $$@.count || { cat $$@.count >&2; rm -f $$@.count; exit 1; }
	@read rows skipped < $$@.count; rm -f $$@.count; mv $$@.tmp $$@; \
	 echo "pipeline: $$@: $$$$rows spectrograms$$$$([ $$$$skipped = 0 ] || echo ", $$$$skipped left out")" >&2
endef
$(foreach s,$(SPLITS),$(eval $(call split_manifest,$(s),$(OUT)/split,$(OUT))))

# ---------------------------------------------------------------------------------------------------
# Stage 3, normalised stacks: (N, 1, n_mels, FRAMES) float32 and N int64 labels per split. With
# NORM=stats, per-band statistics of train first. Count check: N = the rows of the split's manifest.
npy_rows = $$(head -c 1024 $(1) | LC_ALL=C tr -c '[:print:]' ' ' | sed -n "s/.*'shape': *(\([0-9]*\).*/\1/p")
# $(call stats_dep,DIR), $(call norm_flags,DIR): the statistics file (NORM=stats) and specnorm's options
# for the stacks of DIR (the main run's $(OUT), or a fold of make cv).
stats_dep  = $(if $(filter stats,$(NORM)),$(1)/stats.npy)
norm_flags = $(if $(filter stats,$(NORM)),--stats $(1)/stats.npy,--mode $(NORM)) --frames $(FRAMES) $(NORM_OPTS)
# $(call stack,SPLIT,DIR): DIR/SPLIT.npy + DIR/SPLIT-labels.npy from DIR/mels/SPLIT.tsv
define stack
$(2)/$(1).npy: $(2)/mels/$(1).tsv $(call stats_dep,$(2)) $(OUT)/norm.opts $(SPECNORM)
	$$(CMD_FEATURES) $$(SPECNORM) -q $$(call norm_flags,$(2)) -m $$< --stack $(2)/$(1).npy --labels $(2)/$(1)-labels.npy
	@want=$$$$(($$$$(wc -l < $$<) - 1)); n=$$(call npy_rows,$(2)/$(1).npy); l=$$(call npy_rows,$(2)/$(1)-labels.npy); \
	 [ "$$$$n" = "$$$$want" ] && [ "$$$$l" = "$$$$want" ] || { echo "pipeline: error: $(2)/$(1).npy: $$$$n rows and $$$$l labels for $$$$want spectrograms" >&2; rm -f $(2)/$(1).npy $(2)/$(1)-labels.npy; exit 1; }; \
	 touch $(2)/$(1)-labels.npy
$$(eval $$(call also_made,$(2)/$(1).npy,$(2)/$(1)-labels.npy))
endef
define stats
$(1)/stats.npy: $(1)/mels/train.tsv $(SPECNORM)
	$$(CMD_FEATURES) $$(SPECNORM) -q --fit $$@ -m $$<
endef
$(eval $(call stats,$(OUT)))
$(foreach s,$(SPLITS),$(eval $(call stack,$(s),$(OUT))))
STATS_DEP  := $(call stats_dep,$(OUT))
NORM_FLAGS  = $(call norm_flags,$(OUT))

# The count check of the whole run, kept as $(OUT)/counts.tsv: every recording found is in exactly
# one split, has a spectrogram or is listed in skipped.tsv, and every spectrogram is in a stack.
$(OUT)/counts.tsv: $(OUT)/recordings.txt $(SPLIT_TABLES) $(OUT)/skipped.tsv $(OUT)/skipbad.opts $(SHARDS) \
		$(foreach s,$(SPLITS),$(OUT)/mels/$(s).tsv $(OUT)/$(s).npy)
	@found=$$(wc -l < $(OUT)/recordings.txt); \
	 placed=$$(for s in $(SPLITS); do tail -n +2 $(OUT)/split/$$s.tsv; done | wc -l); \
	 read made spectrograms < <(awk -F'\t' -v mels=$(call shq,$(OUT)/mels/) '{ f = mels $$2 ".tsv"; n = 0; \
	   while ((getline line < f) > 0) n++; close(f); if (n > 1) { made++; rows += n - 1 } } END { print made + 0, rows + 0 }' $(OUT)/recordings.txt); \
	 skipped=$$(($$(wc -l < $(OUT)/skipped.tsv) - 1)); \
	 manifests=$$(for s in $(SPLITS); do tail -n +2 $(OUT)/mels/$$s.tsv; done | wc -l); \
	 stacked=0; for s in $(SPLITS); do stacked=$$((stacked + $(call npy_rows,$(OUT)/$$s.npy))); done; \
	 printf 'stage\tcount\nrecordings\t%d\nsplit\t%d\nwith spectrograms\t%d\nleft out\t%d\nspectrograms\t%d\nstacked\t%d\n' \
	   $$found $$placed $$made $$skipped $$spectrograms $$stacked > $@.tmp; \
	 fail() { echo "pipeline: error: count check: $$*" >&2; rm -f $@.tmp; exit 1; }; \
	 [ $$skipped = 0 ] || [ $(call shq,$(SKIP_BAD)) = 1 ] || fail "$$skipped recording(s) left out by an earlier SKIP_BAD=1 run, listed in $(OUT)/skipped.tsv (first: $$(sed -n 2p $(OUT)/skipped.tsv | tr '\t' ' ')): fix them, or run with SKIP_BAD=1"; \
	 [ $$placed = $$found ] || fail "$$placed recordings in the split tables, $$found found"; \
	 [ $$((made + skipped)) = $$found ] || fail "$$made recordings with spectrograms + $$skipped left out != $$found found"; \
	 [ $$manifests = $$spectrograms ] || fail "$$manifests rows in the split manifests, $$spectrograms spectrograms"; \
	 [ $$stacked = $$spectrograms ] || fail "$$stacked rows in the stacks, $$spectrograms spectrograms"; \
	 mv $@.tmp $@; \
	 echo "pipeline: $@: $$found recordings, $$spectrograms spectrograms, $$skipped left out, $$stacked stacked: ok" >&2

# ---------------------------------------------------------------------------------------------------
# Stage 4, one checkpoint per model (cnntrain --arch MODEL) with its history; the front end is recorded
# ('WAV2MEL-OPTIONS | SPECNORM-OPTIONS') so that cnneval classifies raw recordings the same way. With
# NORM=stats the checkpoint carries train's per-band statistics (cnntrain reads them from the stats file).
# $(call model,MODEL,TABLES,DIR): DIR/models/MODEL.safetensors from DIR/{train,val}.npy (classes from
# TABLES), and its evaluation DIR/eval/MODEL/ on DIR/test.npy; MODEL's settings are $(3)/models/MODEL.opts.
frontend_text = $(MEL_OPTS) | $(call norm_flags,$(1))
define model
$(3)/models/$(1).safetensors: \
		$(foreach s,train val,$(3)/$(s).npy $(3)/$(s)-labels.npy) $(2)/classes.tsv $(call stats_dep,$(3)) $(or $(4),$(OUT)/models/$(1).opts) $(CNNTRAIN)
	@mkdir -p $$(@D)
	$$(CMD_TRAIN) $$(CNNTRAIN) -q --arch $$(ARCH_$(1)) --train $(3)/train.npy --val $(3)/val.npy --classes $(2)/classes.tsv \
	  --frontend $$(call shq,$$(call frontend_text,$(3))) --history $(3)/models/$(1).history \
	  --state $(3)/models/$(1).state.safetensors $$(TRAIN_OPTS) $$(TRAIN_OPTS_$(1)) -o $(3)/models/$(1).safetensors
	@awk -F'\t' 'NR == 1 { name = $$$$5; next } { n++; if (NR == 2 || $$$$4 < best) { best = $$$$4; e = $$$$1; acc = $$$$5 } } \
	  END { printf "pipeline: $(3)/models/$(1).safetensors: %d epochs, best val_loss %.4f (%s %.4f) at epoch %d\n", n, best, name, acc, e > "/dev/stderr" }' \
	  $(3)/models/$(1).history.tsv
	@touch $(3)/models/$(1).history.tsv $(3)/models/$(1).history.json
$$(eval $$(call also_made,$(3)/models/$(1).safetensors,$(3)/models/$(1).history.tsv $(3)/models/$(1).history.json))

# Stage 5, each model on the test split. Count check: one prediction per test spectrogram.
$(3)/eval/$(1)/metrics.json: \
		$(3)/models/$(1).safetensors $(3)/test.npy $(3)/test-labels.npy $(OUT)/eval.opts $(CNNEVAL)
	$$(CMD_EVAL) $$(CNNEVAL) -q $$(EVAL_OPTS) $(3)/models/$(1).safetensors $(3)/test.npy -o $(3)/eval/$(1)
	@n=$$$$(($$$$(wc -l < $(3)/eval/$(1)/predictions.tsv) - 1)); want=$$(call npy_rows,$(3)/test.npy); \
	 [ "$$$$n" = "$$$$want" ] || { echo "pipeline: error: $(3)/eval/$(1)/predictions.tsv: $$$$n predictions for $$$$want test spectrograms" >&2; exit 1; }; \
	 echo "pipeline: $(3)/eval/$(1): test accuracy $$$$(sed -n 's/.*"accuracy": *\([0-9.eE+-]*\).*/\1/p' $(3)/eval/$(1)/metrics.json | head -n 1) on $$$$n recordings" >&2; \
	 touch $(3)/eval/$(1)/predictions.tsv $(3)/eval/$(1)/misclassified.tsv
$$(eval $$(call also_made,$(3)/eval/$(1)/metrics.json,$(3)/eval/$(1)/predictions.tsv $(3)/eval/$(1)/misclassified.tsv))
endef
$(foreach m,$(MODELS),$(eval $(call model,$(m),$(OUT)/split,$(OUT))))

# ---------------------------------------------------------------------------------------------------
# Cross-validation (make cv): splitset --folds FOLDS into $(CV)/split/ (folds.tsv, fold<k>/ lists); for
# each fold k, the spectrograms (shared with the main run, never recomputed) stacked as that fold's
# train/val/test in $(CV)/fold<k>/, every model of MODELS trained on it and evaluated on its test fold.
# $(CV)/results.tsv: model, fold, accuracy, macro F1, loss; $(CV)/summary.tsv: per model the mean and
# sample standard deviation (n - 1) over the folds; $(CV)/paired.tsv: per pair of models the per-fold
# accuracy differences (mean, standard deviation, folds won by each, ties).
CV := $(OUT)/cv
# awk: meanstd(sum, sum of squares, n) -> "mean<TAB>sample std" (n - 1; 0 for one value), 4 decimals
MEANSTD_AWK := function meanstd(s, q, n,   mu, v) { mu = s / n; v = n > 1 ? (q - n * mu * mu) / (n - 1) : 0; \
                 return sprintf("%.4f\t%.4f", mu, v > 0 ? sqrt(v) : 0) }
FOLD_LIST := $(if $(filter-out 0 1,$(FOLDS)),$(shell seq 1 $(FOLDS) 2>/dev/null))
ifneq ($(and $(filter cv,$(MAKECMDGOALS)),$(if $(FOLD_LIST),,t)),)
$(error pipeline: error: FOLDS=$(FOLDS): make cv needs a number of folds from 2 to 30)
endif
$(eval $(call settings,$(OUT)/folds.opts,FOLDS))
$(CV)/split/folds.tsv: $(OUT)/recordings.txt $(OUT)/split.opts $(OUT)/folds.opts $(LIST_DEP) $(SPLITSET)
	@data=$(call shq,$(DATA)); [ "$$data" = / ] || data=$${data%/}; \
	 echo $(CMD_FEATURES) $(SPLITSET) -q --folds $(FOLDS) $(SPLIT_OPTS) -- "$$data" $(CV)/split; \
	 $(CMD_FEATURES) $(SPLITSET) -q --folds $(FOLDS) $(SPLIT_OPTS) -- "$$data" $(CV)/split
	@$(call check_folds,$(CV)/split,$(FOLD_LIST),SPLIT_OPTS)
# $(call check_folds,SPLITDIR,FOLDS,VARIABLE): every fold has recordings in train, val and test (with few large
# groups the train:val carving can leave val empty), else an error naming the fold (folds.tsv removed)
check_folds = for k in $(2); do for s in train val test; do [ "$$(wc -l < $(1)/fold$$k/$$s.tsv)" -gt 1 ] || { \
  echo "pipeline: error: $(1)/fold$$k/$$s.tsv: no recordings in fold $$k's $$s split (too few groups for these folds: fewer folds, or more val with $(3)='--ratios 60/40/0')" >&2; \
  rm -f $(1)/folds.tsv; exit 1; }; done; done
# $(call fold_features,DIR,FOLDS): for each fold k of DIR/split (splitset --folds), the manifests, stacks
# and statistics of DIR/fold<k> from the shared spectrograms (make cv and make tune)
fold_features = $(foreach k,$(2),$(foreach s,$(SPLITS) classes,$(eval $(1)/split/fold$(k)/$(s).tsv: $(1)/split/folds.tsv)) \
  $(foreach s,$(SPLITS),$(eval $(call split_manifest,$(s),$(1)/split/fold$(k),$(1)/fold$(k))) \
    $(eval $(1)/fold$(k)/mels/$(s).tsv: $(SHARDS)) $(eval $(call stack,$(s),$(1)/fold$(k)))) \
  $(eval $(call stats,$(1)/fold$(k))))
$(call fold_features,$(CV),$(FOLD_LIST))
$(foreach k,$(FOLD_LIST),$(foreach m,$(MODELS),$(eval $(call model,$(m),$(CV)/split/fold$(k),$(CV)/fold$(k)))))
CV_METRICS := $(foreach k,$(FOLD_LIST),$(foreach m,$(MODELS),$(CV)/fold$(k)/eval/$(m)/metrics.json))
$(CV)/results.tsv: $(CV_METRICS)
	@{ printf 'model\tfold\taccuracy\tmacro_f1\tloss\n'; \
	   for m in $(MODELS); do for k in $(FOLD_LIST); do \
	     awk -v m="$$m" -v k=$$k -F'[:,]' '/^  "accuracy":/ { a = $$2 } /^  "loss":/ { l = $$2 } /^  "macro_avg":/ { mac = 1 } \
	       mac && /"f1":/ { f = $$2; mac = 0 } END { gsub(/ /, "", a); gsub(/ /, "", f); gsub(/ /, "", l); print m "\t" k "\t" a "\t" f "\t" l }' \
	       $(CV)/fold$$k/eval/$$m/metrics.json; done; done; } > $@.tmp && mv $@.tmp $@
$(CV)/summary.tsv: $(CV)/results.tsv
	@awk -F'\t' -v OFS='\t' '$(MEANSTD_AWK) NR == 1 { print "model", "folds", "accuracy_mean", "accuracy_std", "macro_f1_mean", "macro_f1_std", "loss_mean", "loss_std"; next } \
	  { if (!($$1 in n)) order[++nm] = $$1; n[$$1]++; for (c = 3; c <= 5; c++) { s[$$1, c] += $$c; q[$$1, c] += $$c * $$c } } \
	  END { for (i = 1; i <= nm; i++) { m = order[i]; line = m OFS n[m]; \
	    for (c = 3; c <= 5; c++) line = line OFS meanstd(s[m, c], q[m, c], n[m]); print line } }' $< > $@.tmp && mv $@.tmp $@
	@rm -f $(OUT)/report.html
	@sed 1d $@ | while IFS=$$'\t' read -r m n am as fm fs lm ls; do \
	   echo "pipeline: $(CV): $$m: accuracy $$am +- $$as, macro F1 $$fm +- $$fs over $$n folds" >&2; done
$(CV)/paired.tsv: $(CV)/results.tsv
	@awk -F'\t' -v OFS='\t' '$(MEANSTD_AWK) NR > 1 { if (!($$1 in seen)) order[++nm] = $$1; seen[$$1] = 1; acc[$$1, $$2] = $$3; folds[$$2] = 1 } \
	  END { print "model_a", "model_b", "folds", "accuracy_diff_mean", "accuracy_diff_std", "wins_a", "wins_b", "ties"; \
	    for (i = 1; i <= nm; i++) for (j = i + 1; j <= nm; j++) { a = order[i]; b = order[j]; n = s = q = wa = wb = t = 0; \
	      for (k in folds) { d = acc[a, k] - acc[b, k]; n++; s += d; q += d * d; if (d > 0) wa++; else if (d < 0) wb++; else t++ } \
	      print a, b, n, meanstd(s, q, n), wa, wb, t } }' $< > $@.tmp && mv $@.tmp $@
cv: $(CV)/summary.tsv $(CV)/paired.tsv

# ---------------------------------------------------------------------------------------------------
# Recipe search (make tune): TUNE_BUDGET candidates, the first cnntrain's defaults (with TRAIN_OPTS), the
# others drawn without repeats from TUNE_GRID by a seeded generator (TUNE_SEED), each scored by
# TUNE_FOLDS-fold cross-validation inside the main split's train and val recordings only (the test split
# is never used): $(TUNE)/split/ holds the folds of train+val, $(TUNE)/fold<k>/ their stacks, and every
# candidate's checkpoint and evaluation per fold. The architecture is TUNE_ARCH (default: the first of
# MODELS). Every candidate's first fold is an ordinary target (in parallel with -j); its other folds
# are trained one by one in $(TUNE)/scores/<candidate>.tsv (candidate, status, macro F1 per fold
# trained), after the earlier candidates' (a chain, so the decisions are the same at any -j), through
# a recursive make of that fold's evaluation (TUNE_STEP=1 turns the candidates on there). Early
# stopping: before fold k, a candidate whose mean macro F1 over folds 1..k-1 is below the best mean
# over the same folds of an earlier candidate scored on every fold by more than TUNE_STOP stops
# (status 'stopped'; empty TUNE_STOP: never). $(TUNE)/results.tsv: per candidate its options, macro F1
# per fold ('-' for folds not trained), mean and std over the folds trained, status, rank (the
# candidates scored on every fold first); $(TUNE)/recipe.opts: the best candidate's options (highest
# mean macro F1; ties: the earlier one), which `make all RECIPE=$(TUNE)/recipe.opts` adds to TRAIN_OPTS.
TUNE := $(OUT)/tune
TUNE_GRID := --lr=5e-4,1e-3,2e-3,4e-3 --wd=0.001,0.01,0.05 --dropout=0.1,0.3,0.5 --label-smoothing=0,0.1 \
             --mixup=0,0.2,0.4 --masks=1,2 --schedule=plateau,cosine
# Candidates: "cNN=OPT|VALUE|OPT|VALUE..." ('|' for spaces); c01 has no options of its own.
TUNE_CANDIDATES := $(if $(or $(filter tune,$(MAKECMDGOALS)),$(TUNE_STEP)),$(shell printf '%s\n' $(TUNE_GRID) | awk -F'[=,]' \
  -v budget=$(call shq,$(TUNE_BUDGET)) -v seed=$(call shq,$(TUNE_SEED)) ' \
  { name[NR] = $$1; nv[NR] = NF - 1; for (i = 2; i <= NF; i++) val[NR, i - 1] = $$i; total = NR == 1 ? NF - 1 : total * (NF - 1) } \
  END { if (budget !~ /^[1-9][0-9]*$$/ || seed !~ /^[0-9]+$$/) { print "!TUNE_BUDGET and TUNE_SEED: positive numbers"; exit } \
        if (budget > total + 1) budget = total + 1; print "c01="; x = seed % 2147483646 + 1; \
        for (c = 2; c <= budget; ) { x = (x * 16807) % 2147483647; r = int(x / 2147483647 * total); if (r in used) continue; used[r] = 1; \
          line = sprintf("c%02d=", c); sep = ""; \
          for (i = 1; i <= NR; i++) { v = r % nv[i]; r = int(r / nv[i]); line = line sep name[i] "|" val[i, v + 1]; sep = "|" } \
          print line; c++ } }'))
ifneq ($(filter !%,$(firstword $(TUNE_CANDIDATES))),)
$(error pipeline: error: $(patsubst !%,%,$(TUNE_CANDIDATES)))
endif
TUNE_NAMES := $(foreach c,$(TUNE_CANDIDATES),$(firstword $(subst =, ,$(c))))
TUNE_ARCH ?= $(firstword $(MODELS))
TUNE_FOLD_LIST := $(if $(filter-out 0 1,$(TUNE_FOLDS)),$(shell seq 1 $(TUNE_FOLDS) 2>/dev/null))
ifneq ($(and $(filter tune,$(MAKECMDGOALS)),$(if $(TUNE_FOLD_LIST),,t)),)
$(error pipeline: error: TUNE_FOLDS=$(TUNE_FOLDS): make tune needs a number of folds from 2 to 30)
endif
$(foreach c,$(TUNE_CANDIDATES),$(eval TUNE_OPTS_$(firstword $(subst =, ,$(c))) := $(subst |, ,$(word 2,$(subst =, ,$(c)=)))) \
  $(eval ARCH_tune-$(firstword $(subst =, ,$(c))) := $$(TUNE_ARCH)) \
  $(eval TRAIN_OPTS_tune-$(firstword $(subst =, ,$(c))) := $$(TUNE_OPTS_$(firstword $(subst =, ,$(c))))) \
  $(eval TRAIN_SETTINGS_tune-$(firstword $(subst =, ,$(c))) = --arch $$(TUNE_ARCH) $$(TRAIN_OPTS) $$(TUNE_OPTS_$(firstword $(subst =, ,$(c))))) \
  $(eval $(call settings,$(TUNE)/opts/tune-$(firstword $(subst =, ,$(c))).opts,TRAIN_SETTINGS_tune-$(firstword $(subst =, ,$(c))))))
TUNE_FOLD_SETTINGS = $(strip $(TUNE_FOLDS) $(TUNE_SPLIT_OPTS))
$(eval $(call settings,$(OUT)/tunefolds.opts,TUNE_FOLD_SETTINGS))
$(eval $(call settings,$(OUT)/tunestop.opts,TUNE_STOP))
$(TUNE)/trainval.tsv: $(OUT)/split/train.tsv $(OUT)/split/val.tsv
	@mkdir -p $(@D); { cat $(OUT)/split/train.tsv; tail -n +2 $(OUT)/split/val.tsv; } > $@.tmp && mv $@.tmp $@
$(TUNE)/split/folds.tsv: $(TUNE)/trainval.tsv $(OUT)/tunefolds.opts $(SPLITSET)
	$(CMD_FEATURES) $(SPLITSET) -q --folds $(TUNE_FOLDS) $(TUNE_SPLIT_OPTS) $< $(TUNE)/split
	@$(call check_folds,$(TUNE)/split,$(TUNE_FOLD_LIST),TUNE_SPLIT_OPTS)
$(call fold_features,$(TUNE),$(TUNE_FOLD_LIST))
$(foreach k,$(TUNE_FOLD_LIST),$(foreach c,$(TUNE_NAMES),\
  $(eval $(call model,tune-$(c),$(TUNE)/split/fold$(k),$(TUNE)/fold$(k),$(TUNE)/opts/tune-$(c).opts))))
# $(call tune_f1,METRICS.json): its macro F1 (shell)
tune_f1 = awk -F'[:,]' '/^  "macro_avg":/ { m = 1 } m && /"f1":/ { gsub(/ /, "", $$2); print $$2; exit }' $(1)
# $(call tune_scores,CANDIDATE,EARLIER CANDIDATES): $(TUNE)/scores/CANDIDATE.tsv. Under make -n/-q/-t
# (n, q or t among the flags) it only asks the recursive make about the other folds and writes nothing.
TUNE_REST := $(wordlist 2,$(words $(TUNE_FOLD_LIST)),$(TUNE_FOLD_LIST))
define tune_scores
$(TUNE)/scores/$(1).tsv: $(TUNE)/fold1/eval/tune-$(1)/metrics.json $(TUNE)/opts/tune-$(1).opts $(OUT)/tunestop.opts \
		$(if $(2),$(TUNE)/scores/$(lastword $(2)).tsv) $(CNNTRAIN) $(CNNEVAL) \
		$(foreach k,$(TUNE_REST),$(foreach s,$(SPLITS),$(TUNE)/fold$(k)/$(s).npy $(TUNE)/fold$(k)/$(s)-labels.npy))
	@if [ -n "$$(findstring n,$$(firstword -$$(MAKEFLAGS)))$$(findstring q,$$(firstword -$$(MAKEFLAGS)))$$(findstring t,$$(firstword -$$(MAKEFLAGS)))" ]; then \
	   for k in $(TUNE_REST); do $$(MAKE) --no-print-directory -f $$(SELF) TUNE_STEP=1 $(TUNE)/fold$$$$k/eval/tune-$(1)/metrics.json || true; done; exit 0; fi; \
	 mkdir -p $$(@D); f1=$$$$($$(call tune_f1,$(TUNE)/fold1/eval/tune-$(1)/metrics.json)); scores=$$$$f1; status=done; \
	 for k in $(TUNE_REST); do \
	   if [ -n $$(call shq,$$(TUNE_STOP)) ]; then \
	     why=$$$$(awk -F'\t' -v stop=$$(call shq,$$(TUNE_STOP)) -v mine="$$$$scores" 'BEGIN { n = split(mine, a, " "); for (i = 1; i <= n; i++) m += a[i]; m /= n } \
	       $$$$2 == "done" { s = 0; for (i = 1; i <= n; i++) s += $$$$(i + 2); if (!found || s / n > best) { best = s / n; who = $$$$1 } found = 1 } \
	       END { if (found && m < best - stop) printf "%.4f over %d fold(s), %s had %.4f", m, n, who, best }' \
	       $(foreach c,$(2),$(TUNE)/scores/$(c).tsv) /dev/null); \
	     if [ -n "$$$$why" ]; then status=stopped; \
	       echo "pipeline: $(TUNE): $(1) stopped before fold $$$$k: macro F1 $$$$why (TUNE_STOP=$$(TUNE_STOP))" >&2; break; fi; \
	   fi; \
	   $$(MAKE) --no-print-directory -f $$(SELF) TUNE_STEP=1 $(TUNE)/fold$$$$k/eval/tune-$(1)/metrics.json; \
	   f1=$$$$($$(call tune_f1,$(TUNE)/fold$$$$k/eval/tune-$(1)/metrics.json)); scores="$$$$scores $$$$f1"; \
	 done; \
	 printf '%s\t%s\t%s\n' $(1) $$$$status "$$$$(echo $$$$scores | tr ' ' '\t')" > $$@.tmp && mv $$@.tmp $$@
endef
TUNE_EARLIER :=
$(foreach c,$(TUNE_NAMES),$(eval $(call tune_scores,$(c),$(TUNE_EARLIER)))$(eval TUNE_EARLIER += $(c)))
$(TUNE)/results.tsv: $(foreach c,$(TUNE_NAMES),$(TUNE)/scores/$(c).tsv $(TUNE)/opts/tune-$(c).opts)
	@{ printf 'candidate\toptions'; for k in $(TUNE_FOLD_LIST); do printf '\tmacro_f1_fold%s' $$k; done; printf '\tmacro_f1_mean\tmacro_f1_std\tstatus\n'; \
	   $(foreach c,$(TUNE_NAMES),printf '%s\t%s\t' $(c) $(call shq,$(strip $(TUNE_OPTS_$(c)))); cut -f2- $(TUNE)/scores/$(c).tsv;) } \
	 | awk -F'\t' -v OFS='\t' -v folds=$(words $(TUNE_FOLD_LIST)) '$(MEANSTD_AWK) NR == 1 { print $$0, "rank"; next } \
	     { st = $$3; s = q = 0; n = NF - 3; line = $$1 OFS $$2; for (i = 4; i <= NF; i++) { s += $$i; q += $$i * $$i; line = line OFS $$i } \
	       for (i = n; i < folds; i++) line = line OFS "-"; row[NR] = line OFS meanstd(s, q, n) OFS st; m[NR] = s / n; done[NR] = st == "done" } \
	     END { for (i = 2; i <= NR; i++) { r = 1; for (j = 2; j <= NR; j++) if (done[j] > done[i] || (done[j] == done[i] && (m[j] > m[i] || (m[j] == m[i] && j < i)))) r++; print row[i], r } }' > $@.tmp
	@mv $@.tmp $@
$(TUNE)/recipe.opts: $(TUNE)/results.tsv
	@awk -F'\t' 'NR > 1 { n++; if ($$(NF - 1) != "done") stopped++ } NR > 1 && $$NF == 1 { print $$2; b = $$1; o = $$2 == "" ? "the defaults" : $$2; f = $$(NF - 3) " +- " $$(NF - 2) } \
	  END { printf "pipeline: $(TUNE): best of %d candidates (%d stopped early): %s (%s), macro F1 %s\n", n, stopped, b, o, f > "/dev/stderr" }' $< > $@.tmp
	@mv $@.tmp $@; rm -f $(OUT)/report.html
tune: $(TUNE)/recipe.opts

# ---------------------------------------------------------------------------------------------------
MODEL_FILES := $(MODELS:%=$(OUT)/models/%.safetensors)
EVAL_FILES  := $(foreach m,$(MODELS),$(foreach f,metrics.json predictions.tsv misclassified.tsv,$(OUT)/eval/$(m)/$(f)))
split: $(SPLIT_TABLES)
mels: $(SHARDS)
features stacks: $(foreach s,$(SPLITS),$(OUT)/$(s).npy $(OUT)/$(s)-labels.npy)
train: $(MODEL_FILES) $(MODELS:%=$(OUT)/models/%.history.tsv) $(MODELS:%=$(OUT)/models/%.history.json)
evaluate: $(EVAL_FILES)
check: $(OUT)/counts.tsv

# Stage 6, scans of long recordings (only with SCAN=DIR or SCAN=FILE): one checkpoint (SCAN_MODEL, a
# model of MODELS or a .safetensors path; default the first model) slides over every recording with
# cnneval --scan: $(OUT)/scan/{scores.tsv,results.tsv,threshold} and events/<recording>.selections.txt.
# The recordings to scan: $(OUT)/scan.list ("path<TAB>key", sorted; rewritten only when it changes),
# each recording a dependency (or its link in $(OUT)/links/scan/, as for DATA).
define SYNC_SCAN
$(PATH_SETUP); scan=$(call shq,$(SCAN)); [ "$$scan" = / ] || scan=$${scan%/};
table=$$( { if [ -d "$$scan" ]; then find -L "$$scan" -type f -print0 | tr '\n\t\0' '\001\002\n' | grep -iE '$(AUDIO_RE)' | sort;
            elif [ -f "$$scan" ] && ! printf '%s' "$$scan" | grep -qiE '$(AUDIO_RE)'; then
              awk -F'\t' 'NR == 1 && NF > 1 { for (i = 1; i <= NF; i++) if ($$i == "path") p = i;
                  if (!p) { print "!" FILENAME ": a TSV list needs a path column"; exit } next };
                { f = p ? $$p : $$0 }; f != "" { if (seen[f]++) { print "!" f ": listed twice in " FILENAME; exit } print f }' "$$scan";
            elif [ -e "$$scan" ]; then printf '%s\n' "$$scan"; fi; } | awk -v root="$$scan/" '
    $(BADNAME_AWK);
    $(KEY_AWK);
    /^!/ { print; exit };
    (e = badname($$0)) != "" { print e; exit };
    { r = index($$0, root) == 1 ? substr($$0, length(root) + 1) : $$0; sub(/^\/+/, "", r); gsub(/\.\.\//, "__/", r); print $$0 "\t" key($$0, r) }' );
case $$table in '!'*) printf '%s\n' "$${table%%$$'\n'*}"; exit 0;; esac;
mkdir -p "$$out" || { echo "!$$out: cannot create the output folder"; exit 0; };
$(call WRITE_IF_CHANGED,$$out/scan.list) || :;
[ -z "$$table" ] || { $(call SYNC_LINKS,$$out/links/scan);
  printf '%s\n' "$$table" | awk -F'\t' -v dir="$$out/links/scan/" '{ print $$1 ~ ENVIRON["AUDIOCNN_UNSAFE"] ? dir $$2 : $$1 }'; }
endef
ifneq ($(and $(SCAN),$(NEED_DATA)),)
SCAN_FOUND := $(shell $(SYNC_SCAN))
ifneq ($(filter !%,$(firstword $(SCAN_FOUND))),)
$(error pipeline: error: $(patsubst !%,%,$(SCAN_FOUND)))
endif
endif
SCAN_DEPS  := $(SCAN_FOUND)
SCAN_CKPT  := $(if $(filter %.safetensors,$(SCAN_MODEL)),$(SCAN_MODEL),$(OUT)/models/$(SCAN_MODEL).safetensors)
$(eval $(call settings,$(OUT)/scan.opts,SCAN_OPTS))
# Scan shards: runs of scan.list's recordings in order, each at most SCAN_SHARD seconds of audio (or one
# recording), one cnneval --scan job each (through CMD_SCAN) into $(SCAN_DIR)/<i>/; the lengths come
# from wav2mel --info (headers only). $(SCAN_DIR)/plan.mk (included, so made first) gives each shard its
# list (<i>.list, rewritten only when it changes) and its recordings as dependencies: a failed shard
# reruns alone, a finished one is never redone, a touched recording rescans its shard.
SCAN_DIR := $(OUT)/scan-shards
$(eval $(call settings,$(OUT)/scanshard.opts,SCAN_SHARD))
$(SCAN_DIR)/plan.mk: $(OUT)/scan.list $(SCAN_DEPS) $(OUT)/scanshard.opts $(WAV2MEL)
	@mkdir -p $(SCAN_DIR) && cut -f1 $(OUT)/scan.list > $(SCAN_DIR)/paths.tmp
	@[ -s $(SCAN_DIR)/paths.tmp ] || { echo "pipeline: error: SCAN=$(SCAN): no recordings to scan (a folder of recordings or one file)" >&2; exit 1; }
	$(CMD_SCAN) $(WAV2MEL) --info --list $(SCAN_DIR)/paths.tmp > $(SCAN_DIR)/info.tmp
	@$(PATH_SETUP); awk -F'\t' -v dir="$$out/scan-shards/" -v links="$$out/links/scan/" -v max=$(call shq,$(SCAN_SHARD)) ' \
	  function die(m) { print "pipeline: error: " m > "/dev/stderr"; bad = 1; exit 1 }; \
	  BEGIN { if (max !~ /^[0-9]+([.][0-9]+)?$$/ || max + 0 <= 0) die("SCAN_SHARD=" max ": seconds of audio per scan job (> 0)") }; \
	  FNR == NR { key[$$1] = $$2; next }; \
	  FNR == 1 { next }; \
	  { if (!($$1 in key)) die($$1 ": in the lengths but not in the scan list"); \
	    if (nsh == 0 || (sum > 0 && sum + $$5 > max)) { name = sprintf("%04d", nsh++); sum = 0; order[nsh] = name }; \
	    sum += $$5; list[name] = list[name] $$1 "\n"; \
	    dep[name] = dep[name] " " ($$1 ~ ENVIRON["AUDIOCNN_UNSAFE"] ? links key[$$1] : $$1) }; \
	  END { if (bad) exit 1; \
	    for (i = 1; i <= nsh; i++) { name = order[i]; f = dir name ".list"; old = ""; \
	      while ((getline line < f) > 0) old = old line "\n"; close(f); \
	      if (old != list[name]) { printf "%s", list[name] > (f ".tmp"); close(f ".tmp"); system("mv " f ".tmp " f) } \
	      print "SCAN_SHARDS += " dir name "/threshold"; \
	      print dir name "/threshold: " f dep[name] } }' $(OUT)/scan.list $(SCAN_DIR)/info.tmp > $@.tmp
	@rm -f $(SCAN_DIR)/paths.tmp $(SCAN_DIR)/info.tmp; mv $@.tmp $@
ifneq ($(and $(SCAN),$(NEED_DATA)),)
include $(SCAN_DIR)/plan.mk
endif
$(SCAN_DIR)/%.list:
	@rm -f $(SCAN_DIR)/plan.mk; echo "pipeline: error: $@: missing (it is written with $(SCAN_DIR)/plan.mk, now removed: run make again)" >&2; exit 1
$(SCAN_SHARDS): $(SCAN_DIR)/%/threshold: $(SCAN_CKPT) $(OUT)/scan.opts $(CNNEVAL)
	@rm -rf $(SCAN_DIR)/$*.tmp && mkdir -p $(SCAN_DIR)/$*.tmp
	@mapfile -t files < $(SCAN_DIR)/$*.list; \
	 echo "$(CMD_SCAN) $(CNNEVAL) --scan -q $(SCAN_OPTS) -o $(SCAN_DIR)/$*.tmp $(SCAN_CKPT) -- ($${#files[@]} recordings of $(SCAN_DIR)/$*.list)"; \
	 $(CMD_SCAN) $(CNNEVAL) --scan -q $(SCAN_OPTS) -o $(SCAN_DIR)/$*.tmp $(SCAN_CKPT) -- "$${files[@]}"
	@rm -rf $(SCAN_DIR)/$* && mv $(SCAN_DIR)/$*.tmp $(SCAN_DIR)/$*

# The shards merged, in order, into the files one cnneval --scan over every recording writes (the same
# bytes): scores and results (TSV or CSV) as one header and every shard's rows, the threshold, events/.
# Count check: results for every recording of scan.list.
$(OUT)/scan/threshold: $(SCAN_SHARDS) $(SCAN_DIR)/plan.mk
	@rm -rf $(OUT)/scan.tmp && mkdir -p $(OUT)/scan.tmp/events; t=$(OUT)/scan.tmp; first=$(firstword $(SCAN_SHARDS:/threshold=)); \
	 for f in scores.tsv results.tsv results.csv; do \
	   [ -f $$first/$$f ] || continue; head -n 1 $$first/$$f > $$t/$$f; \
	   for d in $(SCAN_SHARDS:/threshold=); do tail -n +2 $$d/$$f >> $$t/$$f; done; done; \
	 for d in $(SCAN_SHARDS:/threshold=); do \
	   cmp -s $$d/threshold $$first/threshold || { echo "pipeline: error: $$d/threshold: differs from $$first/threshold" >&2; exit 1; }; \
	   for e in $$d/events/*; do [ -e "$$e" ] || continue; \
	     if [ -e "$$t/events/$${e##*/}" ]; then echo "pipeline: error: two recordings would both write $(OUT)/scan/events/$${e##*/}: give recordings distinct names" >&2; exit 1; fi; \
	     cp -p "$$e" "$$t/events/"; done; done; \
	 cp $$first/threshold $$t/threshold; \
	 want=$$(wc -l < $(OUT)/scan.list); \
	 if [ -f $$t/results.tsv ]; then n=$$(($$(tail -n +2 $$t/results.tsv | cut -f1 | sort -u | wc -l))); else n=$$(($$(wc -l < $$t/results.csv) - 1)); fi; \
	 [ "$$n" = "$$want" ] || { echo "pipeline: error: $(OUT)/scan: results for $$n recordings, $$want scanned" >&2; exit 1; }; \
	 rm -rf $(OUT)/scan && mv $$t $(OUT)/scan && \
	 echo "pipeline: $(OUT)/scan: $$n recordings scanned in $(words $(SCAN_SHARDS)) job(s), $$(($$(wc -l < $(OUT)/scan/scores.tsv) - 1)) windows" >&2

# Stage 7, the report: one self-contained page (figures embedded, and as PNG files beside it) from the
# split, the recordings, every model of MODELS with its history and evaluation, the test spectrograms
# and, with SCAN, the scans.
# The cross-validation and recipe-search sections, when make cv / make tune have been run.
REPORT_CV   := $(wildcard $(CV)/summary.tsv)
REPORT_TUNE := $(wildcard $(TUNE)/recipe.opts)
# (no dependency on them: make all would then redo the cross-validation; a new make cv or make tune
# removes the report instead, so that the next make all or make report shows it)
REPORT_SETTINGS = $(REPORT_TITLE) | scan: $(if $(SCAN),yes,no) | cv: $(if $(REPORT_CV),yes,no) | tune: $(if $(REPORT_TUNE),yes,no)
$(eval $(call settings,$(OUT)/report.opts,REPORT_SETTINGS))
$(OUT)/report.html: $(SPLIT_TABLES) $(MODEL_FILES) $(MODELS:%=$(OUT)/models/%.history.tsv) \
		$(foreach m,$(MODELS),$(OUT)/eval/$(m)/metrics.json) $(OUT)/test.npy $(OUT)/mels/test.tsv \
		$(OUT)/skipped.tsv $(OUT)/report.opts $(if $(SCAN),$(OUT)/scan/threshold) $(MKREPORT)
	@rm -rf $(OUT)/figures.tmp
	$(CMD_REPORT) $(MKREPORT) -q --title $(call shq,$(REPORT_TITLE)) --split $(OUT)/split --skipped $(OUT)/skipped.tsv \
	  --test $(OUT)/test.npy --test-list $(OUT)/mels/test.tsv \
	  $(foreach m,$(MODELS),-m $(m)=$(OUT)/models/$(m).safetensors,$(OUT)/models/$(m).history,$(OUT)/eval/$(m)) \
	  $(if $(SCAN),--scan $(OUT)/scan) $(if $(REPORT_CV),--cv $(CV)) $(if $(REPORT_TUNE),--tune $(TUNE)) --figures $(OUT)/figures.tmp -o $@.tmp
	@rm -rf $(OUT)/figures && mv $(OUT)/figures.tmp $(OUT)/figures && mv $@.tmp $@ && \
	 echo "pipeline: $@: the report ($$(ls $(OUT)/figures | wc -l) figures; open it in a browser)" >&2

scan: $(OUT)/scan/threshold
report: $(OUT)/report.html
ALL_TARGETS := train evaluate check $(OUT)/skipped.tsv report
all: $(ALL_TARGETS)

endif # ANNOTATIONS

# Tools that are missing are built (make, in this directory); present ones are used as they are.
$(BIN)/%:
	@[ -f Makefile ] || { echo "pipeline: error: $@: no such tool (build the tools, or set BIN)" >&2; exit 1; }
	$(MAKE) --no-print-directory -s BUILD=$(patsubst %/bin,%,$(BIN)) $@

help:
	@: $(info $(HELP))

clean:
	@case $(call shq,$(OUT)) in ''|/|.|..|./|../) echo "pipeline: error: OUT=$(OUT): refusing to remove it" >&2; exit 1;; esac
	rm -rf $(call shq,$(OUT))

FORCE:
