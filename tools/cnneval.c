/* cnneval - evaluate a checkpoint on a split: predictions, misclassified samples, metrics. See cnneval(1). */
#define _POSIX_C_SOURCE 200809L
#include "dataset.h"
#include "error.h"
#include "frontend_args.h"
#include "json.h"
#include "metrics.h"
#include "nn/model.h"
#include "outfile.h"
#include "safetensors.h"
#include "strlist.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char USAGE[] =
    "usage: cnneval [options] MODEL.safetensors DATA [-o DIR]\n"
    "       cnneval [options] MODEL.safetensors RECORDING...\n"
    "DATA is a stacked split (N, 1, F, T) .npy with labels in DATA-labels.npy, or a manifest (.tsv) of\n"
    "equal-shape spectrograms. Writes DIR/predictions.tsv (key, true, predicted, confidence, one\n"
    "probability column per class), DIR/misclassified.tsv and DIR/metrics.json (accuracy, loss, top-k,\n"
    "per-class precision/recall/F1/support, macro and weighted averages, confusion matrix, as\n"
    "scikit-learn computes them). Unlabelled data gives predictions only.\n"
    "RECORDINGs (any audio file, not .npy or .tsv) are classified directly: the front end recorded in the\n"
    "checkpoint (cnntrain --frontend 'WAV2MEL-OPTIONS | SPECNORM-OPTIONS') turns each into the model's\n"
    "input, and one line per recording (or per window, with --segment in the front end) goes to stdout:\n"
    "path, start, end (seconds), class, confidence.\n"
    "\n"
    "  -o, --outdir DIR      where to write (default: the current directory)\n"
    "      --labels FILE     labels of a stack (default: DATA's name with -labels before .npy; '-' none)\n"
    "      --top-k K         also report top-K accuracy (default 3)\n"
    "      --batch N         samples per forward pass (default 64)\n"
    "      --threads N       (default 2)\n"
    "  -q, --quiet           no summary line     -h, --help\n"
    "Exit status: 0 done, 1 data or file error, 2 bad usage.\n";

static const struct option LONGOPTS[] = {{"outdir", 1, 0, 'o'}, {"labels", 1, 0, 'L'}, {"top-k", 1, 0, 'k'},
                                         {"batch", 1, 0, 'b'}, {"threads", 1, 0, 't'}, {"quiet", 0, 0, 'q'},
                                         {"help", 0, 0, 'h'}, {0, 0, 0, 0}};

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

/* The checkpoint's network with its weights. */
static int load_model(Model *m, const StFile *f, const char *arch, int c, int h, int w, int k) {
    if (model_create(m, arch, c, h, w, k) < 0) {
        err_prefix(f->name); /* "unknown architecture ..." does not name the file */
        return -1;
    }
    return st_load_params(f, &m->params, NULL, NULL);
}

/* Raw recordings through the recorded front end: one line per recording or window on stdout. */
static int classify_recordings(Model *m, const StFile *f, char **paths, int npaths, const StrList *names, int threads) {
    FrontEnd fe;
    frontend_init(&fe);
    SpecnormConfig norm;
    const char *text = st_meta_get(f, "frontend");
    int rc = -1;
    if (frontend_parse_text(text ? text : "", &fe, &norm) < 0) {
        err_prefix(f->name);
        frontend_free(&fe);
        return -1;
    }
    NnCtx ctx;
    nn_ctx_init(&ctx, threads);
    int k = m->n_classes;
    float *logits = malloc(sizeof(float) * (size_t)k), *probs = malloc(sizeof(float) * (size_t)k);
    printf("path\tstart\tend\tclass\tconfidence\n");
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
            int fw = m->forward(m, &ctx, tensor_f32(&y), 1, 0, 0, logits);
            tensor_free(&y);
            if (fw < 0) {
                clips_free(&clips);
                goto done;
            }
            int64_t pred;
            softmax_rows(logits, 1, k, probs, &pred);
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
    return rc;
}

int main(int argc, char **argv) {
    diag_set_program(argv[0]);
    outfile_install_cleanup();
    const char *outdir = ".", *labels = NULL;
    int topk = 3, batch = 64, threads = 2, quiet = 0, c;
    while ((c = getopt_long(argc, argv, "o:qh", LONGOPTS, NULL)) != -1) {
        switch (c) {
        case 'o': outdir = optarg; break;
        case 'L': labels = optarg; break;
        case 'k': topk = atoi(optarg); break;
        case 'b': batch = atoi(optarg); break;
        case 't': threads = atoi(optarg); break;
        case 'q': quiet = 1; break;
        case 'h': fputs(USAGE, stdout); return EXIT_OK;
        default: fputs(USAGE, stderr); return EXIT_USAGE;
        }
    }
    if (argc - optind < 2 || topk < 1 || batch < 1 || threads < 1) {
        diag_error("expected MODEL.safetensors and DATA, and positive --top-k/--batch/--threads (see cnneval --help)");
        return EXIT_USAGE;
    }
    const char *model_path = argv[optind], *data_path = argv[optind + 1];
    int raw = argc - optind > 2 || !(ends_with(data_path, ".npy") || ends_with(data_path, ".tsv"));
    int status = EXIT_DATA;
    StFile f;
    memset(&f, 0, sizeof f);
    f.fd = -1;
    Dataset d;
    memset(&d, 0, sizeof d);
    Model m;
    memset(&m, 0, sizeof m);
    StrList names = {0};
    float *logits = NULL, *probs = NULL;
    Metrics met;
    memset(&met, 0, sizeof met);
    int have_file = 0;
    if (st_open(model_path, &f) < 0) goto fail;
    have_file = 1;
    const char *arch = st_meta_get(&f, "arch"), *shape = st_meta_get(&f, "input_shape"),
               *ncs = st_meta_get(&f, "n_classes"), *cls = st_meta_get(&f, "classes");
    int ic, ih, iw, k = ncs ? atoi(ncs) : 0;
    if (!arch || !shape || sscanf(shape, "%dx%dx%d", &ic, &ih, &iw) != 3 || k < 2) {
        err_set("%s: not an audiocnn checkpoint (metadata arch, input_shape and n_classes needed)", model_path);
        goto fail;
    }
    if (!cls || parse_classes(cls, k, &names) < 0) {
        strlist_free(&names);
        for (int i = 0; i < k; i++) {
            char s[16];
            snprintf(s, sizeof s, "%d", i);
            strlist_push(&names, strdup(s));
        }
    }
    if (raw) {
        if (load_model(&m, &f, arch, ic, ih, iw, k) < 0) goto fail;
        if (classify_recordings(&m, &f, argv + optind + 1, argc - optind - 1, &names, threads) < 0) goto fail;
        status = EXIT_OK;
        goto done;
    }
    if (dataset_open(&d, data_path, labels, 1) < 0) goto fail;
    if (d.c != ic || d.f != ih || d.t != iw) {
        err_set("%s: samples of %dx%dx%d, but %s was trained on %dx%dx%d", data_path, d.c, d.f, d.t, model_path, ic, ih, iw);
        goto fail;
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
    if (load_model(&m, &f, arch, ic, ih, iw, k) < 0) goto fail;
    NnCtx ctx;
    nn_ctx_init(&ctx, threads);
    logits = malloc(sizeof(float) * (size_t)d.n * k);
    probs = malloc(sizeof(float) * (size_t)d.n * k);
    if (!logits || !probs) {
        err_set("out of memory");
        goto fail;
    }
    size_t per = (size_t)d.c * d.f * d.t;
    for (int64_t s = 0; s < d.n; s += batch) {
        int n = (int)(d.n - s < batch ? d.n - s : batch);
        if (m.forward(&m, &ctx, d.x + (size_t)s * per, n, 0, 0, logits + s * k) < 0) goto fail;
    }
    nn_ctx_free(&ctx);
    int64_t *pred = malloc(sizeof(int64_t) * (size_t)d.n);
    softmax_rows(logits, d.n, k, probs, pred);
    if (mkdir_p(outdir, NULL, NULL) < 0) { free(pred); goto fail; }
    char path[4096];
    OutFile pf, mf, jf;
    snprintf(path, sizeof path, "%s/predictions.tsv", outdir);
    if (outfile_open(&pf, path) < 0) { free(pred); goto fail; }
    snprintf(path, sizeof path, "%s/misclassified.tsv", outdir);
    if (outfile_open(&mf, path) < 0) { outfile_abort(&pf); free(pred); goto fail; }
    for (int which = 0; which < 2; which++) {
        FILE *o = which ? mf.f : pf.f;
        fputs("key\ttrue\tpredicted\tconfidence", o);
        for (int j = 0; j < k; j++) fprintf(o, "\tp_%s", names.v[j]);
        fputc('\n', o);
    }
    int64_t wrong = 0;
    for (int64_t i = 0; i < d.n; i++) {
        int64_t y = d.labels[i];
        for (int which = 0; which < 2; which++) {
            if (which && (y < 0 || y == pred[i])) continue;
            FILE *o = which ? mf.f : pf.f;
            fprintf(o, "%s\t%s\t%s\t%.6f", d.keys[i], y >= 0 ? names.v[y] : "", names.v[pred[i]], probs[i * k + pred[i]]);
            for (int j = 0; j < k; j++) fprintf(o, "\t%.6f", probs[i * k + j]);
            fputc('\n', o);
        }
        wrong += y >= 0 && y != pred[i];
    }
    free(pred);
    if (outfile_commit(&pf) < 0) { outfile_abort(&mf); goto fail; }
    if (outfile_commit(&mf) < 0) goto fail;
    if (labelled) {
        if (metrics_compute(&met, logits, d.labels, d.n, k, topk) < 0) goto fail;
        snprintf(path, sizeof path, "%s/metrics.json", outdir);
        if (outfile_open(&jf, path) < 0) goto fail;
        JsonWriter w;
        json_init(&w, jf.f, 2);
        metrics_write_json(&w, &met, (const char *const *)names.v);
        if (json_error(&w)) {
            err_set("%s: could not write the metrics", path);
            outfile_abort(&jf);
            goto fail;
        }
        if (outfile_commit(&jf) < 0) goto fail;
        if (!quiet)
            fprintf(stderr, "cnneval: %lld samples, accuracy %.4f, loss %.4f, top-%d %.4f, macro F1 %.4f, %lld misclassified\n",
                    (long long)d.n, met.accuracy, met.loss, met.topk, met.topk_accuracy, met.macro_f1, (long long)wrong);
    } else if (!quiet) {
        fprintf(stderr, "cnneval: %lld unlabelled samples classified\n", (long long)d.n);
    }
    status = EXIT_OK;
    goto done;
fail:
    diag_error("%s", err_msg());
done:
    metrics_free(&met);
    free(logits);
    free(probs);
    strlist_free(&names);
    model_free(&m);
    dataset_close(&d);
    if (have_file) st_close(&f);
    return status;
}
