/* Splits and batches: stacks and manifests, NaN and shape errors, seeded order, prefetch = gather. */
#define _POSIX_C_SOURCE 200809L
#include "check.h"
#include "train/dataset.h"
#include "core/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/audiocnn-dataset-XXXXXX";
static char xp[256], lp[256];

static void write_stack(int n, int c, int f, int t, float poison) {
    Tensor x, l;
    int64_t xs[4] = {n, c, f, t}, ls[1] = {n};
    tensor_alloc(&x, DT_F32, 4, xs);
    tensor_alloc(&l, DT_I64, 1, ls);
    for (int64_t i = 0; i < tensor_numel(&x); i++) tensor_f32(&x)[i] = (float)i;
    for (int i = 0; i < n; i++) tensor_i64(&l)[i] = i % 3;
    if (poison != 0) tensor_f32(&x)[tensor_numel(&x) - 1] = poison;
    npy_save(xp, &x);
    npy_save(lp, &l);
    tensor_free(&x);
    tensor_free(&l);
}

int main(void) {
    mkdtemp(dir);
    snprintf(xp, sizeof xp, "%s/x.npy", dir);
    snprintf(lp, sizeof lp, "%s/y.npy", dir);
    write_stack(10, 1, 4, 5, 0);
    Dataset d;
    CHECK(dataset_open_stack(&d, xp, lp) == 0 && d.n == 10 && d.f == 4 && d.t == 5 && d.labels[4] == 1 &&
              dataset_label_count(&d) == 3, "stack opens memory-mapped with labels");
    SpecAugment none = {0};
    Batcher b;
    batcher_init(&b, &d, 4, 1, 99, &none);
    int seen[10] = {0}, sizes[3] = {0}, nb = 0, gather_ok = 1;
    batcher_start_epoch(&b, 0);
    const float *x;
    const int64_t *y, *idx;
    int n;
    int64_t first_epoch0[4];
    while ((n = batcher_next(&b, &x, &y, &idx)) > 0) {
        if (nb == 0) memcpy(first_epoch0, idx, sizeof first_epoch0);
        sizes[nb++] = n;
        for (int i = 0; i < n; i++) {
            seen[idx[i]]++;
            gather_ok &= y[i] == d.labels[idx[i]] && memcmp(x + i * 20, d.x + idx[i] * 20, 20 * sizeof(float)) == 0;
        }
    }
    int all_once = 1;
    for (int i = 0; i < 10; i++) all_once &= seen[i] == 1;
    CHECK(nb == 3 && sizes[0] == 4 && sizes[2] == 2 && all_once && gather_ok, "an epoch visits every sample once, batches 4+4+2");
    batcher_start_epoch(&b, 0);
    batcher_next(&b, &x, &y, &idx);
    CHECK(memcmp(idx, first_epoch0, sizeof first_epoch0) == 0, "same seed and epoch, same order");
    batcher_start_epoch(&b, 1);
    batcher_next(&b, &x, &y, &idx);
    CHECK(memcmp(idx, first_epoch0, sizeof first_epoch0) != 0, "another epoch, another order");
    batcher_free(&b);

    /* mixup: every sample is lam * itself + (1 - lam) * a partner from the batch, with the partner's label */
    batcher_init(&b, &d, 5, 1, 7, NULL);
    b.mixup = 0.4;
    batcher_start_epoch(&b, 0);
    n = batcher_next(&b, &x, &y, &idx);
    const int64_t *y2;
    double lam = batcher_mixup(&b, &y2);
    int mix_ok = lam > 0 && lam < 1;
    for (int i = 0; i < n && mix_ok; i++) {
        int found = 0;
        for (int j = 0; j < n && !found; j++) {
            int same = y2[i] == d.labels[idx[j]];
            for (int q = 0; q < 20 && same; q++)
                same = fabs(x[i * 20 + q] - (lam * d.x[idx[i] * 20 + q] + (1 - lam) * d.x[idx[j] * 20 + q])) < 1e-4;
            found = same;
        }
        mix_ok = found;
    }
    CHECK(mix_ok, "mixup blends each sample with a partner and gives the partner's label (lam %.3f)", lam);
    batcher_free(&b);
    dataset_close(&d);

    /* multi-label targets (10, 3): gathered with their samples; mixup blends them with the partner's
     * exactly as it blends the samples (the partner found from the spectrogram) */
    Tensor tg;
    int64_t ts[2] = {10, 3};
    tensor_alloc(&tg, DT_F32, 2, ts);
    for (int i = 0; i < 30; i++) tensor_f32(&tg)[i] = (float)((i * 7) % 5) / 4;
    npy_save(lp, &tg);
    tensor_free(&tg);
    CHECK(dataset_open_stack(&d, xp, lp) == 0 && d.ntargets == 3 && d.targets[4] == 0.75f && d.labels[0] == -1 &&
              !strcmp(d.labels_name, lp), "(N, K) float labels are multi-label targets (class indices all -1)");
    batcher_init(&b, &d, 4, 1, 3, NULL);
    batcher_start_epoch(&b, 0);
    n = batcher_next(&b, &x, &y, &idx);
    const float *t = batcher_targets(&b);
    int tg_ok = n == 4;
    for (int i = 0; i < n; i++) tg_ok &= memcmp(t + 3 * i, d.targets + 3 * idx[i], 3 * sizeof(float)) == 0;
    CHECK(tg_ok, "a batch's targets are its samples' rows");
    batcher_free(&b);
    batcher_init(&b, &d, 5, 1, 7, NULL);
    b.mixup = 0.4;
    batcher_start_epoch(&b, 0);
    n = batcher_next(&b, &x, &y, &idx);
    t = batcher_targets(&b);
    lam = batcher_mixup(&b, &y2);
    mix_ok = lam > 0 && lam < 1;
    for (int i = 0; i < n && mix_ok; i++) {
        int found = 0;
        for (int j = 0; j < n && !found; j++) {
            int same = 1;
            for (int q = 0; q < 20 && same; q++)
                same = fabs(x[i * 20 + q] - (lam * d.x[idx[i] * 20 + q] + (1 - lam) * d.x[idx[j] * 20 + q])) < 1e-4;
            for (int c = 0; c < 3 && same; c++)
                same = t[3 * i + c] == (float)(lam * d.targets[3 * idx[i] + c] + (1 - lam) * d.targets[3 * idx[j] + c]);
            found = same;
        }
        mix_ok = found;
    }
    CHECK(mix_ok, "mixup blends the target vectors with the same partner and weight (lam %.3f)", lam);
    batcher_free(&b);
    { /* batches prepared on 1 and on 3 threads (cnntrain --threads on a GPU), the latter in the caller's
       * buffers (batcher_use_buffers: the GPU trainer's pinned memory): the same bytes, SpecAugment and
       * mixup included, the short last batch too */
        SpecAugment sa = {.freq_mask_param = 2, .time_mask_param = 3, .n_freq_masks = 1, .n_time_masks = 2, .p = 1.0};
        Batcher bt[2];
        int same = 1, nbt = 0, in_ext = 1;
        float *ext[2] = {malloc(sizeof(float) * 20 * 4), malloc(sizeof(float) * 20 * 4)};
        for (int v = 0; v < 2; v++) {
            batcher_init(&bt[v], &d, 4, 1, 11, &sa);
            bt[v].mixup = 0.4;
            bt[v].threads = v ? 3 : 1;
            bt[v].part_floats = 1; /* these samples are tiny: split them anyway */
        }
        batcher_use_buffers(&bt[1], ext[0], ext[1]);
        for (int e = 0; e < 2; e++) {
            batcher_start_epoch(&bt[0], e), batcher_start_epoch(&bt[1], e);
            const float *xv[2], *tv[2];
            const int64_t *yv[2], *iv[2], *y2v[2];
            int nv[2];
            double lv[2];
            for (;;) {
                for (int v = 0; v < 2; v++) {
                    nv[v] = batcher_next(&bt[v], &xv[v], &yv[v], &iv[v]);
                    lv[v] = batcher_mixup(&bt[v], &y2v[v]);
                    tv[v] = batcher_targets(&bt[v]);
                }
                if (nv[0] != nv[1]) same = 0;
                if (nv[0] <= 0 || !same) break;
                in_ext &= xv[1] == ext[nbt % 2] || (e > 0 && (xv[1] == ext[0] || xv[1] == ext[1]));
                int m = nv[0];
                same &= !memcmp(xv[0], xv[1], sizeof(float) * 20 * m) && !memcmp(iv[0], iv[1], sizeof(int64_t) * m) &&
                        !memcmp(y2v[0], y2v[1], sizeof(int64_t) * m) && !memcmp(tv[0], tv[1], sizeof(float) * 3 * m) &&
                        lv[0] == lv[1];
                nbt++;
            }
        }
        CHECK(same && nbt == 6, "a batch prepared on 3 threads = on 1 (SpecAugment, mixup, targets; %d batches)", nbt);
        CHECK(in_ext, "batcher_use_buffers: the batches are prepared in the caller's two buffers");
        batcher_free(&bt[0]), batcher_free(&bt[1]);
        free(ext[0]), free(ext[1]); /* still the caller's after batcher_free */
    }
    dataset_close(&d);
    const struct { float v; const char *msg; } badt[] = {{1.5f, "target 1.5 of sample 2, class 1 is outside [0, 1]"},
                                                          {NAN, "target nan of sample 2, class 1 is not a number"}};
    for (int k = 0; k < 2; k++) {
        tensor_alloc(&tg, DT_F32, 2, ts);
        memset(tg.data, 0, 30 * sizeof(float));
        tensor_f32(&tg)[7] = badt[k].v;
        npy_save(lp, &tg);
        tensor_free(&tg);
        CHECK(dataset_open_stack(&d, xp, lp) == -1 && strstr(err_msg(), badt[k].msg) && strstr(err_msg(), lp),
              "a bad target is an error naming the file, sample and class: %s", badt[k].msg);
    }

    write_stack(6, 1, 4, 5, NAN);
    CHECK(dataset_open_stack(&d, xp, lp) == -1 && strstr(err_msg(), "sample 5") && strstr(err_msg(), "NaN"),
          "NaN in a stack is an error naming the sample");
    write_stack(6, 1, 4, 5, 0);
    CHECK(dataset_open_stack(&d, xp, NULL) == 0 && d.labels[0] == -1, "unlabelled stack");
    dataset_close(&d);
    /* labels that do not match */
    Tensor l;
    int64_t ls[1] = {5};
    tensor_alloc(&l, DT_I64, 1, ls);
    npy_save(lp, &l);
    tensor_free(&l);
    CHECK(dataset_open_stack(&d, xp, lp) == -1 && strstr(err_msg(), "do not match the 6 samples"), "label count mismatch");
    Tensor w;
    int64_t ws[3] = {6, 4, 5};
    tensor_alloc(&w, DT_F32, 3, ws);
    npy_save(xp, &w);
    tensor_free(&w);
    CHECK(dataset_open_stack(&d, xp, NULL) == -1 && strstr(err_msg(), "(N, C, F, T)"), "wrong rank refused");
    unlink(xp);
    unlink(lp);
    rmdir(dir);
    return check_failures ? 1 : 0;
}
