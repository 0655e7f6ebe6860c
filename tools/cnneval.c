/* cnneval - evaluate a checkpoint on a split: predictions, misclassified samples, metrics; or scan long
 * recordings for events (--scan). See cnneval(1). */
#define _POSIX_C_SOURCE 200809L
#include "train/dataset.h"
#include "core/error.h"
#include "audio/frontend_args.h"
#include "formats/json.h"
#include "train/metrics.h"
#include "nn/device.h"
#include "nn/model.h"
#include "formats/outfile.h"
#include "formats/safetensors.h"
#include "scan/ensemble.h"
#include "scan/scanjob.h"
#include "core/strlist.h"
#include "formats/tsv.h"
#include "nn/loss.h"

#include <math.h>

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char USAGE[] =
    "usage: cnneval [options] MODEL.safetensors DATA [-o DIR]\n"
    "       cnneval [options] MODEL.safetensors RECORDING...\n"
    "       cnneval --scan [scan options] MODEL.safetensors RECORDING...\n"
    "       cnneval [options] -m MODEL1.safetensors -m MODEL2.safetensors ... DATA | RECORDING...\n"
    "DATA is a stacked split (N, 1, F, T) .npy with labels in DATA-labels.npy, or a manifest (.tsv) of\n"
    "equal-shape spectrograms. Writes DIR/predictions.tsv (key, true, predicted, confidence, one\n"
    "probability column per class), DIR/misclassified.tsv and DIR/metrics.json (accuracy, loss, top-k,\n"
    "per-class precision/recall/F1/support, macro and weighted averages, confusion matrix, as\n"
    "scikit-learn computes them). Unlabelled data gives predictions only.\n"
    "RECORDINGs (any audio file, not .npy or .tsv) are classified directly: the front end recorded in the\n"
    "checkpoint (cnntrain --frontend 'WAV2MEL-OPTIONS | SPECNORM-OPTIONS') turns each into the model's\n"
    "input, and one line per recording (or per window, with --segment in the front end) goes to stdout:\n"
    "path, start, end (seconds), class, confidence.\n"
    "An ensemble (-m given twice or more, e.g. the K fold models of make cv): every sample, recording or\n"
    "window goes through each model, and its probabilities are the mean of the models' softmax\n"
    "probabilities (summed in -m order); predictions, metrics and the loss (the cross-entropy of the\n"
    "averaged probabilities) come from them. The models must have the same classes (names and order) and\n"
    "input shape, and for recordings and --scan the same recorded front end; the architectures may differ.\n"
    "Multi-label checkpoints (cnntrain --multilabel; metadata multilabel=1): one sigmoid per class (an\n"
    "ensemble averages the sigmoids; multi- and single-label members do not mix). DATA is a stack with (N, K)\n"
    "targets: DIR/predictions.tsv (key, true and predicted class sets, one probability per class) and\n"
    "DIR/metrics.json (per-class average precision, ROC-AUC, precision/recall/F1 at --threshold and the\n"
    "best-F1 threshold; macro and micro averages; loss = mean BCE); no misclassified.tsv. Recordings: path,\n"
    "start, end, classes (at or above --threshold), one probability per class.\n"
    "\n"
    "  -m, --model FILE      a checkpoint (repeat for an ensemble); with -m, no MODEL operand is given\n"
    "  -o, --outdir DIR      where to write (default: the current directory)\n"
    "      --labels FILE     labels of a stack (default: DATA's name with -labels before .npy; '-' none)\n"
    "      --top-k K         also report top-K accuracy (default 3)\n"
    "      --threshold T     multi-label: a class is predicted when its probability is >= T (default 0.5)\n"
    "      --thresholds-out FILE  multi-label, labelled data: each class's best-F1 threshold on DATA as a TSV\n"
    "                        (class, threshold, f1) for --scan --thresholds\n"
    "      --batch N         samples per forward pass (default 64)\n"
    "      --threads N       (default 2)\n"
    "      --device cpu|cuda|cuda:N|auto  where the network runs, here and with --scan (default auto: a GPU\n"
    "                        when the build has CUDA, one is present and the GPU engine can run it; else the\n"
    "                        CPU); cuda without a usable GPU, or in a build without CUDA, is an error\n"
    "      --amp off|bf16|fp16  on a GPU, convolutions and linear layers in half precision with fp32\n"
    "                        accumulation, as torch.autocast and cnntrain --amp (default off); refused on the CPU\n"
    "      --tf32            on a GPU, fp32 convolutions may use TF32 tensor cores, as cnntrain --tf32;\n"
    "                        refused on the CPU\n"
    "  -q, --quiet           no summary line     -h, --help\n"
    "\n"
    "Scanning (--scan): long recordings (any length, any format libsndfile reads) in windows of the\n"
    "model's input length, decoded and transformed in a stream with bounded memory; one probability per\n"
    "class and window (a multi-label model's sigmoids need not sum to 1); consecutive windows above the\n"
    "threshold for a class make one event of it.\n"
    "  -s, --scan            scan the RECORDINGs\n"
    "      --overlap F       fraction of a window shared with the next, 0 <= F < 1 (default 0.5)\n"
    "      --step SECONDS    from one window's start to the next one's (instead of --overlap)\n"
    "      --threshold T     a window counts for a class when its probability is above T (default 0.5)\n"
    "      --thresholds FILE one threshold per class instead: a TSV with columns class and threshold (what\n"
    "                        --thresholds-out writes); DIR/threshold then records them as class, threshold\n"
    "      --classes LIST    comma-separated classes to find events of and count (default: all)\n"
    "      --scores FILE     window scores TSV: file, start, end, one probability per class ('-' stdout)\n"
    "      --events DIR      one Raven Pro selection table per recording: DIR/NAME.selections.txt\n"
    "      --results FILE    events per recording and class: TSV file, class, count ('-' stdout)\n"
    "      --csv             results as the capuchin challenge's CSV: recording,CLASS_calls,...\n"
    "  -o, --outdir DIR      all of them: DIR/scores.tsv, DIR/results.tsv (.csv with --csv),\n"
    "                        DIR/events/, DIR/threshold (without any output option: results to stdout)\n"
    "      --annotations LIST|DIR  score the events against annotations (needs -o DIR): a TSV with columns\n"
    "                        recording and table, or a folder of recordings with their Raven tables\n"
    "                        (X.Table.1.selections.txt), as splitset --windows reads them; each scanned\n"
    "                        recording listed (same path) is scored, others are not. DIR/detection.tsv\n"
    "                        (per recording and class, then per class: annotated, detected, matched,\n"
    "                        precision, recall, f1, count_error), DIR/detection.json, DIR/detection-events.tsv\n"
    "      --match-fraction F  an event matches a selection of its class (one to one, as many pairs as\n"
    "                        possible) when they overlap by >= F of the shorter of the two (default 0.5)\n"
    "      --label-column COL  Raven's column holding the label (default Annotation)\n"
    "      --dump-inputs FILE  every window's model input as a stream of .npy arrays (for checking)\n"
    "      --batch N         windows per forward pass (on the CPU default 1 when every model is the baseline,\n"
    "                        else 4: the fastest measured; on a GPU 64; each window holds its activations)\n"
    "      --threads N       threads for the network of each job (default 2; 1 with --jobs)\n"
    "  -j, --jobs N          scan N recordings at once, each on its own copy of the model(s) (default 1);\n"
    "                        the outputs are the same bytes for any N\n"
    "  -v, --verbose         the device, a line per recording, times per stage and peak memory on stderr\n"
    "  -q, --quiet           no summary line and no progress\n"
    "Exit status: 0 done, 1 data or file error, 2 bad usage.\n";

enum { OPT_OVERLAP = 256, OPT_STEP, OPT_THRESHOLD, OPT_CLASSES, OPT_SCORES, OPT_EVENTS, OPT_RESULTS, OPT_CSV, OPT_DUMP, OPT_JOBS,
       OPT_THR_OUT, OPT_THRESHOLDS, OPT_ANNOTATIONS, OPT_MATCH, OPT_LABEL_COL, OPT_DEVICE, OPT_AMP, OPT_TF32 };

static const struct option LONGOPTS[] = {{"outdir", 1, 0, 'o'}, {"labels", 1, 0, 'L'}, {"top-k", 1, 0, 'k'},
                                         {"batch", 1, 0, 'b'}, {"threads", 1, 0, 't'}, {"quiet", 0, 0, 'q'},
                                         {"help", 0, 0, 'h'}, {"scan", 0, 0, 's'}, {"verbose", 0, 0, 'v'},
                                         {"overlap", 1, 0, OPT_OVERLAP}, {"step", 1, 0, OPT_STEP},
                                         {"threshold", 1, 0, OPT_THRESHOLD}, {"classes", 1, 0, OPT_CLASSES},
                                         {"scores", 1, 0, OPT_SCORES}, {"device", 1, 0, OPT_DEVICE}, {"amp", 1, 0, OPT_AMP}, {"tf32", 0, 0, OPT_TF32}, {"events", 1, 0, OPT_EVENTS},
                                         {"results", 1, 0, OPT_RESULTS}, {"csv", 0, 0, OPT_CSV},
                                         {"dump-inputs", 1, 0, OPT_DUMP}, {"jobs", 1, 0, 'j'},
                                         {"model", 1, 0, 'm'}, {"thresholds-out", 1, 0, OPT_THR_OUT},
                                         {"thresholds", 1, 0, OPT_THRESHOLDS}, {"annotations", 1, 0, OPT_ANNOTATIONS},
                                         {"match-fraction", 1, 0, OPT_MATCH}, {"label-column", 1, 0, OPT_LABEL_COL},
                                         {0, 0, 0, 0}};

/* Scan-mode settings from the command line. */
typedef struct {
    int on, verbose, csv, jobs;
    double overlap, step, threshold, match_fraction;
    const char *classes, *scores, *events, *results, *dump;
    const char *annotations, *label_col; /* --annotations: detection metrics against them */
    const char *thresholds; /* --thresholds FILE: per-class thresholds (class, threshold[, f1]) */
    int outdir_set, used; /* used: a scan option was given */
} ScanArgs;

/* A number from an option: the whole string, finite. */
static int number_arg(const char *s, double *v) {
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    return !errno && end != s && !*end && *v == *v && *v - *v == 0 ? 0 : -1;
}

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

/* The JSON array of class names in the checkpoint's metadata (strings without escapes other than \" and \\). */
static int parse_classes(const char *json, int k, StrList *names) {
    const char *p = json;
    while (*p == ' ') p++;
    if (*p++ != '[') return -1;
    while (*p && *p != ']') {
        while (*p == ' ' || *p == ',') p++;
        if (*p == ']') break;
        if (*p++ != '"') return -1;
        char buf[512];
        size_t n = 0;
        while (*p && *p != '"' && n + 1 < sizeof buf) {
            if (*p == '\\' && p[1]) p++;
            buf[n++] = *p++;
        }
        if (*p++ != '"') return -1;
        buf[n] = 0;
        if (strlist_push(names, strdup(buf)) < 0) return -1;
    }
    return (int)names->n == k ? 0 : -1;
}

/* A model of the ensemble (one, without -m twice): its checkpoint and what its metadata says. */
typedef struct Member {
    const char *path, *arch;
    StFile f;
    int open;
    int ic, ih, iw, k;
    int ml; /* metadata multilabel=1: one sigmoid per class */
    StrList names; /* the classes (numbers when the checkpoint names none) */
} Member;

static int member_open(Member *mb, const char *path) {
    memset(mb, 0, sizeof *mb);
    mb->f.fd = -1;
    mb->path = path;
    if (st_open(path, &mb->f) < 0) return -1;
    mb->open = 1;
    const char *shape = st_meta_get(&mb->f, "input_shape"), *ncs = st_meta_get(&mb->f, "n_classes"),
               *cls = st_meta_get(&mb->f, "classes");
    mb->arch = st_meta_get(&mb->f, "arch");
    mb->k = ncs ? atoi(ncs) : 0;
    const char *ml = st_meta_get(&mb->f, "multilabel");
    mb->ml = ml && strcmp(ml, "1") == 0;
    if (!mb->arch || !shape || sscanf(shape, "%dx%dx%d", &mb->ic, &mb->ih, &mb->iw) != 3 || mb->k < 2) {
        err_set("%s: not an audiocnn checkpoint (metadata arch, input_shape and n_classes needed)", path);
        return -1;
    }
    if (!cls || parse_classes(cls, mb->k, &mb->names) < 0) {
        strlist_free(&mb->names);
        for (int i = 0; i < mb->k; i++) {
            char s[16];
            snprintf(s, sizeof s, "%d", i);
            if (strlist_push(&mb->names, strdup(s)) < 0) {
                err_set("out of memory");
                return -1;
            }
        }
    }
    return 0;
}

static void member_close(Member *mb) {
    if (mb->open) st_close(&mb->f);
    strlist_free(&mb->names);
}

/* Member b against the ensemble's first, a: the same classes in the same order and the same input
 * shape; with front_end, the same recorded front end and statistics. -1 with err_set() naming b. */
static int member_agrees(const Member *a, const Member *b, int front_end) {
    static const char WHY[] = "(the models of an ensemble must agree)";
    if (b->ml != a->ml) {
        err_set("%s: %s, but %s is %s %s", b->path, b->ml ? "multi-label" : "single-label", a->path,
                a->ml ? "multi-label" : "single-label", WHY);
        return -1;
    }
    if (b->k != a->k) {
        err_set("%s: %d classes, but %s has %d %s", b->path, b->k, a->path, a->k, WHY);
        return -1;
    }
    for (int c = 0; c < a->k; c++)
        if (strcmp(a->names.v[c], b->names.v[c]) != 0) {
            err_set("%s: class %d is '%.100s', but %s's is '%.100s' %s", b->path, c, b->names.v[c], a->path, a->names.v[c], WHY);
            return -1;
        }
    if (b->ic != a->ic || b->ih != a->ih || b->iw != a->iw) {
        err_set("%s: takes %dx%dx%d inputs, but %s takes %dx%dx%d %s", b->path, b->ic, b->ih, b->iw, a->path, a->ic, a->ih,
                a->iw, WHY);
        return -1;
    }
    if (!front_end) return 0;
    const char *ta = st_meta_get(&a->f, "frontend"), *tb = st_meta_get(&b->f, "frontend");
    if (strcmp(ta ? ta : "", tb ? tb : "") != 0) {
        err_set("%s: records the front end '%.200s', but %s records '%.200s' %s", b->path, tb ? tb : "", a->path,
                ta ? ta : "", WHY);
        return -1;
    }
    FrontEnd fa, fb;
    SpecnormConfig na, nb;
    SpecnormStats sa, sb;
    frontend_init(&fa);
    frontend_init(&fb);
    memset(&sa, 0, sizeof sa);
    memset(&sb, 0, sizeof sb);
    int rc = -1;
    if (frontend_from_checkpoint(&a->f, a->ih, &fa, &na, &sa) == 0 && frontend_from_checkpoint(&b->f, b->ih, &fb, &nb, &sb) == 0) {
        if (sa.f != sb.f || (sa.f && (memcmp(sa.mean, sb.mean, sizeof(float) * (size_t)sa.f) ||
                                      memcmp(sa.std, sb.std, sizeof(float) * (size_t)sa.f))))
            err_set("%s: its front end's statistics (frontend.stats.*) differ from those of %s %s", b->path, a->path, WHY);
        else
            rc = 0;
    }
    frontend_free(&fa);
    frontend_free(&fb);
    specnorm_stats_free(&sa);
    specnorm_stats_free(&sb);
    return rc;
}

/* The checkpoint's network with its weights (a repeated three-channel stem when it was trained so). */
static int load_model(Model *m, const StFile *f, const char *arch, int c, int h, int w, int k) {
    const char *ic = st_meta_get(f, "in_chans"), *in = st_meta_get(f, "in_norm");
    if (in && strcmp(in, "none") && strcmp(in, "imagenet")) {
        err_set("%s: unknown in_norm '%.40s' in the checkpoint's metadata (none or imagenet)", f->name, in);
        return -1;
    }
    ModelOptions mo = {.stem_repeat = ic && strcmp(ic, "repeat") == 0, .in_norm = in && strcmp(in, "imagenet") == 0};
    if (model_create_opts(m, arch, c, h, w, k, &mo) < 0) {
        err_prefix(f->name); /* "unknown architecture ..." does not name the file */
        return -1;
    }
    const char *skip[] = {FRONTEND_TENSOR_PREFIX}; /* the front end's statistics are no weights */
    StLoadOpts lo = {.skip = skip, .nskip = 1};
    return st_load_params(f, &m->params, &lo, NULL);
}

/* The device every network of this run goes to (--device): -1 the CPU, else a GPU ordinal. */
static int cuda_index = -1;
static const char *device_spec = "auto";
static int verbose_device;
static NnAmp eval_amp; /* --amp: every GPU context's mixed precision (nn/amp.h) */
static int eval_tf32;  /* --tf32: every GPU context's fp32 convolutions may use TF32 */
static const char *gpu_opt; /* the first option given that only a GPU runs (nn_gpu_precision_option), or NULL */

/* The nm loaded members may run on the chosen GPU only if each architecture does (Model.cuda_ready):
 * otherwise --device auto falls back to the CPU and an explicit cuda is an error naming it. Returns 0, or -1
 * with err_set(). */
static int check_cuda_ready(const Model *ms, int nm) {
    for (int e = 0; cuda_index >= 0 && e < nm; e++) {
        if (ms[e].cuda_ready) continue;
        if (strcmp(device_spec, "auto") != 0) {
            err_set("--device %s: %s does not run on CUDA yet (use --device cpu)", device_spec, ms[e].arch);
            return -1;
        }
        if (gpu_opt) {
            err_set("%s needs a GPU, and --device auto runs %s on the CPU", gpu_opt, ms[e].arch);
            return -1;
        }
        cuda_index = -1;
        if (verbose_device) fprintf(stderr, "cnneval: device: cpu (auto: %s does not run on CUDA yet)\n", ms[e].arch);
    }
    return 0;
}

/* nn_ctx_init, then the chosen GPU, and the nm models' parameters moved to it (made and loaded on the
 * host, moved once). Returns 0, or -1 with err_set() (the context is then freed). */
static int ctx_open(NnCtx *ctx, int threads, Model *ms, int nm) {
    if (nn_ctx_init(ctx, threads) < 0) return -1;
    ctx->const_weights = 1; /* evaluation only: the models' weights stay put while the context lives */
    ctx->tf32 = eval_tf32;
    if ((cuda_index >= 0 && nn_ctx_use_cuda(ctx, cuda_index) < 0) || nn_ctx_set_amp(ctx, eval_amp) < 0) {
        nn_ctx_free(ctx);
        return -1;
    }
    for (int e = 0; e < nm; e++)
        if (model_to_device(&ms[e], ctx) < 0) {
            nn_ctx_free(ctx);
            return -1;
        }
    return 0;
}

/* Raw recordings through the recorded front end (f's: the members agree on it) and the nm models: one
 * line per recording or window on stdout. */
static int classify_recordings(Model *ms, int nm, const StFile *f, char **paths, int npaths, const StrList *names,
                               int threads, int ml, double threshold) {
    Model *m = &ms[0];
    FrontEnd fe;
    frontend_init(&fe);
    SpecnormConfig norm;
    SpecnormStats stats;
    int rc = -1;
    if (frontend_from_checkpoint(f, m->in_h, &fe, &norm, &stats) < 0) {
        frontend_free(&fe);
        return -1;
    }
    NnCtx ctx;
    if (ctx_open(&ctx, threads, ms, nm) < 0) {
        frontend_free(&fe);
        return -1;
    }
    int k = m->n_classes;
    float *logits = malloc(sizeof(float) * (size_t)k * (size_t)nm), *probs = malloc(sizeof(float) * (size_t)k);
    if (!logits || !probs) {
        err_set("out of memory");
        goto done;
    }
    if (ml) { /* multi-label: the classes at or above the threshold, and every class's probability */
        printf("path\tstart\tend\tclasses");
        for (int c = 0; c < k; c++) printf("\tp_%s", names->v[c]);
        putchar('\n');
    } else {
        printf("path\tstart\tend\tclass\tconfidence\n");
    }
    for (int i = 0; i < npaths; i++) {
        Clips clips;
        if (frontend_run(&fe, paths[i], &clips) < 0) goto done;
        for (int j = 0; j < clips.n; j++) {
            Tensor y;
            if (specnorm_process(&norm, &clips.v[j].spec, paths[i], paths[i], &y) < 0) {
                clips_free(&clips);
                goto done;
            }
            if (y.shape[0] != m->in_c || y.shape[1] != m->in_h || y.shape[2] != m->in_w) {
                err_set("%s: the recorded front end gives %lldx%lldx%lld inputs, the model takes %dx%dx%d", paths[i],
                        (long long)y.shape[0], (long long)y.shape[1], (long long)y.shape[2], m->in_c, m->in_h, m->in_w);
                tensor_free(&y);
                clips_free(&clips);
                goto done;
            }
            int fw = 0;
            for (int e = 0; e < nm && fw == 0; e++)
                fw = model_forward_host(&ms[e], &ctx, tensor_f32(&y), 1, NN_INFER, 0, logits + e * k);
            tensor_free(&y);
            if (fw < 0) {
                clips_free(&clips);
                goto done;
            }
            if (ml) {
                ensemble_sigmoid(logits, nm, 1, k, probs);
                printf("%s\t%.3f\t%.3f\t", paths[i], clips.v[j].start, clips.v[j].end);
                for (int c = 0, first = 1; c < k; c++)
                    if (probs[c] >= threshold) printf("%s%s", first ? "" : ",", names->v[c]), first = 0;
                for (int c = 0; c < k; c++) printf("\t%.6f", probs[c]);
                putchar('\n');
                continue;
            }
            int64_t pred;
            ensemble_combine(logits, nm, 1, k, probs, NULL, &pred);
            printf("%s\t%.3f\t%.3f\t%s\t%.6f\n", paths[i], clips.v[j].start, clips.v[j].end, names->v[pred], probs[pred]);
        }
        clips_free(&clips);
    }
    rc = fflush(stdout) == 0 && !ferror(stdout) ? 0 : -1;
    if (rc < 0) err_set("<stdout>: write error: %s", strerror(errno));
done:
    free(logits);
    free(probs);
    nn_ctx_free(&ctx);
    frontend_free(&fe);
    specnorm_stats_free(&stats);
    return rc;
}

/* The nm members' logits on all of d's samples: member e's rows at logits + e * n * k. */
static int forward_all(Model *ms, int nm, const Dataset *d, int k, int batch, int threads, float *logits) {
    size_t per = (size_t)d->c * d->f * d->t, nk = (size_t)d->n * (size_t)k;
    NnCtx ctx;
    if (ctx_open(&ctx, threads, ms, nm) < 0) return -1;
    for (int e = 0; e < nm; e++)
        for (int64_t s = 0; s < d->n; s += batch) {
            int n = (int)(d->n - s < batch ? d->n - s : batch);
            if (model_forward_host(&ms[e], &ctx, d->x + (size_t)s * per, n, NN_INFER, 0, logits + e * nk + s * k) < 0) {
                nn_ctx_free(&ctx);
                return -1;
            }
        }
    nn_ctx_free(&ctx);
    return 0;
}

/* The classes of row p (k values) at or above t, comma-separated (nothing when none). */
static void put_set(FILE *o, const float *p, int k, double t, const StrList *names) {
    for (int c = 0, first = 1; c < k; c++)
        if (p[c] >= t) fprintf(o, "%s%s", first ? "" : ",", names->v[c]), first = 0;
}

/* A multi-label model (nm members) on d: DIR/predictions.tsv (key, true, predicted, one probability per
 * class), and with targets DIR/metrics.json (multi_metrics + the mean BCE) and, when thr_out, the
 * per-class best-F1 thresholds as a TSV (class, threshold, f1). */
static int eval_multilabel(Model *ms, int nm, const Dataset *d, const StrList *names, int k, const char *outdir,
                           double threshold, const char *thr_out, int batch, int threads, int quiet, const char *who) {
    size_t nk = (size_t)d->n * (size_t)k;
    int rc = -1, labelled = d->targets != NULL;
    float *logits = malloc(sizeof(float) * (nk ? nk : 1) * (size_t)nm), *probs = malloc(sizeof(float) * (nk ? nk : 1));
    uint8_t *truth = malloc(nk ? nk : 1);
    MultiMetrics mm;
    memset(&mm, 0, sizeof mm);
    if (!logits || !probs || !truth) {
        err_set("out of memory");
        goto done;
    }
    if (forward_all(ms, nm, d, k, batch, threads, logits) < 0) goto done;
    ensemble_sigmoid(logits, nm, d->n, k, probs);
    for (size_t i = 0; labelled && i < nk; i++) truth[i] = d->targets[i] >= 0.5f; /* as cnntrain's val_map */
    if (mkdir_p(outdir, NULL, NULL) < 0) goto done;
    char path[4096];
    OutFile pf, jf, tf;
    snprintf(path, sizeof path, "%s/predictions.tsv", outdir);
    if (outfile_open(&pf, path) < 0) goto done;
    fputs("key\ttrue\tpredicted", pf.f);
    for (int j = 0; j < k; j++) fprintf(pf.f, "\tp_%s", names->v[j]);
    fputc('\n', pf.f);
    for (int64_t i = 0; i < d->n; i++) {
        fprintf(pf.f, "%s\t", d->keys[i]);
        if (labelled)
            for (int c = 0, first = 1; c < k; c++)
                if (truth[i * k + c]) fprintf(pf.f, "%s%s", first ? "" : ",", names->v[c]), first = 0;
        fputc('\t', pf.f);
        put_set(pf.f, probs + i * k, k, threshold, names); /* as the metrics' F1 counts */
        for (int j = 0; j < k; j++) fprintf(pf.f, "\t%.9g", probs[i * k + j]);
        fputc('\n', pf.f);
    }
    if (outfile_commit(&pf) < 0) goto done;
    if (!labelled) {
        if (!quiet) fprintf(stderr, "cnneval: %s%lld unlabelled samples scored (multi-label)\n", who, (long long)d->n);
        rc = 0;
        goto done;
    }
    if (multi_metrics_compute(&mm, probs, truth, d->n, k, threshold) < 0) goto done;
    mm.has_loss = 1;
    if (nm == 1) { /* as cnntrain's val_loss: BCEWithLogitsLoss of the logits, mean over N*K */
        BceShape bs = {.N = (int)d->n, .K = k, .label_smoothing = 0, .reduction = LOSS_MEAN};
        float l;
        if (bce_with_logits_forward(&bs, logits, d->targets, NULL, &l) < 0) goto done;
        mm.loss = l;
    } else { /* torch.nn.BCELoss of the averaged probabilities: logs clamped at -100 */
        double sum = 0;
        for (size_t i = 0; i < nk; i++) {
            double p = probs[i], y = d->targets[i];
            double lp = p > 0 ? fmax(log(p), -100.0) : -100.0, lq = p < 1 ? fmax(log1p(-p), -100.0) : -100.0;
            sum -= y * lp + (1 - y) * lq;
        }
        mm.loss = nk ? sum / (double)nk : 0;
    }
    snprintf(path, sizeof path, "%s/metrics.json", outdir);
    if (outfile_open(&jf, path) < 0) goto done;
    JsonWriter w;
    json_init(&w, jf.f, 2);
    multi_metrics_write_json(&w, &mm, (const char *const *)names->v);
    if (json_error(&w)) {
        err_set("%s: could not write the metrics", path);
        outfile_abort(&jf);
        goto done;
    }
    if (outfile_commit(&jf) < 0) goto done;
    if (thr_out) {
        if (outfile_open(&tf, thr_out) < 0) goto done;
        fputs("class\tthreshold\tf1\n", tf.f);
        for (int c = 0; c < k; c++) fprintf(tf.f, "%s\t%.9g\t%.6f\n", names->v[c], mm.best_threshold[c], mm.best_f1[c]);
        if (outfile_commit(&tf) < 0) goto done;
    }
    if (!quiet)
        fprintf(stderr, "cnneval: %s%lld samples (multi-label), loss %.4f, macro AP %.4f, micro AP %.4f, macro AUC %.4f, "
                        "macro F1 %.4f at %g\n",
                who, (long long)d->n, mm.loss, mm.macro_ap, mm.micro_ap, mm.macro_auc, mm.macro_f1, threshold);
    rc = 0;
done:
    multi_metrics_free(&mm);
    free(logits);
    free(probs);
    free(truth);
    return rc;
}

/* --thresholds FILE: a TSV with columns class and threshold (others, such as f1, ignored; what
 * --thresholds-out writes), one row per class of the model, each in [0, 1]. thr gets k values in the
 * model's class order. -1 with err_set() naming the file (and line). */
static int read_thresholds(const char *path, const StrList *names, int k, double *thr) {
    Tsv t;
    if (tsv_read(path, &t) < 0) return -1;
    int cc = tsv_col(&t, "class"), tc = tsv_col(&t, "threshold"), rc = -1;
    unsigned char *seen = calloc((size_t)k, 1);
    if (!seen) {
        err_set("out of memory");
        goto done;
    }
    if (cc < 0 || tc < 0) {
        err_set("%s: needs the columns class and threshold (as cnneval --thresholds-out writes)", path);
        goto done;
    }
    for (size_t r = 0; r < t.nrows; r++) {
        const char *name = t.rows[r][cc];
        int c = 0;
        while (c < k && strcmp(names->v[c], name)) c++;
        if (c == k) {
            err_set("%s:%zu: the model has no class '%.100s'", path, t.lineno[r], name);
            goto done;
        }
        if (seen[c]++) {
            err_set("%s:%zu: class '%.100s' given twice", path, t.lineno[r], name);
            goto done;
        }
        if (number_arg(t.rows[r][tc], &thr[c]) < 0 || thr[c] < 0 || thr[c] > 1) {
            err_set("%s:%zu: threshold '%.40s' of class '%.100s' is not a number in [0, 1]", path, t.lineno[r],
                    t.rows[r][tc], name);
            goto done;
        }
    }
    for (int c = 0; c < k; c++)
        if (!seen[c]) {
            err_set("%s: no threshold for class '%.100s'", path, names->v[c]);
            goto done;
        }
    rc = 0;
done:
    free(seen);
    tsv_free(&t);
    return rc;
}

/* -v: one line per recording. */
static void report_recording(void *arg, const char *path, const ScanRecording *info, const int64_t *counts) {
    const StrList *names = arg;
    char buf[1024];
    size_t len = 0;
    for (size_t c = 0; c < names->n && len < sizeof buf - 64; c++)
        len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%s %lld", c ? ", " : "", names->v[c], (long long)counts[c]);
    fprintf(stderr, "cnneval: %s: %.1f s at %g Hz (%d channel%s), %lld frames at %g Hz, %lld windows of %d frames every %d; events: %s\n",
            strcmp(path, "-") == 0 ? "<stdin>" : path, info->seconds, info->file_sr, info->channels,
            info->channels == 1 ? "" : "s", (long long)info->frames, info->sr, (long long)info->windows,
            info->window_frames, info->step_frames, buf);
}

/* Peak resident memory (VmHWM) in KiB, or -1 where /proc does not say. */
static long peak_rss_kib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0) v = strtol(line + 6, NULL, 10);
    if (f) fclose(f);
    return v;
}

/* --scan: the recordings through the front end recorded in the checkpoint (f's: the members agree on
 * it), window by window, through the nm models of the ensemble; with --jobs N, on N copies of them
 * (job j's models: models[j*nm .. j*nm + nm - 1]) at once. */
static int scan_recordings(Model *models, int nm, const StFile *f, char **paths, int npaths, const StrList *names,
                           const ScanArgs *a, const char *outdir, int batch, int threads, int quiet, int ml) {
    Model *m = &models[0];
    Model **mp = malloc(sizeof(Model *) * (size_t)(nm * a->jobs));
    for (int j = 0; mp && j < nm * a->jobs; j++) mp[j] = &models[j];
    int nj = a->jobs;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    FrontEnd fe;
    frontend_init(&fe);
    SpecnormConfig norm;
    SpecnormStats stats;
    memset(&stats, 0, sizeof stats);
    const char *text = st_meta_get(f, "frontend");
    int rc = -1, k = m->n_classes;
    NnCtx *ctx = calloc((size_t)nj, sizeof(NnCtx));
    int have_ctx = 0;
    Scanner **sc = calloc((size_t)nj, sizeof(Scanner *));
    unsigned char *counted = NULL;
    double *thr = NULL; /* --thresholds: per class */
    Truth *truth = NULL; /* --annotations: per recording */
    unsigned char *annotated = NULL;
    char p_scores[4096], p_results[4096], p_events[4096], p_thr[4096];
    if (!ctx || !sc || !mp) {
        err_set("out of memory");
        goto done;
    }
    if (frontend_from_checkpoint(f, m->in_h, &fe, &norm, &stats) < 0) goto done;
    for (; have_ctx < nj; have_ctx++) /* job j's context, its models moved to it */
        if (ctx_open(&ctx[have_ctx], threads, models + have_ctx * nm, nm) < 0) goto done;
    if (a->thresholds) {
        if (!(thr = malloc(sizeof(double) * (size_t)k))) {
            err_set("out of memory");
            goto done;
        }
        if (read_thresholds(a->thresholds, names, k, thr) < 0) goto done;
    }
    if (batch < 0) batch = scan_default_batch(models, nm, ctx[0].device);
    ScanSettings set = {.overlap = a->overlap, .step = a->step, .batch = batch, .sigmoid = ml};
    for (int j = 1; j < nj; j++)
        if (!(sc[j] = scanner_new_ensemble(mp + j * nm, nm, &ctx[j], &fe, &norm, &set))) goto done;
    if (!(sc[0] = scanner_new_ensemble(mp, nm, &ctx[0], &fe, &norm, &set))) {
        if (!text || !*text) { /* wav2mel's and specnorm's defaults, as for raw recordings */
            char *why = strdup(err_msg());
            err_set("%s: records no front end (cnntrain --frontend 'WAV2MEL-OPTIONS | SPECNORM-OPTIONS'); with the "
                    "defaults %s", f->name, why ? why : "the inputs differ");
            free(why);
        } else {
            err_prefix(f->name);
        }
        goto done;
    }
    if (a->classes) {
        counted = calloc((size_t)k, 1);
        char *list = strdup(a->classes);
        if (!counted || !list) {
            free(list);
            err_set("out of memory");
            goto done;
        }
        for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            int found = -1;
            for (int c = 0; c < k; c++)
                if (strcmp(names->v[c], tok) == 0) found = c;
            if (found < 0) {
                err_set("--classes: %s has no class '%s'", f->name, tok);
                free(list);
                rc = -2;
                goto done;
            }
            counted[found] = 1;
        }
        free(list);
    }
    if (a->annotations) {
        truth = calloc((size_t)npaths, sizeof *truth);
        annotated = calloc((size_t)npaths, 1);
        if (!truth || !annotated) {
            err_set("out of memory");
            goto done;
        }
        if (detect_truth_load(a->annotations, a->label_col, (const char *const *)paths, npaths,
                              (const char *const *)names->v, k, truth, annotated) < 0)
            goto done;
    }
    ScanJob job = {.scores = a->scores, .events = a->events, .results = a->results, .csv = a->csv,
                   .detection = a->annotations ? outdir : NULL, .truth = truth, .annotated = annotated,
                   .match_fraction = a->match_fraction,
                   .threshold = a->threshold, .thresholds = thr, .counted = counted, .names = (const char *const *)names->v, .k = k,
                   .verbosity = quiet ? -1 : a->verbose, .inputs = a->dump,
                   .on_recording = a->verbose ? report_recording : NULL, .arg = (void *)names};
    if (a->outdir_set) {
        if (mkdir_p(outdir, NULL, NULL) < 0) goto done;
        snprintf(p_scores, sizeof p_scores, "%s/scores.tsv", outdir);
        snprintf(p_results, sizeof p_results, "%s/results.%s", outdir, a->csv ? "csv" : "tsv");
        snprintf(p_events, sizeof p_events, "%s/events", outdir);
        snprintf(p_thr, sizeof p_thr, "%s/threshold", outdir);
        if (!job.scores) job.scores = p_scores;
        if (!job.results) job.results = p_results;
        if (!job.events) job.events = p_events;
        job.threshold_file = p_thr;
    } else if (!job.scores && !job.results && !job.events && !job.inputs) {
        job.results = "-";
    }
    ScanSummary sum;
    if (scanjob_run(&job, sc, nj, &fe, (const char *const *)paths, npaths, &sum) < 0) goto done;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double wall = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    if (!quiet)
        fprintf(stderr, "cnneval: scanned %lld recording%s, %.1f s of audio in %.2f s (%.0fx real time), %lld windows, %lld events\n",
                (long long)sum.recordings, sum.recordings == 1 ? "" : "s", sum.seconds, wall,
                wall > 0 ? sum.seconds / wall : 0.0, (long long)sum.windows, (long long)sum.events);
    if (a->verbose) {
        ScanTimes t = {0}; /* summed over the jobs: CPU time per stage */
        for (int j = 0; j < nj; j++) {
            const ScanTimes *tj = scanner_times(sc[j]);
            t.decode += tj->decode, t.resample += tj->resample, t.spectrogram += tj->spectrogram, t.network += tj->network;
        }
        fprintf(stderr, "cnneval: time%s: decode %.3f s, resample %.3f s, spectrogram %.3f s, network %.3f s\n",
                nj > 1 ? " (summed over the jobs)" : "", t.decode, t.resample, t.spectrogram, t.network);
        long hwm = peak_rss_kib();
        if (hwm >= 0) fprintf(stderr, "cnneval: peak memory %.1f MiB (VmHWM %ld kB)\n", hwm / 1024.0, hwm);
    }
    rc = 0;
done:
    free(counted);
    free(thr);
    detect_truth_free(truth, npaths);
    free(truth);
    free(annotated);
    free(mp);
    for (int j = 0; sc && j < nj; j++) scanner_free(sc[j]);
    free(sc);
    for (int j = 0; j < have_ctx; j++) nn_ctx_free(&ctx[j]);
    free(ctx);
    frontend_free(&fe);
    specnorm_stats_free(&stats);
    return rc;
}

int main(int argc, char **argv) {
    diag_set_program(argv[0]);
    outfile_install_cleanup();
    const char *outdir = ".", *labels = NULL;
    int topk = 3, batch = -1, threads = 2, quiet = 0, c; /* batch -1: the mode's default */
    ScanArgs sa = {.overlap = 0.5, .threshold = 0.5, .jobs = 1, .match_fraction = 0.5};
    int threads_set = 0, thr_set = 0;
    const char *thr_out = NULL; /* --thresholds-out FILE */
    const char *bad = NULL, *device = "auto";
    const char **mpaths = NULL; /* -m FILE ... */
    int nm = 0;
    while ((c = getopt_long(argc, argv, "o:qhsvj:m:", LONGOPTS, NULL)) != -1) {
        switch (c) {
        case 'm': {
            const char **grown = realloc(mpaths, sizeof *mpaths * (size_t)(nm + 1));
            if (!grown) {
                diag_error("out of memory");
                free(mpaths);
                return EXIT_DATA;
            }
            mpaths = grown;
            mpaths[nm++] = optarg;
            break;
        }
        case 'o': outdir = optarg; sa.outdir_set = 1; break;
        case 's': sa.on = 1; break;
        case 'v': sa.verbose = 1; sa.used = 1; break;
        case OPT_OVERLAP:
            if (number_arg(optarg, &sa.overlap) < 0 || sa.overlap < 0 || sa.overlap >= 1) bad = "--overlap needs a number in [0, 1)";
            sa.used = 1;
            break;
        case OPT_STEP:
            if (number_arg(optarg, &sa.step) < 0 || !(sa.step > 0)) bad = "--step needs a positive number of seconds";
            sa.used = 1;
            break;
        case OPT_THRESHOLD: /* --scan, or a multi-label model's evaluation */
            if (number_arg(optarg, &sa.threshold) < 0 || sa.threshold < 0 || sa.threshold > 1) bad = "--threshold needs a number in [0, 1]";
            thr_set = 1;
            break;
        case OPT_THR_OUT: thr_out = optarg; break;
        case OPT_DEVICE: device = optarg; break;
        case OPT_AMP:
            if (nn_amp_parse(optarg, &eval_amp) < 0) {
                static char msg[160];
                snprintf(msg, sizeof msg, "bad value for --amp (off, bf16 or fp16): %s", optarg);
                bad = msg;
            }
            break;
        case OPT_TF32: eval_tf32 = 1; break;
        case OPT_THRESHOLDS: sa.thresholds = optarg; sa.used = 1; break;
        case OPT_CLASSES: sa.classes = optarg; sa.used = 1; break;
        case OPT_SCORES: sa.scores = optarg; sa.used = 1; break;
        case OPT_EVENTS: sa.events = optarg; sa.used = 1; break;
        case OPT_RESULTS: sa.results = optarg; sa.used = 1; break;
        case OPT_CSV: sa.csv = 1; sa.used = 1; break;
        case OPT_DUMP: sa.dump = optarg; sa.used = 1; break;
        case OPT_ANNOTATIONS: sa.annotations = optarg; sa.used = 1; break;
        case OPT_LABEL_COL: sa.label_col = optarg; sa.used = 1; break;
        case OPT_MATCH:
            if (number_arg(optarg, &sa.match_fraction) < 0 || !(sa.match_fraction > 0) || sa.match_fraction > 1)
                bad = "--match-fraction needs a number in (0, 1]";
            sa.used = 1;
            break;
        case 'L': labels = optarg; break;
        case 'k': topk = atoi(optarg); break;
        case 'b': batch = atoi(optarg) < 1 ? 0 : atoi(optarg); break;
        case 't': threads = atoi(optarg); threads_set = 1; break;
        case 'j':
            if ((sa.jobs = atoi(optarg)) < 1 || sa.jobs > 256) bad = "--jobs needs a number from 1 to 256";
            sa.used = 1;
            break;
        case 'q': quiet = 1; break;
        case 'h': fputs(USAGE, stdout); return EXIT_OK;
        default: fputs(USAGE, stderr); return EXIT_USAGE;
        }
    }
    int first = optind;  /* the first DATA or RECORDING operand */
    if (!nm && optind < argc) {
        mpaths = malloc(sizeof *mpaths);
        if (!mpaths) {
            diag_error("out of memory");
            return EXIT_DATA;
        }
        mpaths[nm++] = argv[first++];
    }
    int status = EXIT_USAGE;
    if (bad) {
        diag_error("%s (see cnneval --help)", bad);
        goto usage;
    }
    if (sa.used && !sa.on) {
        diag_error("--overlap, --step, --thresholds, --classes, --scores, --events, --results, --csv, --annotations, "
                   "--match-fraction, --label-column, --dump-inputs, --jobs and -v go with --scan");
        goto usage;
    }
    if (sa.annotations ? !sa.outdir_set : (sa.label_col || sa.match_fraction != 0.5)) {
        diag_error(sa.annotations ? "--annotations writes DIR/detection.*: it needs -o DIR"
                                  : "--match-fraction and --label-column go with --annotations");
        goto usage;
    }
    if (sa.on && thr_out) {
        diag_error("--thresholds-out goes with an evaluation on labelled data, not --scan");
        goto usage;
    }
    if (sa.thresholds && thr_set) {
        diag_error("--threshold and --thresholds: one or the other");
        goto usage;
    }
    if (batch == -1 && !sa.on) batch = 64; /* a scan's default depends on the models: scan_default_batch */
    if (!nm || argc - first < 1 || topk < 1 || (batch < 1 && !(sa.on && batch == -1)) || threads < 1) {
        diag_error("expected MODEL.safetensors and %s (or -m MODEL ... and them), and positive --top-k/--batch/--threads (see cnneval --help)",
                   sa.on ? "RECORDINGs" : "DATA");
        goto usage;
    }
    if (sa.on && (sa.scores && !strcmp(sa.scores, "-")) + (sa.results && !strcmp(sa.results, "-")) +
                         (sa.dump && !strcmp(sa.dump, "-")) > 1) {
        diag_error("only one of --scores, --results and --dump-inputs can go to stdout ('-')");
        goto usage;
    }
    if (sa.on && sa.classes && !*sa.classes) {
        diag_error("--classes needs at least one class name");
        goto usage;
    }
    NnDeviceChoice dev;
    const char *auto_why;
    switch (nn_device_select(device, &dev, &auto_why)) {
    case -2: diag_error("bad value for --device (cpu, cuda, cuda:N or auto): %s (see cnneval --help)", device); goto usage;
    case -1: diag_error("%s", err_msg()); status = EXIT_DATA; goto usage;
    }
    if (sa.verbose) {
        char desc[256];
        nn_device_describe(&dev, desc, sizeof desc);
        fprintf(stderr, "cnneval: device: %s%s%s%s\n", desc, auto_why ? " (auto: " : "", auto_why ? auto_why : "",
                auto_why ? ")" : "");
    }
    cuda_index = dev.device == NN_CUDA ? dev.index : -1;
    gpu_opt = nn_gpu_precision_option(eval_amp, eval_tf32);
    if (gpu_opt && cuda_index < 0) { /* mixed precision and TF32 are the GPU's: bad usage on the CPU */
        if (auto_why) diag_error("%s needs a GPU, and --device auto chose the CPU: %s (see cnneval --help)", gpu_opt, auto_why);
        else diag_error("%s needs a GPU, not --device %s (see cnneval --help)", gpu_opt, device);
        goto usage;
    }
    device_spec = device;
    verbose_device = sa.verbose;
    const char *data_path = argv[first];
    int ndata = argc - first;
    int raw = ndata > 1 || !(ends_with(data_path, ".npy") || ends_with(data_path, ".tsv"));
    status = EXIT_DATA;
    Dataset d;
    memset(&d, 0, sizeof d);
    Model *ms = calloc((size_t)nm, sizeof(Model)); /* the members, loaded (zeroed: model_free is a no-op) */
    Member *mem = calloc((size_t)nm, sizeof(Member));
    float *logits = NULL, *probs = NULL, *scores = NULL;
    int64_t *pred = NULL;
    Metrics met;
    memset(&met, 0, sizeof met);
    if (!ms || !mem) {
        err_set("out of memory");
        goto fail;
    }
    for (int e = 0; e < nm; e++) {
        if (member_open(&mem[e], mpaths[e]) < 0) goto fail;
        if (e && member_agrees(&mem[0], &mem[e], sa.on || raw) < 0) goto fail;
    }
    const StFile *f = &mem[0].f;
    const char *model_path = mem[0].path;
    int ic = mem[0].ic, ih = mem[0].ih, iw = mem[0].iw, k = mem[0].k;
    const StrList *names = &mem[0].names;
    int ml = mem[0].ml; /* the members agree on it */
    if (!ml && !sa.on && (thr_set || thr_out)) {
        diag_error("%s: --threshold%s goes with --scan or a multi-label model (cnntrain --multilabel)", model_path,
                   thr_out ? "s-out" : "");
        status = EXIT_USAGE;
        goto done;
    }
    if (thr_out && raw) {
        diag_error("--thresholds-out needs labelled data (a stack with (N, K) targets), not recordings");
        status = EXIT_USAGE;
        goto done;
    }
    if (sa.on) {
        if (sa.jobs > 1 && sa.dump) {
            diag_error("--dump-inputs needs one job at a time (--jobs 1)");
            status = EXIT_USAGE;
            goto done;
        }
        if (sa.jobs > ndata) sa.jobs = ndata; /* no more jobs than recordings */
        if (!threads_set && sa.jobs > 1) threads = 1;
        Model *models = calloc((size_t)(sa.jobs * nm), sizeof(Model)); /* job j's: [j*nm, j*nm + nm) */
        if (!models) {
            err_set("out of memory");
            goto fail;
        }
        int loaded = 0, r = -1;
        for (; loaded < sa.jobs * nm; loaded++) {
            const Member *mb = &mem[loaded % nm];
            if (load_model(&models[loaded], &mb->f, mb->arch, ic, ih, iw, k) < 0) break;
        }
        if (loaded == sa.jobs * nm && check_cuda_ready(models, nm) == 0)
            r = scan_recordings(models, nm, f, argv + first, ndata, names, &sa, outdir, batch, threads, quiet, ml);
        for (int j = 0; j < sa.jobs * nm; j++) model_free(&models[j]); /* zeroed or made: both freed */
        free(models);
        if (r == -2) {
            diag_error("%s", err_msg());
            status = EXIT_USAGE;
            goto done;
        }
        if (r < 0) goto fail;
        status = EXIT_OK;
        goto done;
    }
    if (raw) {
        for (int e = 0; e < nm; e++)
            if (load_model(&ms[e], &mem[e].f, mem[e].arch, ic, ih, iw, k) < 0) goto fail;
        if (check_cuda_ready(ms, nm) < 0) goto fail;
        if (classify_recordings(ms, nm, f, argv + first, ndata, names, threads, ml, sa.threshold) < 0) goto fail;
        status = EXIT_OK;
        goto done;
    }
    if (dataset_open(&d, data_path, labels, 1) < 0) goto fail;
    if (d.c != ic || d.f != ih || d.t != iw) {
        err_set("%s: samples of %dx%dx%d, but %s was trained on %dx%dx%d", data_path, d.c, d.f, d.t, model_path, ic, ih, iw);
        goto fail;
    }
    const char *lname = d.labels_name ? d.labels_name : d.name;
    if (!ml && d.targets) {
        err_set("%s: (N, %d) multi-label targets, but %s is a single-label model", lname, d.ntargets, model_path);
        goto fail;
    }
    if (ml && d.targets && d.ntargets != k) {
        err_set("%s: targets of %d classes, but %s has %d", lname, d.ntargets, model_path, k);
        goto fail;
    }
    if (ml && !d.targets)
        for (int64_t i = 0; i < d.n; i++)
            if (d.labels[i] >= 0) {
                err_set("%s: class indices (N), but %s is a multi-label model: (N, %d) targets needed", lname, model_path, k);
                goto fail;
            }
    if (ml && thr_out && !d.targets) {
        err_set("%s: unlabelled: --thresholds-out needs (N, %d) targets", lname, k);
        goto fail;
    }
    if (ml) {
        for (int e = 0; e < nm; e++)
            if (load_model(&ms[e], &mem[e].f, mem[e].arch, ic, ih, iw, k) < 0) goto fail;
        if (check_cuda_ready(ms, nm) < 0) goto fail;
        char mwho[64] = "";
        if (nm > 1) snprintf(mwho, sizeof mwho, "ensemble of %d models: ", nm);
        if (eval_multilabel(ms, nm, &d, names, k, outdir, sa.threshold, thr_out, batch, threads, quiet, mwho) < 0) goto fail;
        status = EXIT_OK;
        goto done;
    }
    int labelled = 1;
    for (int64_t i = 0; i < d.n; i++) {
        if (d.labels[i] >= k) {
            err_set("%s: sample %lld has label %lld, but the model knows %d classes", data_path, (long long)i,
                    (long long)d.labels[i], k);
            goto fail;
        }
        labelled &= d.labels[i] >= 0;
    }
    for (int e = 0; e < nm; e++)
        if (load_model(&ms[e], &mem[e].f, mem[e].arch, ic, ih, iw, k) < 0) goto fail;
    if (check_cuda_ready(ms, nm) < 0) goto fail;
    size_t nk = (size_t)d.n * (size_t)k;
    logits = malloc(sizeof(float) * nk * (size_t)nm); /* member e's rows at logits + e * nk */
    probs = malloc(sizeof(float) * nk);
    scores = malloc(sizeof(float) * nk);
    pred = malloc(sizeof(int64_t) * (size_t)(d.n ? d.n : 1));
    if (!logits || !probs || !scores || !pred) {
        err_set("out of memory");
        goto fail;
    }
    if (forward_all(ms, nm, &d, k, batch, threads, logits) < 0) goto fail;
    ensemble_combine(logits, nm, d.n, k, probs, scores, pred);
    if (mkdir_p(outdir, NULL, NULL) < 0) goto fail;
    char path[4096];
    OutFile pf, mf, jf;
    snprintf(path, sizeof path, "%s/predictions.tsv", outdir);
    if (outfile_open(&pf, path) < 0) goto fail;
    snprintf(path, sizeof path, "%s/misclassified.tsv", outdir);
    if (outfile_open(&mf, path) < 0) { outfile_abort(&pf); goto fail; }
    for (int which = 0; which < 2; which++) {
        FILE *o = which ? mf.f : pf.f;
        fputs("key\ttrue\tpredicted\tconfidence", o);
        for (int j = 0; j < k; j++) fprintf(o, "\tp_%s", names->v[j]);
        fputc('\n', o);
    }
    int64_t wrong = 0;
    for (int64_t i = 0; i < d.n; i++) {
        int64_t y = d.labels[i];
        for (int which = 0; which < 2; which++) {
            if (which && (y < 0 || y == pred[i])) continue;
            FILE *o = which ? mf.f : pf.f;
            fprintf(o, "%s\t%s\t%s\t%.6f", d.keys[i], y >= 0 ? names->v[y] : "", names->v[pred[i]], probs[i * k + pred[i]]);
            for (int j = 0; j < k; j++) fprintf(o, "\t%.6f", probs[i * k + j]);
            fputc('\n', o);
        }
        wrong += y >= 0 && y != pred[i];
    }
    if (outfile_commit(&pf) < 0) { outfile_abort(&mf); goto fail; }
    if (outfile_commit(&mf) < 0) goto fail;
    char who[64] = "";
    if (nm > 1) snprintf(who, sizeof who, "ensemble of %d models: ", nm);
    if (labelled) {
        if (metrics_compute(&met, scores, d.labels, d.n, k, topk) < 0) goto fail;
        snprintf(path, sizeof path, "%s/metrics.json", outdir);
        if (outfile_open(&jf, path) < 0) goto fail;
        JsonWriter w;
        json_init(&w, jf.f, 2);
        metrics_write_json(&w, &met, (const char *const *)names->v);
        if (json_error(&w)) {
            err_set("%s: could not write the metrics", path);
            outfile_abort(&jf);
            goto fail;
        }
        if (outfile_commit(&jf) < 0) goto fail;
        if (!quiet)
            fprintf(stderr, "cnneval: %s%lld samples, accuracy %.4f, loss %.4f, top-%d %.4f, macro F1 %.4f, %lld misclassified\n",
                    who, (long long)d.n, met.accuracy, met.loss, met.topk, met.topk_accuracy, met.macro_f1, (long long)wrong);
    } else if (!quiet) {
        fprintf(stderr, "cnneval: %s%lld unlabelled samples classified\n", who, (long long)d.n);
    }
    status = EXIT_OK;
    goto done;
fail:
    diag_error("%s", err_msg());
done:
    metrics_free(&met);
    free(logits);
    free(probs);
    free(scores);
    free(pred);
    for (int e = 0; ms && e < nm; e++) model_free(&ms[e]);
    for (int e = 0; mem && e < nm; e++) member_close(&mem[e]);
    free(ms);
    free(mem);
    dataset_close(&d);
usage:
    free(mpaths);
    return status;
}
