# pipeline.mk - the data-flow DAG from a folder of labelled recordings to training arrays.
#
#   make -f pipeline.mk DATA=path/to/classes [OUT=outputs/NAME] [features|split|mels|stacks|clean]
#
# DATA holds one folder per class with recordings inside (WAV, FLAC, OGG, MP3, ...; paths without
# spaces). Every product is a file target, so make rebuilds only what changed: touching one recording
# recomputes its spectrogram and what depends on it; changing MEL_OPTS recomputes every spectrogram;
# adding recordings re-splits without moving earlier ones (splitset keeps earlier assignments).
#
#   $(OUT)/recordings.txt        the recordings found (rewritten only when the list changes)
#   $(OUT)/split/{train,val,test,classes}.tsv     splitset
#   $(OUT)/mels/<class>/<file>.npy (+ .tsv)       wav2mel, one per recording
#   $(OUT)/mels/{train,val,test}.tsv              manifests per split (labels from the split)
#   $(OUT)/stats.npy                              per-band statistics of train (NORM=stats)
#   $(OUT)/{train,val,test}.npy, *-labels.npy     specnorm --stack: (N,1,n_mels,FRAMES), int64 labels
#   $(OUT)/models/$(ARCH).safetensors (+ .history.tsv/.json)   cnntrain (TRAIN_OPTS), with the front end
#                                recorded so that cnneval classifies raw recordings the same way
#   $(OUT)/eval/$(ARCH)/{predictions,misclassified}.tsv, metrics.json    cnneval on the test split
#
# Targets: features (default), train, evaluate, clean. The report stage builds on these.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DELETE_ON_ERROR:
.SUFFIXES:
.SECONDARY:
MAKEFLAGS += --no-builtin-rules

DATA       ?= data/default
OUT        ?= outputs/$(notdir $(patsubst %/,%,$(DATA)))
BIN        ?= build/bin
SPLIT_OPTS ?=
MEL_OPTS   ?=
NORM       ?= sample
FRAMES     ?= 400
NORM_OPTS  ?=
ARCH       ?= baseline
TRAIN_OPTS ?=
SPLITS     := train val test

AUDIO_RE   := \.(wav|flac|ogg|oga|opus|mp3|aif|aiff|aifc|au|snd|w64|caf|rf64)$$
RECORDINGS := $(shell [ -d '$(DATA)' ] && find -L '$(DATA)' -mindepth 2 -type f -not -path '*/.*' \
                 | grep -iE '$(AUDIO_RE)' | LC_ALL=C sort)
MELS      := $(patsubst $(DATA)/%,$(OUT)/mels/%.npy,$(RECORDINGS))
MEL_ROWS  := $(MELS:.npy=.tsv)

.PHONY: features split mels stacks train evaluate clean check-data FORCE
features: stacks
split: $(OUT)/split/train.tsv
mels: $(MELS)
stacks: $(foreach s,$(SPLITS),$(OUT)/$(s).npy)
train: $(OUT)/models/$(ARCH).safetensors
evaluate: $(OUT)/eval/$(ARCH)/metrics.json

check-data:
	@[ -d "$(DATA)" ] || { echo "pipeline: error: $(DATA): no such directory (set DATA=folder of class folders)" >&2; exit 1; }
	@[ -n "$(strip $(RECORDINGS))" ] || { echo "pipeline: error: $(DATA): no recordings in class folders" >&2; exit 1; }

# Settings files change only when their content does, so targets depend on the settings themselves.
# The value is written with $(file) by variable name: quotes and $ in options pass through untouched.
NORM_SETTINGS = $(NORM) $(FRAMES) $(NORM_OPTS)
define settings_file
$(OUT)/$(1).opts: FORCE | check-data $(OUT)
	$$(file >$$@.new,$$($(2)))
	@if cmp -s $$@.new $$@; then rm $$@.new; else mv $$@.new $$@; fi
endef
$(eval $(call settings_file,split,SPLIT_OPTS))
$(eval $(call settings_file,frontend,MEL_OPTS))
$(eval $(call settings_file,norm,NORM_SETTINGS))
TRAIN_SETTINGS = $(ARCH) $(TRAIN_OPTS)
$(eval $(call settings_file,train,TRAIN_SETTINGS))

$(OUT):
	@mkdir -p $@

$(OUT)/recordings.txt: FORCE | check-data
	@mkdir -p $(@D)
	@printf '%s\n' $(RECORDINGS) > $@.new
	@if cmp -s $@.new $@; then rm $@.new; else mv $@.new $@; fi

# One splitset run writes all four tables (a grouped target).
$(OUT)/split/train.tsv $(OUT)/split/val.tsv $(OUT)/split/test.tsv $(OUT)/split/classes.tsv &: \
		$(OUT)/recordings.txt $(OUT)/split.opts $(BIN)/splitset
	$(BIN)/splitset -q $(SPLIT_OPTS) $(DATA) $(OUT)/split

# One spectrogram (and its one-row manifest) per recording.
$(OUT)/mels/%.npy $(OUT)/mels/%.tsv &: $(DATA)/% $(OUT)/frontend.opts $(BIN)/wav2mel
	@mkdir -p $(@D)
	$(BIN)/wav2mel -q $(MEL_OPTS) -m $(OUT)/mels/$*.tsv $< $(OUT)/mels/$*.npy

# A split's manifest: the rows of its recordings, with label, index and group from the split table.
# Fails (and writes nothing) if a recording of the split has no spectrogram.
$(OUT)/mels/%.tsv: $(OUT)/split/%.tsv $(MEL_ROWS)
	@awk -F'\t' -v OFS='\t' -v data='$(DATA)/' -v mels='$(OUT)/mels/' ' \
	  NR == 1 { print "key\tnpy\tsource\tlabel\tindex\tgroup\tstart\tend\tshape"; next } \
	  { rel = substr($$1, length(data) + 1); row = mels rel ".tsv"; n = 0; \
	    while ((getline line < row) > 0) if (++n > 1) { split(line, f, "\t"); \
	      print f[1], f[2], f[3], $$2, $$3, $$4, f[7], f[8], f[9]; rows++ } \
	    close(row); if (n < 2) { print "pipeline: error: " row ": missing spectrogram manifest" > "/dev/stderr"; exit 1 } } \
	  END { if (rows != NR - 1) exit 1 }' $< > $@.tmp
	@mv $@.tmp $@
	@echo "pipeline: $@: $$(($$(wc -l < $@) - 1)) spectrograms" >&2

$(OUT)/stats.npy: $(OUT)/mels/train.tsv $(BIN)/specnorm
	$(BIN)/specnorm -q --fit $@ -m $<

STATS_DEP  := $(if $(filter stats,$(NORM)),$(OUT)/stats.npy)
NORM_FLAGS := $(if $(filter stats,$(NORM)),--stats $(OUT)/stats.npy,--mode $(NORM)) --frames $(FRAMES) $(NORM_OPTS)
$(OUT)/%.npy $(OUT)/%-labels.npy &: $(OUT)/mels/%.tsv $(STATS_DEP) $(OUT)/norm.opts $(BIN)/specnorm
	$(BIN)/specnorm -q $(NORM_FLAGS) -m $< --stack $(OUT)/$*.npy --labels $(OUT)/$*-labels.npy

# The front end as cnntrain records it ('WAV2MEL-OPTIONS | SPECNORM-OPTIONS'); data-set statistics are a
# file and cannot be recorded, so with NORM=stats raw recordings cannot be classified by the checkpoint.
FRONTEND_TEXT = $(MEL_OPTS) | $(if $(filter stats,$(NORM)),,--mode $(NORM)) --frames $(FRAMES) $(NORM_OPTS)
$(OUT)/models/%.safetensors: $(OUT)/train.npy $(OUT)/val.npy $(OUT)/split/classes.tsv $(OUT)/train.opts $(BIN)/cnntrain
	@mkdir -p $(@D)
	$(BIN)/cnntrain -q --arch $* --train $(OUT)/train.npy --val $(OUT)/val.npy --classes $(OUT)/split/classes.tsv \
	  $(if $(filter stats,$(NORM)),,--frontend "$(FRONTEND_TEXT)") --history $(OUT)/models/$*.history \
	  --state $(OUT)/models/$*.state.safetensors $(TRAIN_OPTS) -o $@

$(OUT)/eval/%/metrics.json: $(OUT)/models/%.safetensors $(OUT)/test.npy $(BIN)/cnneval
	$(BIN)/cnneval -q $< $(OUT)/test.npy -o $(@D)

$(BIN)/%: FORCE
	@$(MAKE) --no-print-directory -s BUILD=$(patsubst %/bin,%,$(BIN)) $@

clean:
	rm -rf $(OUT)

FORCE:
