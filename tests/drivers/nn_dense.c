/* Driver for tests/py/test_nn_dense.py (PyTorch parity of conv2d, linear and pooling) and
 * bench/conv/bench.py (timing).
 *
 * usage: nn_dense OP DIR [KEY=VALUE ...]
 *   OP conv2d     reads x w [b] dy [dw0 db0]  writes y dx dw [db]
 *      linear     reads x w [b] dy [dw0 db0]  writes y dx dw [db]
 *      maxpool2d  reads x dy                  writes y dx idx (int64 plane indices)
 *      avgpool2d  reads x dy                  writes y dx
 *      gap        reads x dy                  writes y dx      (global average pool, y (N,C))
 *      time-conv2d  reads x w [b] dy; runs forward and backward (dx, dw, db) reps times and prints
 *                   "forward_ms F backward_ms B" (the minimum of each)
 *   Files are DIR/NAME.npy. dw0/db0, when present, are the initial gradient buffers (backward adds
 *   into them). Shapes come from the arrays (conv groups = C / w.shape[1]).
 *   KEY: stride=H,W pad=H,W dil=H,W kernel=H,W (pools) exclude_pad=0|1 threads=T (default 1)
 *        algo=auto|gemm|direct|winograd nodx=1 (backward without dx) reps=R (timing, default 10)
 * Exit 0, 1 on a data error, 2 on a usage error. */
#include "core/error.h"
#include "nn/conv2d.h"
#include "nn/linear.h"
#include "nn/nn.h"
#include "nn/pool.h"
#include "formats/npy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *dir;

static void die(const char *what) {
    fprintf(stderr, "nn_dense: error: %s%s%s\n", what, what[0] ? ": " : "", err_msg());
    exit(1);
}

static void usage(const char *msg) {
    fprintf(stderr, "nn_dense: usage error: %s\nusage: nn_dense OP DIR [KEY=VALUE ...]\n", msg);
    exit(2);
}

static char *path(const char *name) {
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/%s.npy", dir, name);
    return buf;
}

static int exists(const char *name) { return access(path(name), F_OK) == 0; }

static Tensor load(const char *name) {
    Tensor t;
    if (npy_load(path(name), DT_F32, &t) < 0) die("");
    return t;
}

static void save(const char *name, const float *data, int ndim, const int64_t *shape) {
    Tensor t = {.dtype = DT_F32, .ndim = ndim, .data = (void *)data};
    memcpy(t.shape, shape, sizeof(int64_t) * (size_t)ndim);
    if (npy_save(path(name), &t) < 0) die("");
}

static float *zeros(size_t n) {
    float *p = calloc(n ? n : 1, sizeof(float));
    if (!p) {
        fprintf(stderr, "nn_dense: error: out of memory\n");
        exit(1);
    }
    return p;
}

/* Initial gradient buffer: NAME.npy if present (must have n elements), else zeros. */
static float *grad_buffer(const char *name, size_t n) {
    float *g = zeros(n);
    if (exists(name)) {
        Tensor t = load(name);
        if ((size_t)tensor_numel(&t) != n) {
            fprintf(stderr, "nn_dense: error: %s has %lld elements, want %zu\n", path(name),
                    (long long)tensor_numel(&t), n);
            exit(1);
        }
        memcpy(g, t.data, n * sizeof(float));
        tensor_free(&t);
    }
    return g;
}

/* Options. */
static int opt_pair[4][2] = {{1, 1}, {0, 0}, {1, 1}, {0, 0}}; /* stride pad dil kernel */
static int stride_given, threads = 1, exclude_pad, nodx, reps = 10;
static Conv2dAlgo algo = CONV2D_AUTO;

static void parse_opts(int argc, char **argv) {
    for (int i = 3; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (!eq) usage(argv[i]);
        size_t kl = (size_t)(eq - argv[i]);
        const char *v = eq + 1;
        static const char *pairs[4] = {"stride", "pad", "dil", "kernel"};
        int done = 0;
        for (int p = 0; p < 4; p++)
            if (kl == strlen(pairs[p]) && !strncmp(argv[i], pairs[p], kl)) {
                if (sscanf(v, "%d,%d", &opt_pair[p][0], &opt_pair[p][1]) != 2) usage(argv[i]);
                if (p == 0) stride_given = 1;
                done = 1;
            }
        if (done) continue;
        if (!strncmp(argv[i], "threads=", 8)) threads = atoi(v);
        else if (!strncmp(argv[i], "exclude_pad=", 12)) exclude_pad = atoi(v);
        else if (!strncmp(argv[i], "nodx=", 5)) nodx = atoi(v);
        else if (!strncmp(argv[i], "reps=", 5)) reps = atoi(v) < 1 ? 1 : atoi(v);
        else if (!strcmp(argv[i], "algo=auto")) algo = CONV2D_AUTO;
        else if (!strcmp(argv[i], "algo=gemm")) algo = CONV2D_GEMM;
        else if (!strcmp(argv[i], "algo=direct")) algo = CONV2D_DIRECT;
        else if (!strcmp(argv[i], "algo=winograd")) algo = CONV2D_WINOGRAD;
        else usage(argv[i]);
    }
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void conv(NnCtx *ctx, int timing) {
    Tensor x = load("x"), w = load("w"), dy = load("dy"), b = {0};
    int has_b = exists("b");
    if (has_b) b = load("b");
    if (x.ndim != 4 || w.ndim != 4 || w.shape[1] < 1 || x.shape[1] % w.shape[1]) {
        fprintf(stderr, "nn_dense: error: conv2d wants x (N,C,H,W) and w (K,C/g,KH,KW)\n");
        exit(1);
    }
    Conv2dShape s = {.N = (int)x.shape[0], .C = (int)x.shape[1], .H = (int)x.shape[2], .W = (int)x.shape[3],
                     .K = (int)w.shape[0], .KH = (int)w.shape[2], .KW = (int)w.shape[3],
                     .stride_h = opt_pair[0][0], .stride_w = opt_pair[0][1], .pad_h = opt_pair[1][0],
                     .pad_w = opt_pair[1][1], .dil_h = opt_pair[2][0], .dil_w = opt_pair[2][1],
                     .groups = (int)(x.shape[1] / w.shape[1]), .algo = algo};
    if (conv2d_shape_init(&s) < 0) die("");
    int64_t yshape[4] = {s.N, s.K, s.OH, s.OW};
    if (dy.ndim != 4 || memcmp(dy.shape, yshape, sizeof yshape)) {
        fprintf(stderr, "nn_dense: error: dy shape does not match the output (%d,%d,%d,%d)\n", s.N, s.K, s.OH, s.OW);
        exit(1);
    }
    float *y = zeros(conv2d_y_numel(&s)), *dx = zeros(conv2d_x_numel(&s));
    float *dw = grad_buffer("dw0", conv2d_w_numel(&s)), *db = grad_buffer("db0", (size_t)s.K);
    const float *bp = has_b ? tensor_f32(&b) : NULL;
    size_t scratch = conv2d_scratch_floats(ctx, &s); /* reserved once: the timed calls never allocate */
    if (scratch && !nn_scratch(ctx, scratch)) die("");
    if (timing) {
        double *tf = calloc((size_t)reps, sizeof(double)), *tb = calloc((size_t)reps, sizeof(double));
        for (int r = -1; r < reps; r++) { /* one warm-up */
            double t0 = now_ms();
            if (conv2d_forward(ctx, &s, tensor_f32(&x), tensor_f32(&w), bp, y) < 0) die("");
            double t1 = now_ms();
            if (conv2d_backward(ctx, &s, tensor_f32(&x), tensor_f32(&w), tensor_f32(&dy), nodx ? NULL : dx, dw,
                                has_b ? db : NULL) < 0)
                die("");
            double t2 = now_ms();
            if (r >= 0) {
                tf[r] = t1 - t0;
                tb[r] = t2 - t1;
            }
        }
        qsort(tf, (size_t)reps, sizeof(double), cmp_double);
        qsort(tb, (size_t)reps, sizeof(double), cmp_double);
        printf("forward_ms %.3f backward_ms %.3f\n", tf[0], tb[0]);
        free(tf);
        free(tb);
    } else {
        if (conv2d_forward(ctx, &s, tensor_f32(&x), tensor_f32(&w), bp, y) < 0 ||
            conv2d_backward(ctx, &s, tensor_f32(&x), tensor_f32(&w), tensor_f32(&dy), nodx ? NULL : dx, dw,
                            has_b ? db : NULL) < 0)
            die("");
        save("y", y, 4, yshape);
        if (!nodx) save("dx", dx, 4, x.shape);
        save("dw", dw, 4, w.shape);
        if (has_b) save("db", db, 1, b.shape);
    }
    free(y);
    free(dx);
    free(dw);
    free(db);
    tensor_free(&x);
    tensor_free(&w);
    tensor_free(&dy);
    if (has_b) tensor_free(&b);
}

static void linear(NnCtx *ctx) {
    Tensor x = load("x"), w = load("w"), dy = load("dy"), b = {0};
    int has_b = exists("b");
    if (has_b) b = load("b");
    if (x.ndim != 2 || w.ndim != 2 || dy.ndim != 2 || w.shape[1] != x.shape[1] || dy.shape[0] != x.shape[0] ||
        dy.shape[1] != w.shape[0]) {
        fprintf(stderr, "nn_dense: error: linear wants x (N,in), w (out,in), dy (N,out)\n");
        exit(1);
    }
    LinearShape s = {(int)x.shape[0], (int)x.shape[1], (int)w.shape[0]};
    if (linear_shape_init(&s) < 0) die("");
    float *y = zeros((size_t)s.N * s.out), *dx = zeros((size_t)s.N * s.in);
    float *dw = grad_buffer("dw0", (size_t)s.out * s.in), *db = grad_buffer("db0", (size_t)s.out);
    linear_forward(ctx, &s, tensor_f32(&x), tensor_f32(&w), has_b ? tensor_f32(&b) : NULL, y);
    linear_backward(ctx, &s, tensor_f32(&x), tensor_f32(&w), tensor_f32(&dy), nodx ? NULL : dx, dw,
                    has_b ? db : NULL);
    save("y", y, 2, dy.shape);
    if (!nodx) save("dx", dx, 2, x.shape);
    save("dw", dw, 2, w.shape);
    if (has_b) save("db", db, 1, b.shape);
    free(y);
    free(dx);
    free(dw);
    free(db);
    tensor_free(&x);
    tensor_free(&w);
    tensor_free(&dy);
    if (has_b) tensor_free(&b);
}

static void pool(NnCtx *ctx, const char *op) {
    Tensor x = load("x"), dy = load("dy");
    if (x.ndim != 4) {
        fprintf(stderr, "nn_dense: error: pooling wants x (N,C,H,W)\n");
        exit(1);
    }
    float *dx = zeros((size_t)tensor_numel(&x));
    if (!strcmp(op, "gap")) {
        GlobalPoolShape s = {(int)x.shape[0], (int)x.shape[1], (int)x.shape[2], (int)x.shape[3]};
        if (global_avgpool_shape_init(&s) < 0) die("");
        if (tensor_numel(&dy) != (int64_t)s.N * s.C) {
            fprintf(stderr, "nn_dense: error: dy must have N*C elements\n");
            exit(1);
        }
        float *y = zeros((size_t)s.N * s.C);
        global_avgpool_forward(ctx, &s, tensor_f32(&x), y);
        global_avgpool_backward(ctx, &s, tensor_f32(&dy), dx);
        int64_t ys[2] = {s.N, s.C};
        save("y", y, 2, ys);
        free(y);
    } else {
        Pool2dShape s = {(int)x.shape[0], (int)x.shape[1], (int)x.shape[2], (int)x.shape[3], opt_pair[3][0],
                         opt_pair[3][1], stride_given ? opt_pair[0][0] : 0, stride_given ? opt_pair[0][1] : 0,
                         opt_pair[1][0], opt_pair[1][1], exclude_pad, 0, 0};
        if (pool2d_shape_init(&s) < 0) die("");
        int64_t ys[4] = {s.N, s.C, s.OH, s.OW};
        size_t ny = (size_t)s.N * s.C * s.OH * s.OW;
        if (dy.ndim != 4 || memcmp(dy.shape, ys, sizeof ys)) {
            fprintf(stderr, "nn_dense: error: dy shape does not match the output\n");
            exit(1);
        }
        float *y = zeros(ny);
        if (!strcmp(op, "maxpool2d")) {
            int32_t *idx = calloc(ny, sizeof(int32_t));
            Tensor ti;
            if (!idx || tensor_alloc(&ti, DT_I64, 4, ys) < 0) die("");
            maxpool2d_forward(ctx, &s, tensor_f32(&x), y, idx);
            maxpool2d_backward(ctx, &s, tensor_f32(&dy), idx, dx);
            for (size_t i = 0; i < ny; i++) tensor_i64(&ti)[i] = idx[i];
            if (npy_save(path("idx"), &ti) < 0) die("");
            tensor_free(&ti);
            free(idx);
        } else {
            avgpool2d_forward(ctx, &s, tensor_f32(&x), y);
            avgpool2d_backward(ctx, &s, tensor_f32(&dy), dx);
        }
        save("y", y, 4, ys);
        free(y);
    }
    save("dx", dx, 4, x.shape);
    free(dx);
    tensor_free(&x);
    tensor_free(&dy);
}

int main(int argc, char **argv) {
    if (argc < 3) usage("missing OP or DIR");
    dir = argv[2];
    parse_opts(argc, argv);
    NnCtx ctx;
    if (nn_ctx_init(&ctx, threads) < 0) die("");
    const char *op = argv[1];
    if (!strcmp(op, "conv2d")) conv(&ctx, 0);
    else if (!strcmp(op, "time-conv2d")) conv(&ctx, 1);
    else if (!strcmp(op, "linear")) linear(&ctx);
    else if (!strcmp(op, "maxpool2d") || !strcmp(op, "avgpool2d") || !strcmp(op, "gap")) pool(&ctx, op);
    else usage("unknown OP");
    nn_ctx_free(&ctx);
    return 0;
}
