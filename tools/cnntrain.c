/* cnntrain - train a CNN on spectrogram splits. See cnntrain(1). */
#define _POSIX_C_SOURCE 200809L
#include "train/dataset.h"
#include "audio/frontend_args.h"
#include "core/error.h"
#include "nn/device.h"
#include "nn/model.h"
#include "formats/outfile.h"
#include "formats/safetensors.h"
#include "core/strlist.h"
#include "train/train.h"
#include "formats/weights.h"
#include "formats/tsv.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char USAGE[] =
    "usage: cnntrain [options] --train TRAIN [--val VAL] -o MODEL.safetensors\n"
    "TRAIN and VAL are stacked spectrograms (N, 1, F, T) .npy with their labels in X-labels.npy (specnorm\n"
    "--stack ... --labels), or manifests (.tsv) of equal-shape spectrograms with a class index column.\n"
    "\n"
    "Data:\n"
    "      --train FILE          training split (.npy stack or .tsv manifest)\n"
    "      --train-labels FILE   labels of a stack (default: the stack's name with -labels before .npy)\n"
    "      --val FILE            validation split, evaluated every epoch (early stopping, best checkpoint)\n"
    "      --val-labels FILE     labels of the validation stack\n"
    "      --classes FILE        class names: splitset's classes.tsv (index, name); default 0..K-1\n"
    "      --multilabel          multi-label: one sigmoid per class, binary cross-entropy (BCEWithLogitsLoss);\n"
    "                            the labels are (N, K) .npy targets, float32 0/1 or soft values in [0, 1], or\n"
    "                            uint8 0/1; the history's accuracy columns are train_map/val_map (macro AP)\n"
    "      --pos-weight balanced|none  multi-label: BCE's pos_weight, negatives/positives of each class in the\n"
    "                            training labels (default none)\n"
    "      --frontend TEXT       how the spectrograms were made, kept in the checkpoint: 'WAV2MEL-OPTIONS |\n"
    "                            SPECNORM-OPTIONS'; with '--stats FILE' the statistics go into it as tensors\n"
    "Model:\n"
    "      --arch NAME           architecture (default baseline): baseline, resnet18, resnet34, resnet50,\n"
    "                            resnet101, resnet152, efficientnet_b0 .. efficientnet_b7 (torchvision's)\n"
    "      --dropout P           classifier dropout (default: the architecture's: baseline 0.3, EfficientNet\n"
    "                            0.2-0.5, ResNet none)\n"
    "      --drop-path P         EfficientNet's stochastic depth rate (default 0.2)\n"
    "      --in-chans native|repeat  native: a one-channel stem (default); repeat: the spectrogram goes to\n"
    "                            torchvision's three-channel stem as three identical channels (computed through\n"
    "                            the stem's weights summed over them; default with --pretrained)\n"
    "      --in-norm none|imagenet  imagenet: normalise the three repeated channels with ImageNet's mean and\n"
    "                            std, as torchvision's Normalize before pretrained weights (needs --in-chans\n"
    "                            repeat; still computed on one channel; default none)\n"
    "      --pretrained FILE     start from torchvision weights: a state_dict as .pth (torchvision's download)\n"
    "                            or .safetensors; the classifier is new (its keys may differ)\n"
    "      --init CKPT           start from one of our checkpoints (the classifier, all of it, is kept from it\n"
    "                            only if the classes match); --in-chans and --in-norm default to the checkpoint's\n"
    "Fine-tuning:\n"
    "      --freeze backbone|none  train only the classifier; frozen BN layers stay in eval mode\n"
    "      --unfreeze-at EPOCH   with --freeze backbone: train everything from this epoch (1-based) on\n"
    "      --lr-backbone X       the backbone's learning rate (default: --lr); the classifier keeps --lr\n"
    "Training:\n"
    "      --epochs N            (default 60)        --batch N     (default 32)\n"
    "      --lr X                (default 2e-3)      --wd X        weight decay (default 0.01)\n"
    "      --optimizer adamw|sgd (default adamw)     --momentum X  SGD momentum (default 0.9)\n"
    "      --schedule plateau|cosine|none  learning-rate schedule (default plateau: halve after 3 epochs\n"
    "                            without improvement of the monitored metric; cosine: linear warm-up then cosine)\n"
    "      --warmup N            warm-up epochs of the cosine schedule (default 1)\n"
    "      --patience N          stop after N epochs without improvement (default 15; 0 never)\n"
    "      --monitor val_loss|val_acc|val_map  the metric for early stopping, the schedule and the best\n"
    "                            checkpoint (val_map: macro average precision, multi-label only)\n"
    "      --no-class-weights    plain loss (default: 'balanced' class weights n/(K*count); not multi-label)\n"
    "      --label-smoothing X   (default 0; multi-label: targets y(1-X)+X/2)   --clip X   clip the gradient norm\n"
    "      --no-augment          no SpecAugment (default: one frequency mask of up to 12 bands and one time\n"
    "                            mask of up to 12 frames per sample, torchaudio's semantics)\n"
    "      --freq-mask F         widest frequency mask      --time-mask T   widest time mask\n"
    "      --masks N             masks of each kind per sample (default 1)\n"
    "      --mixup ALPHA         mixup: each batch blended with a shuffled copy of itself, weight ~ Beta(ALPHA,\n"
    "                            ALPHA), the loss (multi-label: the target vectors) blended alike (default 0.2,\n"
    "                            multi-label 0; 0: off)\n"
    "      --seed N              (default 42): same data, settings and seed give the same bytes\n"
    "      --threads N           CPU threads (default 2); on a GPU, those that prepare each batch\n"
    "Device:\n"
    "      --device cpu|cuda|cuda:N|auto  where to train (default auto: a GPU when the build has CUDA, one is\n"
    "                            present and the GPU engine can run the job; else the CPU). cuda without a\n"
    "                            usable GPU, or in a build without CUDA, is an error\n"
    "      --deterministic       on a GPU, deterministic algorithms only (the CPU always is)\n"
    "      --amp off|bf16|fp16   mixed precision on a GPU, as torch.autocast (default off): convolutions and\n"
    "                            linear layers take half-precision copies of their inputs and weights and\n"
    "                            accumulate in fp32; weights, optimiser, BatchNorm and loss stay fp32 and the\n"
    "                            checkpoint is an ordinary fp32 one. fp16 scales the loss dynamically\n"
    "                            (GradScaler: steps with inf/NaN gradients skipped, -v reports them). Refused\n"
    "                            on the CPU\n"
    "      --amp-init-scale X    fp16: the loss scale to start from (default 65536)\n"
    "      --tf32                on a GPU, fp32 convolutions may use TF32 tensor cores (10-bit mantissa\n"
    "                            operands, fp32 sums), as PyTorch's default cudnn.allow_tf32; linear layers\n"
    "                            stay fp32. Refused on the CPU\n"
    "Output:\n"
    "  -o, --output FILE         best checkpoint (safetensors; default model.safetensors)\n"
    "      --state FILE          resumable state, written every epoch and on Ctrl-C/SIGTERM\n"
    "                            (default: MODEL with .state.safetensors)\n"
    "      --resume FILE         continue from a resumable state (same data and settings)\n"
    "      --history PREFIX      per-epoch history in PREFIX.tsv and PREFIX.json\n"
    "  -q, --quiet               -v, --verbose        -h, --help\n"
    "Exit status: 0 done, 1 data or file error, 2 bad usage, 130/143 interrupted by SIGINT/SIGTERM after\n"
    "writing the resumable state.\n";

enum {
    O_TRAIN = 256, O_TRAIN_LABELS, O_VAL, O_VAL_LABELS, O_CLASSES, O_FRONTEND, O_ARCH, O_DROPOUT, O_INIT, O_EPOCHS,
    O_BATCH, O_LR, O_WD, O_OPTIMIZER, O_MOMENTUM, O_SCHEDULE, O_WARMUP, O_PATIENCE, O_MONITOR, O_NO_CW, O_SMOOTH,
    O_CLIP, O_NO_AUG, O_FMASK, O_TMASK, O_MASKS, O_MIXUP, O_SEED, O_THREADS, O_STATE, O_RESUME, O_HISTORY,
    O_DROP_PATH, O_IN_CHANS, O_IN_NORM, O_PRETRAINED, O_FREEZE, O_UNFREEZE_AT, O_LR_BACKBONE,
    O_MULTILABEL, O_POS_WEIGHT, O_DEVICE, O_DETERMINISTIC, O_AMP, O_AMP_INIT_SCALE, O_TF32
};

static const struct option LONGOPTS[] = {
    {"train", 1, 0, O_TRAIN}, {"train-labels", 1, 0, O_TRAIN_LABELS}, {"val", 1, 0, O_VAL},
    {"val-labels", 1, 0, O_VAL_LABELS}, {"classes", 1, 0, O_CLASSES}, {"frontend", 1, 0, O_FRONTEND},
    {"arch", 1, 0, O_ARCH}, {"dropout", 1, 0, O_DROPOUT}, {"init", 1, 0, O_INIT}, {"epochs", 1, 0, O_EPOCHS},
    {"batch", 1, 0, O_BATCH}, {"lr", 1, 0, O_LR}, {"wd", 1, 0, O_WD}, {"optimizer", 1, 0, O_OPTIMIZER},
    {"momentum", 1, 0, O_MOMENTUM}, {"schedule", 1, 0, O_SCHEDULE}, {"warmup", 1, 0, O_WARMUP},
    {"patience", 1, 0, O_PATIENCE}, {"monitor", 1, 0, O_MONITOR}, {"no-class-weights", 0, 0, O_NO_CW},
    {"label-smoothing", 1, 0, O_SMOOTH}, {"clip", 1, 0, O_CLIP}, {"no-augment", 0, 0, O_NO_AUG},
    {"freq-mask", 1, 0, O_FMASK}, {"time-mask", 1, 0, O_TMASK}, {"masks", 1, 0, O_MASKS}, {"mixup", 1, 0, O_MIXUP}, {"seed", 1, 0, O_SEED},
    {"threads", 1, 0, O_THREADS}, {"output", 1, 0, 'o'}, {"state", 1, 0, O_STATE}, {"resume", 1, 0, O_RESUME},
    {"history", 1, 0, O_HISTORY}, {"drop-path", 1, 0, O_DROP_PATH}, {"in-chans", 1, 0, O_IN_CHANS}, {"in-norm", 1, 0, O_IN_NORM},
    {"pretrained", 1, 0, O_PRETRAINED}, {"freeze", 1, 0, O_FREEZE}, {"unfreeze-at", 1, 0, O_UNFREEZE_AT},
    {"lr-backbone", 1, 0, O_LR_BACKBONE}, {"multilabel", 0, 0, O_MULTILABEL}, {"pos-weight", 1, 0, O_POS_WEIGHT},
    {"device", 1, 0, O_DEVICE}, {"deterministic", 0, 0, O_DETERMINISTIC}, {"amp", 1, 0, O_AMP},
    {"amp-init-scale", 1, 0, O_AMP_INIT_SCALE}, {"tf32", 0, 0, O_TF32}, {"quiet", 0, 0, 'q'}, {"verbose", 0, 0, 'v'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};

static void usage_error(const char *msg, const char *arg) {
    diag_error("%s%s%s (see cnntrain --help)", msg, arg ? " " : "", arg ? arg : "");
    exit(EXIT_USAGE);
}

static double num(const char *opt, const char *s, double lo, double hi) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi)) {
        char msg[128];
        snprintf(msg, sizeof msg, "bad value for %s:", opt);
        usage_error(msg, s);
    }
    return v;
}

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

/* classes.tsv (index, name) -> JSON array of names; or "0".."K-1". */
static char *classes_json(const char *path, int k) {
    Tsv t;
    memset(&t, 0, sizeof t);
    int ci = -1, cn = -1;
    if (path) {
        if (tsv_read(path, &t) < 0) return NULL;
        ci = tsv_col(&t, "index");
        cn = tsv_col(&t, "name");
        if (ci < 0 || cn < 0 || (int)t.nrows != k) {
            err_set("%s: needs columns index and name and one row per class (%d classes in the data, %zu rows)", path, k,
                    t.nrows);
            tsv_free(&t);
            return NULL;
        }
    }
    size_t cap = 64, len = 0;
    char *s = malloc(cap);
    s[len++] = '[';
    for (int c = 0; c < k; c++) {
        char num_[16];
        snprintf(num_, sizeof num_, "%d", c);
        const char *name = num_;
        if (path)
            for (size_t r = 0; r < t.nrows; r++)
                if (atoi(t.rows[r][ci]) == c) name = t.rows[r][cn];
        size_t need = len + 2 * strlen(name) + 8;
        if (need > cap) {
            cap = 2 * need;
            s = realloc(s, cap);
        }
        if (c) s[len++] = ',';
        s[len++] = '"';
        for (const char *p = name; *p; p++) {
            if (*p == '"' || *p == '\\') s[len++] = '\\';
            s[len++] = *p;
        }
        s[len++] = '"';
    }
    s[len++] = ']';
    s[len] = 0;
    tsv_free(&t);
    return s;
}

/* Labels of the kind the run trains on: (N, K) targets with --multilabel, class indices without. */
static int check_label_kind(const Dataset *d, int multilabel) {
    if (multilabel && !d->targets) {
        if (d->labels_name)
            err_set("%s: --multilabel needs (N, K) targets (float32 or uint8), not class indices of shape (N)", d->labels_name);
        else
            err_set("%s: --multilabel needs a stacked .npy with (N, K) targets, not a manifest", d->name);
        return -1;
    }
    if (!multilabel && d->targets) {
        err_set("%s: (N, %d) multi-label targets: train with --multilabel", d->labels_name, d->ntargets);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv) {
    diag_set_program(argv[0]);
    outfile_install_cleanup();
    TrainOptions o;
    train_options_default(&o);
    o.mixup = -1; /* default: 0.2, multi-label 0 (cross-validated on three small data sets, README) */
    const char *train_path = NULL, *train_labels = NULL, *val_path = NULL, *val_labels = NULL, *classes = NULL;
    const char *arch = "baseline", *pretrained = NULL, *monitor = "val_loss", *device = "auto";
    double dropout = -1, drop_path = -1;
    int in_chans = -1; /* -1: default (repeat with --pretrained), 0 native, 1 repeat */
    int in_norm = -1;  /* -1: default (the --init checkpoint's, else none), 0 none, 1 ImageNet mean/std */
    int c;
    while ((c = getopt_long(argc, argv, "o:qvh", LONGOPTS, NULL)) != -1) {
        switch (c) {
        case O_TRAIN: train_path = optarg; break;
        case O_TRAIN_LABELS: train_labels = optarg; break;
        case O_VAL: val_path = optarg; break;
        case O_VAL_LABELS: val_labels = optarg; break;
        case O_CLASSES: classes = optarg; break;
        case O_FRONTEND: o.frontend = optarg; break;
        case O_ARCH: arch = optarg; break;
        case O_DROPOUT: dropout = num("--dropout", optarg, 0, 0.99); break;
        case O_INIT: o.init = optarg; break;
        case O_DROP_PATH: drop_path = num("--drop-path", optarg, 0, 0.99); break;
        case O_IN_CHANS:
            if (strcmp(optarg, "native") && strcmp(optarg, "repeat")) usage_error("bad value for --in-chans:", optarg);
            in_chans = strcmp(optarg, "repeat") == 0;
            break;
        case O_IN_NORM:
            if (strcmp(optarg, "none") && strcmp(optarg, "imagenet")) usage_error("bad value for --in-norm:", optarg);
            in_norm = strcmp(optarg, "imagenet") == 0;
            break;
        case O_PRETRAINED: pretrained = optarg; break;
        case O_FREEZE:
            if (strcmp(optarg, "backbone") && strcmp(optarg, "none")) usage_error("bad value for --freeze:", optarg);
            o.freeze_backbone = strcmp(optarg, "backbone") == 0;
            break;
        case O_UNFREEZE_AT: o.unfreeze_at = (int)num("--unfreeze-at", optarg, 1, 100000); break;
        case O_LR_BACKBONE: o.lr_backbone = num("--lr-backbone", optarg, 0, 10); break;
        case O_EPOCHS: o.epochs = (int)num("--epochs", optarg, 1, 100000); break;
        case O_BATCH: o.batch = (int)num("--batch", optarg, 1, 65536); break;
        case O_LR: o.lr = num("--lr", optarg, 1e-12, 10); break;
        case O_WD: o.weight_decay = num("--wd", optarg, 0, 10); break;
        case O_OPTIMIZER:
            if (strcmp(optarg, "adamw") && strcmp(optarg, "sgd")) usage_error("bad value for --optimizer:", optarg);
            o.sgd = strcmp(optarg, "sgd") == 0;
            break;
        case O_MOMENTUM: o.momentum = num("--momentum", optarg, 0, 0.9999); break;
        case O_SCHEDULE:
            if (!strcmp(optarg, "none")) o.schedule = 0;
            else if (!strcmp(optarg, "plateau")) o.schedule = 1;
            else if (!strcmp(optarg, "cosine")) o.schedule = 2;
            else usage_error("bad value for --schedule:", optarg);
            break;
        case O_WARMUP: o.warmup_epochs = (int)num("--warmup", optarg, 0, 100000); break;
        case O_PATIENCE: o.patience = (int)num("--patience", optarg, 0, 100000); break;
        case O_MONITOR:
            if (strcmp(optarg, "val_loss") && strcmp(optarg, "val_acc") && strcmp(optarg, "val_map"))
                usage_error("bad value for --monitor:", optarg);
            monitor = optarg;
            o.monitor_acc = strcmp(optarg, "val_loss") != 0;
            break;
        case O_MULTILABEL: o.multilabel = 1; break;
        case O_POS_WEIGHT:
            if (strcmp(optarg, "balanced") && strcmp(optarg, "none")) usage_error("bad value for --pos-weight:", optarg);
            o.pos_weight = strcmp(optarg, "balanced") == 0;
            break;
        case O_NO_CW: o.class_weights = 0; break;
        case O_SMOOTH: o.label_smoothing = (float)num("--label-smoothing", optarg, 0, 0.99); break;
        case O_CLIP: o.clip = num("--clip", optarg, 0, 1e9); break;
        case O_NO_AUG: o.augment = 0; break;
        case O_FMASK: o.aug.freq_mask_param = (int)num("--freq-mask", optarg, 0, 100000); break;
        case O_TMASK: o.aug.time_mask_param = (int)num("--time-mask", optarg, 0, 100000); break;
        case O_MASKS: o.aug.n_freq_masks = o.aug.n_time_masks = (int)num("--masks", optarg, 0, 100); break;
        case O_MIXUP: o.mixup = num("--mixup", optarg, 0, 100); break;
        case O_SEED: o.seed = (uint64_t)num("--seed", optarg, 0, 9007199254740992.0); break;
        case O_THREADS: o.threads = (int)num("--threads", optarg, 1, 64); break;
        case O_DEVICE: device = optarg; break;
        case O_DETERMINISTIC: o.deterministic = 1; break; /* the CPU engine always is */
        case O_AMP:
            if (nn_amp_parse(optarg, &o.amp) < 0) usage_error("bad value for --amp (off, bf16 or fp16):", optarg);
            break;
        case O_AMP_INIT_SCALE: o.amp_init_scale = num("--amp-init-scale", optarg, 1, 3.4e38); break;
        case O_TF32: o.tf32 = 1; break;
        case 'o': o.out = optarg; break;
        case O_STATE: o.state = optarg; break;
        case O_RESUME: o.resume = optarg; break;
        case O_HISTORY: o.history = optarg; break;
        case 'q': o.verbosity = -1; break;
        case 'v': o.verbosity = 1; break;
        case 'h': fputs(USAGE, stdout); return EXIT_OK;
        default: fputs(USAGE, stderr); return EXIT_USAGE;
        }
    }
    if (optind != argc) usage_error("unexpected argument", argv[optind]);
    if (!train_path) usage_error("--train is required", NULL);
    if (pretrained && o.init) usage_error("--pretrained and --init both give the starting weights; choose one", NULL);
    if (o.unfreeze_at && !o.freeze_backbone) usage_error("--unfreeze-at needs --freeze backbone", NULL);
    if (o.multilabel && !strcmp(monitor, "val_acc"))
        usage_error("--monitor val_acc has no meaning with --multilabel; use val_map (macro average precision)", NULL);
    if (!o.multilabel && !strcmp(monitor, "val_map")) usage_error("--monitor val_map needs --multilabel", NULL);
    if (!o.multilabel && o.pos_weight) usage_error("--pos-weight needs --multilabel", NULL);
    if (o.multilabel) o.class_weights = 0; /* pos_weight is the multi-label counterpart */
    if (o.mixup < 0) o.mixup = o.multilabel ? 0 : 0.2;
    if (in_chans < 0 && !o.init) in_chans = pretrained != NULL; /* with --init: the checkpoint's, below */
    if (in_chans == 1 && strcmp(arch, "baseline") == 0) usage_error("--in-chans repeat needs a torchvision architecture, not", arch);
    if (in_norm == 1 && in_chans == 0)
        usage_error("--in-norm imagenet needs --in-chans repeat (it normalises RGB channels)", NULL);
    { /* an unknown --arch is bad usage (exit 2), found before any data is read */
        char known[256], want[64];
        size_t n = 0;
        known[n++] = ',';
        for (const char *p = model_architectures(); *p && n + 2 < sizeof known; p++)
            if (*p != ' ') known[n++] = *p;
        known[n++] = ',';
        known[n] = 0;
        snprintf(want, sizeof want, ",%s,", arch);
        if (!*arch || strlen(arch) > 40 || !strstr(known, want)) {
            snprintf(known, sizeof known, "unknown architecture (known: %s):", model_architectures());
            usage_error(known, arch);
        }
    }
    if (!ends_with(o.out, ".safetensors")) usage_error("the output must end in .safetensors:", o.out);
    if (o.amp_init_scale > 0 && o.amp != NN_AMP_FP16) usage_error("--amp-init-scale needs --amp fp16", NULL);
    const char *gpu_opt = nn_gpu_precision_option(o.amp, o.tf32);
    NnDeviceChoice dev;
    const char *auto_why;
    char dev_desc[256];
    switch (nn_device_select(device, &dev, &auto_why)) {
    case -2: usage_error("bad value for --device (cpu, cuda, cuda:N or auto):", device); break;
    case -1: diag_error("%s", err_msg()); return EXIT_DATA;
    }
    nn_device_describe(&dev, dev_desc, sizeof dev_desc);
    if (o.verbosity > 0)
        fprintf(stderr, "cnntrain: device: %s%s%s%s\n", dev_desc, auto_why ? " (auto: " : "", auto_why ? auto_why : "",
                auto_why ? ")" : "");
    if (dev.device == NN_CUDA) {
        o.cuda_index = dev.index;
        o.device = dev_desc;
    } else if (gpu_opt) { /* mixed precision and TF32 are the GPU's: on the CPU a usage error, before any data */
        char msg[400];
        if (auto_why)
            snprintf(msg, sizeof msg, "%s needs a GPU, and --device auto chose the CPU: %s", gpu_opt, auto_why);
        else
            snprintf(msg, sizeof msg, "%s needs a GPU, not --device %s", gpu_opt, device);
        usage_error(msg, NULL);
    }
    char *state_default = NULL;
    if (!o.state) {
        size_t n = strlen(o.out);
        state_default = malloc(n + 16);
        memcpy(state_default, o.out, n - 12);
        strcpy(state_default + n - 12, ".state.safetensors");
        o.state = state_default;
    }
    int status = EXIT_DATA;
    Dataset train, val;
    memset(&train, 0, sizeof train);
    memset(&val, 0, sizeof val);
    Model m;
    memset(&m, 0, sizeof m);
    StFile init_f; /* --init's checkpoint, open from its metadata's reading to its weights' loading */
    int have_init = 0;
    char *cj = NULL, *frontend_rec = NULL;
    SpecnormStats fstats;
    memset(&fstats, 0, sizeof fstats);
    StItem fstats_items[2];
    if (dataset_open(&train, train_path, train_labels, 0) < 0) goto fail;
    if (val_path && dataset_open(&val, val_path, val_labels, 0) < 0) goto fail;
    if (check_label_kind(&train, o.multilabel) < 0 || (val_path && check_label_kind(&val, o.multilabel) < 0)) goto fail;
    int k = o.multilabel ? train.ntargets : dataset_label_count(&train);
    if (val_path && o.multilabel && val.ntargets != k) {
        err_set("%s: targets of %d classes, but the training labels have %d", val.labels_name, val.ntargets, k);
        goto fail;
    }
    for (int64_t i = 0; i < train.n && !o.multilabel; i++)
        if (train.labels[i] < 0) {
            err_set("%s: sample %lld has no label (index -1)", train_path, (long long)i);
            goto fail;
        }
    if (val_path) {
        for (int64_t i = 0; i < val.n && !o.multilabel; i++) /* checked before training, not after the first epoch */
            if (val.labels[i] < 0) {
                err_set("%s: sample %lld has no label (index -1)", val_path, (long long)i);
                goto fail;
            }
        int kv = dataset_label_count(&val);
        k = kv > k ? kv : k;
        if (val.c != train.c || val.f != train.f || val.t != train.t) {
            err_set("%s: samples of %dx%dx%d, but the training split has %dx%dx%d", val_path, val.c, val.f, val.t, train.c,
                    train.f, train.t);
            goto fail;
        }
    }
    if (classes) { /* the class list fixes K, even if a class is absent from the data */
        Tsv t;
        if (tsv_read(classes, &t) < 0) goto fail;
        if (o.multilabel && (int)t.nrows != k) {
            err_set("%s: %zu classes, but the multi-label targets have %d", classes, t.nrows, k);
            tsv_free(&t);
            goto fail;
        }
        if ((int)t.nrows < k) {
            err_set("%s: %zu classes, but the labels go up to %d", classes, t.nrows, k - 1);
            tsv_free(&t);
            goto fail;
        }
        k = (int)t.nrows;
        tsv_free(&t);
    }
    if (!(cj = classes_json(classes, k))) goto fail;
    { /* '... | --stats FILE': the statistics go into the checkpoint, the text records "--stats checkpoint" */
        int r = frontend_text_for_checkpoint(o.frontend, train.f, &fstats, &frontend_rec);
        if (r == -2) {
            diag_error("%s", err_msg());
            status = EXIT_USAGE;
            goto done;
        }
        if (r < 0) goto fail;
        if (frontend_rec) o.frontend = frontend_rec;
        o.ntensors = frontend_stats_items(&fstats, fstats_items);
        o.tensors = fstats_items;
    }
    { /* find an unwritable output now, not after the first epoch */
        OutFile probe;
        if (outfile_open(&probe, o.out) < 0) goto fail;
        outfile_abort(&probe);
    }
    o.classes_json = cj;
    if (o.init && !o.resume) { /* by default the network takes its input as the starting checkpoint's did */
        if (st_open(o.init, &init_f) < 0) goto fail;
        have_init = 1;
        const char *ic = st_meta_get(&init_f, "in_chans"), *in = st_meta_get(&init_f, "in_norm");
        if (in_chans < 0) in_chans = ic && strcmp(ic, "repeat") == 0;
        if (in_norm < 0) in_norm = in_chans == 1 && in && strcmp(in, "imagenet") == 0;
    }
    if (in_chans < 0) in_chans = 0;
    if (in_norm < 0) in_norm = 0;
    ModelOptions mo = {.stem_repeat = in_chans == 1, .in_norm = in_norm};
    if (model_create_opts(&m, arch, train.c, train.f, train.t, k, &mo) < 0) goto fail;
    if (dev.device == NN_CUDA && !m.cuda_ready) { /* the architecture's own flag (Model.cuda_ready) */
        if (strcmp(device, "auto") != 0) {
            err_set("--device %s: %s does not run on CUDA yet (use --device cpu)", device, arch);
            goto fail;
        }
        if (gpu_opt) {
            diag_error("%s needs a GPU, and --device auto runs %s on the CPU (see cnntrain --help)", gpu_opt, arch);
            status = EXIT_USAGE;
            goto done;
        }
        o.cuda_index = -1; /* auto: the CPU, as when no GPU is there */
        o.device = NULL;
        if (o.verbosity > 0) fprintf(stderr, "cnntrain: device: cpu (auto: %s does not run on CUDA yet)\n", arch);
    }
    model_init_weights(&m, o.seed);
    if (dropout >= 0) m.dropout = (float)dropout;
    if (drop_path >= 0) m.stochastic_depth = (float)drop_path;
    if (pretrained && !o.resume) { /* torchvision's weights; the classifier is ours */
        const char *skip[] = {m.head_prefix, FRONTEND_TENSOR_PREFIX};
        StLoadOpts lo = {.skip = skip, .nskip = 2};
        StrList problems = {0};
        int rc = weights_load(pretrained, &m.params, &lo, &problems);
        for (size_t i = 0; rc < 0 && o.verbosity > 0 && i < problems.n; i++) /* -v: every name */
            fprintf(stderr, "cnntrain:   %s\n", problems.v[i]);
        strlist_free(&problems);
        if (rc < 0) goto fail;
    }
    if (have_init) {
        /* the front end's tensors are no weights; other classes: the whole head is new, as with --pretrained */
        const char *skip[] = {FRONTEND_TENSOR_PREFIX, m.head_prefix};
        const char *nc = st_meta_get(&init_f, "n_classes");
        int same_classes = nc && atoi(nc) == k;
        StLoadOpts lo = {.skip = skip, .nskip = same_classes ? 1 : 2};
        if (st_load_params(&init_f, &m.params, &lo, NULL) < 0) goto fail;
    }
    train_install_signal_handlers();
    int rc = train_run(&o, &m, &train, val_path ? &val : NULL);
    if (rc == TRAIN_INTERRUPTED) {
        fprintf(stderr, "cnntrain: interrupted; resume with --resume %s\n", o.state);
        status = 128 + train_stop_signal();
    } else if (rc == TRAIN_OK) {
        status = EXIT_OK;
    } else {
        goto fail;
    }
    goto done;
fail:
    diag_error("%s", err_msg());
    status = EXIT_DATA;
done:
    if (have_init) st_close(&init_f);
    model_free(&m);
    dataset_close(&train);
    dataset_close(&val);
    free(cj);
    free(frontend_rec);
    specnorm_stats_free(&fstats);
    free(state_default);
    return status;
}
