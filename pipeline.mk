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
  Paths may not contain spaces or any of  : # % $$ ; = \ * ? " ' ( ) ` | < > & { } [ ]
  and must not start with ~ (make cannot name them); rename such files first.

Targets:
  all (default)   everything below: split, features, models, evaluations, count check, report (+ scan
                  with SCAN)
  split           $$(OUT)/split/{train,val,test,classes}.tsv            splitset SPLIT_OPTS
  mels            $$(OUT)/mels/<recording>.{npy,tsv}, one per recording  wav2mel MEL_OPTS
  features        $$(OUT)/{train,val,test}.npy + -labels.npy: (N,1,n_mels,FRAMES) stacks (specnorm)
  train           $$(OUT)/models/<model>.safetensors + .history.{tsv,json}   cnntrain, per MODELS
  evaluate        $$(OUT)/eval/<model>/{metrics.json,predictions.tsv,misclassified.tsv}   cnneval
  check           $$(OUT)/counts.tsv: recordings = split rows = spectrograms + left out = stacked rows
  report          $$(OUT)/report.html (+ figures/*.png): data, models, curves, confusion, galleries   mkreport
  scan            $$(OUT)/scan/{scores,results}.tsv, events/*.selections.txt (Raven): SCAN_MODEL over SCAN
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
  SCAN=$(SCAN)   long recordings to scan (a folder, searched recursively, or one file); empty: no scan
  SCAN_MODEL=$(SCAN_MODEL)   (or MODEL=) the model that scans: a name of MODELS or a .safetensors path
  SCAN_OPTS=$(SCAN_OPTS)   cnneval --scan options: --overlap F, --threshold T, --classes a,b, --csv
  REPORT_TITLE=$(REPORT_TITLE)
  SKIP_BAD=$(SKIP_BAD)   1: a recording wav2mel cannot read is left out and listed in $$(OUT)/skipped.tsv;
                  0: it stops the run with its name

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

DATA       ?= data/drums.tsv
OUT        ?= outputs/$(basename $(notdir $(patsubst %/,%,$(DATA))))
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
SCAN       ?=
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

.PHONY: all split mels features stacks train evaluate check scan report help clean FORCE
all:

shq   = '$(subst ','\'',$(1))'
streq = $(if $(subst x$(1),,x$(2))$(subst x$(2),,x$(1)),,t)

# ---------------------------------------------------------------------------------------------------
# The recordings: "path<TAB>key" per recording, sorted; the key names its files under $(OUT)/mels/
# (the path inside DATA=DIR; for a list, the path without the list's folder, leading ./ or /, and
# with ../ as __/). A line starting with ! is an error.
DATA_IN  := $(patsubst %/,%,$(DATA))
LIST_DIR := $(patsubst ./,,$(dir $(DATA_IN)))
AUDIO_RE := [.](wav|flac|ogg|oga|opus|mp3|aif|aiff|aifc|au|snd|w64|caf|rf64)$$
FIND_RECORDINGS = export LC_ALL=C; data=$(call shq,$(DATA_IN)); \
  if [ -d "$$data" ]; then \
    find -L "$$data" -type f | awk -v root="$$data/" -v ext='$(AUDIO_RE)' \
      'index($$0, root) == 1 { r = substr($$0, length(root) + 1); \
        if (r ~ /\// && r !~ /(^|\/)\./ && tolower(r) ~ ext) print $$0 "\t" r }'; \
  elif [ -f "$$data" ]; then \
    awk -F'\t' -v dir=$(call shq,$(LIST_DIR)) 'NR == 1 { for (i = 1; i <= NF; i++) if ($$i == "path") p = i; \
        if (!p) { print "!" FILENAME ": no path column in the header line"; exit } next } \
      $$p == "" { print "!" FILENAME ": line " NR ": no path"; exit } \
      { k = $$p; if (dir != "" && index(k, dir) == 1) k = substr(k, length(dir) + 1); \
        sub(/^(\.\/)+/, "", k); sub(/^\/+/, "", k); gsub(/\.\.\//, "__/", k); print $$p "\t" k }' "$$data"; \
  else echo "!$$data: no such file or directory (DATA is a folder of class folders or a .tsv list)"; fi \
  | sort -t "$$(printf '\t')" -k1,1 | awk -F'\t' -v data="$$data" ' \
      /^!/ { print; bad = 1; exit } \
      $$1 ~ "[][[:space:]:\#%$$;=\\\\*?\"\047()`|<>&{}]" || $$1 ~ /^~/ { print "!" $$1 ": a path make cannot name (spaces or one of :\#%$$;=\\*?\"\047()`|<>&{}[]); rename it"; bad = 1; exit } \
      $$2 == "train" || $$2 == "val" || $$2 == "test" { print "!" $$1 ": name reserved for a split table; rename it"; bad = 1; exit } \
      seen[$$2]++ { print "!" $$1 ": listed twice (or its spectrogram would have the name of another)"; bad = 1; exit } \
      { line[++n] = $$0 } \
      END { if (bad) exit; if (!n) print "!" data ": no recordings (DATA=DIR needs class folders with recordings; a list, rows)"; \
            for (i = 1; i <= n; i++) print line[i] }'

NEED_DATA := $(filter-out help clean,$(or $(MAKECMDGOALS),all))
ifneq ($(NEED_DATA),)
FOUND := $(shell $(FIND_RECORDINGS) | tr '\t' '|')
ifneq ($(filter !%,$(firstword $(FOUND))),)
$(error pipeline: error: $(patsubst !%,%,$(FOUND)))
endif
endif
MEL_ROWS   := $(foreach r,$(FOUND),$(OUT)/mels/$(lastword $(subst |, ,$(r))).tsv)
# Each recording's one-row manifest depends on the recording (its spectrogram, .npy, is made with it).
$(foreach r,$(FOUND),$(eval $(OUT)/mels/$(lastword $(subst |, ,$(r))).tsv: $(firstword $(subst |, ,$(r)))))

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

# The list of recordings, rewritten only when the set of recordings (or their keys) changes.
$(OUT)/recordings.txt: $(if $(and $(wildcard $(OUT)/recordings.txt),$(call streq,$(strip $(file <$(OUT)/recordings.txt)),$(subst |, ,$(FOUND)))),,FORCE)
	@mkdir -p $(@D) && { $(FIND_RECORDINGS); } > $@.tmp && mv $@.tmp $@
	@echo "pipeline: $@: $$(wc -l < $@) recordings" >&2

# ---------------------------------------------------------------------------------------------------
# Stage 1, split: one splitset run writes the four tables. Count check: the tables hold exactly the
# recordings found.
SPLIT_TABLES := $(foreach s,$(SPLITS) classes,$(OUT)/split/$(s).tsv)
$(OUT)/split/train.tsv: $(OUT)/recordings.txt $(OUT)/split.opts $(if $(wildcard $(DATA_IN)/.),,$(DATA_IN)) $(SPLITSET)
	$(SPLITSET) -q $(SPLIT_OPTS) $(DATA_IN) $(OUT)/split
	@touch $(filter-out $@,$(SPLIT_TABLES))
	@cut -f1 $(OUT)/recordings.txt > $(OUT)/split/.found.tmp; \
	 for s in $(SPLITS); do tail -n +2 $(OUT)/split/$$s.tsv; done | cut -f1 | LC_ALL=C sort > $(OUT)/split/.placed.tmp; \
	 if ! cmp -s $(OUT)/split/.found.tmp $(OUT)/split/.placed.tmp; then \
	   echo "pipeline: error: $(OUT)/split: $$(wc -l < $(OUT)/split/.placed.tmp) rows for $$(wc -l < $(OUT)/split/.found.tmp) recordings ($$(LC_ALL=C comm -3 $(OUT)/split/.found.tmp $(OUT)/split/.placed.tmp | head -n 1 | tr -d '\t'): not in both)" >&2; \
	   rm -f $(OUT)/split/.*.tmp; exit 1; fi; \
	 rm -f $(OUT)/split/.*.tmp; \
	 echo "pipeline: $(OUT)/split: $$(for s in $(SPLITS); do printf '%s %d, ' $$s $$(($$(wc -l < $(OUT)/split/$$s.tsv) - 1)); done | sed 's/, $$//') recordings" >&2

$(eval $(call also_made,$(OUT)/split/train.tsv,$(filter-out $(OUT)/split/train.tsv,$(SPLIT_TABLES))))

# Which spectrograms each split's manifest needs, from the split tables: included, so make first
# brings the split up to date and then reads the exact per-split dependencies.
$(OUT)/split/deps.mk: $(SPLIT_TABLES) $(OUT)/recordings.txt
	@awk -F'\t' -v out=$(call shq,$(OUT)) 'FNR == NR { key[$$1] = $$2; next } FNR == 1 { s = FILENAME; sub(/.*\//, "", s); sub(/\.tsv$$/, "", s); next } \
	  { if (!($$1 in key)) { print "pipeline: error: " $$1 ": in " FILENAME " but not in DATA" > "/dev/stderr"; bad = 1; exit 1 } \
	    print out "/mels/" s ".tsv: " out "/mels/" key[$$1] ".tsv" } END { if (bad) exit 1 }' \
	  $(OUT)/recordings.txt $(foreach s,$(SPLITS),$(OUT)/split/$(s).tsv) > $@.tmp
	@mv $@.tmp $@
ifneq ($(NEED_DATA),)
include $(OUT)/split/deps.mk
endif

# ---------------------------------------------------------------------------------------------------
# Stage 2, one spectrogram per recording: $(OUT)/mels/<key>.npy and its one-row manifest <key>.tsv
# (the target). A recording wav2mel cannot read (its exit status 1: a data error) stops the run, or
# with SKIP_BAD=1 gets a manifest without rows and a <key>.skip line (path, reason) that skipped.tsv
# collects. Any other failure (a usage error in MEL_OPTS, a tool that cannot run) always stops the run.
MANIFEST_HEADER := key\tnpy\tsource\tlabel\tindex\tgroup\tstart\tend\tshape
$(MEL_ROWS): $(OUT)/frontend.opts $(WAV2MEL)
	@src=$(call shq,$(filter-out $(OUT)/frontend.opts $(WAV2MEL),$^)); npy=$(call shq,$(@:.tsv=.npy)); skip=$(call shq,$(@:.tsv=.skip)); \
	echo "wav2mel $$src"; mkdir -p $(@D); rm -f "$$skip" $@.tmp; \
	if $(WAV2MEL) -q $(MEL_OPTS) -m $@.tmp "$$src" "$$npy" 2> $@.err; then \
	  cat $@.err >&2; rm -f $@.err; mv $@.tmp $@; \
	else \
	  rc=$$?; why=$$(sed -n 's/^wav2mel: error: //p' $@.err | tail -n 1); why=$${why:-$$(tail -n 1 $@.err)}; why=$${why#"$$src: "}; \
	  rm -f $@ $@.err $@.tmp "$$npy"; \
	  if [ $$rc != 1 ]; then echo "pipeline: error: $$src: wav2mel failed (exit status $$rc): $$why" >&2; exit 1; fi; \
	  if [ $(call shq,$(SKIP_BAD)) = 1 ]; then \
	    printf '%s\t%s\n' "$$src" "$$why" > "$$skip.tmp" && mv "$$skip.tmp" "$$skip"; \
	    printf '$(MANIFEST_HEADER)\n' > $@.tmp && mv $@.tmp $@; \
	    echo "pipeline: warning: $$src: left out (SKIP_BAD=1): $$why" >&2; \
	  else \
	    echo "pipeline: error: $$src: $$why (SKIP_BAD=1 leaves bad recordings out, listed in $(OUT)/skipped.tsv)" >&2; exit 1; \
	  fi; \
	fi

# The recordings left out (SKIP_BAD=1), with the reason: header only when none.
$(OUT)/skipped.tsv: $(OUT)/recordings.txt $(MEL_ROWS)
	@awk -F'\t' -v mels=$(call shq,$(OUT)/mels/) 'BEGIN { print "path\treason" } \
	  { f = mels $$2 ".skip"; while ((getline line < f) > 0) print line; close(f) }' $(OUT)/recordings.txt > $@.tmp
	@mv $@.tmp $@; n=$$(($$(wc -l < $@) - 1)); [ $$n = 0 ] || echo "pipeline: warning: $$n recording(s) left out, listed in $@" >&2

# A split's manifest: the rows of its recordings' spectrograms with label, index and group from the
# split table. Count check: every recording of the split has a spectrogram, or was left out with
# SKIP_BAD=1 (an error without it). Rewritten only when its content changes.
define split_manifest
$(OUT)/mels/$(1).tsv: $(OUT)/split/$(1).tsv $(OUT)/recordings.txt
	@awk -F'\t' -v OFS='\t' -v mels=$$(call shq,$(OUT)/mels/) -v skipbad=$$(call shq,$$(SKIP_BAD)) ' \
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
	  $(OUT)/recordings.txt $(OUT)/split/$(1).tsv > $$@.tmp 2> $$@.count || { cat $$@.count >&2; rm -f $$@.count; exit 1; }
	@read rows skipped < $$@.count; rm -f $$@.count; mv $$@.tmp $$@; \
	 echo "pipeline: $$@: $$$$rows spectrograms$$$$([ $$$$skipped = 0 ] || echo ", $$$$skipped left out")" >&2
endef
$(foreach s,$(SPLITS),$(eval $(call split_manifest,$(s))))

# ---------------------------------------------------------------------------------------------------
# Stage 3, normalised stacks: (N, 1, n_mels, FRAMES) float32 and N int64 labels per split. With
# NORM=stats, per-band statistics of train first. Count check: N = the rows of the split's manifest.
npy_rows = $$(head -c 1024 $(1) | LC_ALL=C tr -c '[:print:]' ' ' | sed -n "s/.*'shape': *(\([0-9]*\).*/\1/p")
$(OUT)/stats.npy: $(OUT)/mels/train.tsv $(SPECNORM)
	$(SPECNORM) -q --fit $@ -m $<
STATS_DEP  := $(if $(filter stats,$(NORM)),$(OUT)/stats.npy)
NORM_FLAGS  = $(if $(filter stats,$(NORM)),--stats $(OUT)/stats.npy,--mode $(NORM)) --frames $(FRAMES) $(NORM_OPTS)
define stack
$(OUT)/$(1).npy: $(OUT)/mels/$(1).tsv $(STATS_DEP) $(OUT)/norm.opts $(SPECNORM)
	$$(SPECNORM) -q $$(NORM_FLAGS) -m $$< --stack $(OUT)/$(1).npy --labels $(OUT)/$(1)-labels.npy
	@want=$$$$(($$$$(wc -l < $$<) - 1)); n=$$(call npy_rows,$(OUT)/$(1).npy); l=$$(call npy_rows,$(OUT)/$(1)-labels.npy); \
	 [ "$$$$n" = "$$$$want" ] && [ "$$$$l" = "$$$$want" ] || { echo "pipeline: error: $(OUT)/$(1).npy: $$$$n rows and $$$$l labels for $$$$want spectrograms" >&2; rm -f $(OUT)/$(1).npy $(OUT)/$(1)-labels.npy; exit 1; }; \
	 touch $(OUT)/$(1)-labels.npy
$$(eval $$(call also_made,$(OUT)/$(1).npy,$(OUT)/$(1)-labels.npy))
endef
$(foreach s,$(SPLITS),$(eval $(call stack,$(s))))

# The count check of the whole run, kept as $(OUT)/counts.tsv: every recording found is in exactly
# one split, has a spectrogram or is listed in skipped.tsv, and every spectrogram is in a stack.
$(OUT)/counts.tsv: $(OUT)/recordings.txt $(SPLIT_TABLES) $(OUT)/skipped.tsv $(OUT)/skipbad.opts $(MEL_ROWS) \
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
# NORM=stats it cannot be (statistics are a file), and raw recordings cannot be classified.
FRONTEND_TEXT = $(MEL_OPTS) | --mode $(NORM) --frames $(FRAMES) $(NORM_OPTS)
define model
$(OUT)/models/$(1).safetensors: \
		$(foreach s,train val,$(OUT)/$(s).npy $(OUT)/$(s)-labels.npy) $(OUT)/split/classes.tsv $(OUT)/models/$(1).opts $(CNNTRAIN)
	@mkdir -p $$(@D)
	$$(CNNTRAIN) -q --arch $$(ARCH_$(1)) --train $(OUT)/train.npy --val $(OUT)/val.npy --classes $(OUT)/split/classes.tsv \
	  $$(if $$(filter stats,$$(NORM)),,--frontend $$(call shq,$$(FRONTEND_TEXT))) --history $(OUT)/models/$(1).history \
	  --state $(OUT)/models/$(1).state.safetensors $$(TRAIN_OPTS) $$(TRAIN_OPTS_$(1)) -o $(OUT)/models/$(1).safetensors
	@awk -F'\t' 'NR > 1 { n++; if (NR == 2 || $$$$4 < best) { best = $$$$4; e = $$$$1; acc = $$$$5 } } \
	  END { printf "pipeline: $(OUT)/models/$(1).safetensors: %d epochs, best val_loss %.4f (val_acc %.4f) at epoch %d\n", n, best, acc, e > "/dev/stderr" }' \
	  $(OUT)/models/$(1).history.tsv
	@touch $(OUT)/models/$(1).history.tsv $(OUT)/models/$(1).history.json
$$(eval $$(call also_made,$(OUT)/models/$(1).safetensors,$(OUT)/models/$(1).history.tsv $(OUT)/models/$(1).history.json))

# Stage 5, each model on the test split. Count check: one prediction per test spectrogram.
$(OUT)/eval/$(1)/metrics.json: \
		$(OUT)/models/$(1).safetensors $(OUT)/test.npy $(OUT)/test-labels.npy $(OUT)/eval.opts $(CNNEVAL)
	$$(CNNEVAL) -q $$(EVAL_OPTS) $(OUT)/models/$(1).safetensors $(OUT)/test.npy -o $(OUT)/eval/$(1)
	@n=$$$$(($$$$(wc -l < $(OUT)/eval/$(1)/predictions.tsv) - 1)); want=$$(call npy_rows,$(OUT)/test.npy); \
	 [ "$$$$n" = "$$$$want" ] || { echo "pipeline: error: $(OUT)/eval/$(1)/predictions.tsv: $$$$n predictions for $$$$want test spectrograms" >&2; exit 1; }; \
	 echo "pipeline: $(OUT)/eval/$(1): test accuracy $$$$(sed -n 's/.*"accuracy": *\([0-9.eE+-]*\).*/\1/p' $(OUT)/eval/$(1)/metrics.json | head -n 1) on $$$$n recordings" >&2; \
	 touch $(OUT)/eval/$(1)/predictions.tsv $(OUT)/eval/$(1)/misclassified.tsv
$$(eval $$(call also_made,$(OUT)/eval/$(1)/metrics.json,$(OUT)/eval/$(1)/predictions.tsv $(OUT)/eval/$(1)/misclassified.tsv))
endef
$(foreach m,$(MODELS),$(eval $(call model,$(m))))

# ---------------------------------------------------------------------------------------------------
MODEL_FILES := $(MODELS:%=$(OUT)/models/%.safetensors)
EVAL_FILES  := $(foreach m,$(MODELS),$(foreach f,metrics.json predictions.tsv misclassified.tsv,$(OUT)/eval/$(m)/$(f)))
split: $(SPLIT_TABLES)
mels: $(MEL_ROWS)
features stacks: $(foreach s,$(SPLITS),$(OUT)/$(s).npy $(OUT)/$(s)-labels.npy)
train: $(MODEL_FILES) $(MODELS:%=$(OUT)/models/%.history.tsv) $(MODELS:%=$(OUT)/models/%.history.json)
evaluate: $(EVAL_FILES)
check: $(OUT)/counts.tsv

# Stage 6, scans of long recordings (only with SCAN=DIR or SCAN=FILE): one checkpoint (SCAN_MODEL, a
# model of MODELS or a .safetensors path; default the first model) slides over every recording with
# cnneval --scan: $(OUT)/scan/{scores.tsv,results.tsv,threshold} and events/<recording>.selections.txt.
SCAN_FILES := $(if $(SCAN),$(shell export LC_ALL=C; if [ -d $(call shq,$(SCAN)) ]; then find -L $(call shq,$(SCAN)) -type f \
                 | grep -iE '$(AUDIO_RE)' | sort; elif [ -e $(call shq,$(SCAN)) ]; then echo $(call shq,$(SCAN)); fi))
SCAN_CKPT  := $(if $(filter %.safetensors,$(SCAN_MODEL)),$(SCAN_MODEL),$(OUT)/models/$(SCAN_MODEL).safetensors)
$(eval $(call settings,$(OUT)/scan.opts,SCAN_OPTS))
$(OUT)/scan/results.tsv: $(SCAN_FILES) $(SCAN_CKPT) $(OUT)/scan.opts $(CNNEVAL)
	@[ -n "$(SCAN_FILES)" ] || { echo "pipeline: error: SCAN=$(SCAN): no recordings to scan (a folder of recordings or one file)" >&2; exit 1; }
	@rm -rf $(OUT)/scan.tmp && mkdir -p $(OUT)/scan.tmp
	$(CNNEVAL) --scan -q $(SCAN_OPTS) -o $(OUT)/scan.tmp $(SCAN_CKPT) $(SCAN_FILES)
	@n=$$(($$(cut -f1 $(OUT)/scan.tmp/results.tsv | sort -u | wc -l) - 1)); want=$(words $(SCAN_FILES)); \
	 [ "$$n" = "$$want" ] || { echo "pipeline: error: $(OUT)/scan: results for $$n recordings, $$want scanned" >&2; exit 1; }; \
	 rm -rf $(OUT)/scan && mv $(OUT)/scan.tmp $(OUT)/scan && \
	 echo "pipeline: $(OUT)/scan: $$n recordings scanned, $$(($$(wc -l < $(OUT)/scan/scores.tsv) - 1)) windows" >&2

# Stage 7, the report: one self-contained page (figures embedded, and as PNG files beside it) from the
# split, the recordings, every model of MODELS with its history and evaluation, the test spectrograms
# and, with SCAN, the scans.
REPORT_SETTINGS = $(REPORT_TITLE) | scan: $(if $(SCAN),yes,no)
$(eval $(call settings,$(OUT)/report.opts,REPORT_SETTINGS))
$(OUT)/report.html: $(SPLIT_TABLES) $(MODEL_FILES) $(MODELS:%=$(OUT)/models/%.history.tsv) \
		$(foreach m,$(MODELS),$(OUT)/eval/$(m)/metrics.json) $(OUT)/test.npy $(OUT)/mels/test.tsv \
		$(OUT)/skipped.tsv $(OUT)/report.opts $(if $(SCAN),$(OUT)/scan/results.tsv) $(MKREPORT)
	@rm -rf $(OUT)/figures.tmp
	$(MKREPORT) -q --title $(call shq,$(REPORT_TITLE)) --split $(OUT)/split --skipped $(OUT)/skipped.tsv \
	  --test $(OUT)/test.npy --test-list $(OUT)/mels/test.tsv \
	  $(foreach m,$(MODELS),-m $(m)=$(OUT)/models/$(m).safetensors,$(OUT)/models/$(m).history,$(OUT)/eval/$(m)) \
	  $(if $(SCAN),--scan $(OUT)/scan) --figures $(OUT)/figures.tmp -o $@.tmp
	@rm -rf $(OUT)/figures && mv $(OUT)/figures.tmp $(OUT)/figures && mv $@.tmp $@ && \
	 echo "pipeline: $@: the report ($$(ls $(OUT)/figures | wc -l) figures; open it in a browser)" >&2

scan: $(OUT)/scan/results.tsv
report: $(OUT)/report.html
ALL_TARGETS := train evaluate check $(OUT)/skipped.tsv report
all: $(ALL_TARGETS)

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
