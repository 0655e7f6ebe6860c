#include "nn/model.h"

#include "core/error.h"

#include <string.h>

/* torchvision's transforms.Normalize for ImageNet weights */
const float MODEL_IMAGENET_MEAN[3] = {0.485f, 0.456f, 0.406f};
const float MODEL_IMAGENET_STD[3] = {0.229f, 0.224f, 0.225f};

const char *model_architectures(void) {
    return "baseline, resnet18, resnet34, resnet50, resnet101, resnet152, efficientnet_b0, efficientnet_b1, "
           "efficientnet_b2, efficientnet_b3, efficientnet_b4, efficientnet_b5, efficientnet_b6, efficientnet_b7";
}

int model_create(Model *m, const char *arch, int in_c, int in_h, int in_w, int n_classes) {
    return model_create_opts(m, arch, in_c, in_h, in_w, n_classes, NULL);
}

int model_create_opts(Model *m, const char *arch, int in_c, int in_h, int in_w, int n_classes,
                      const ModelOptions *o) {
    memset(m, 0, sizeof *m);
    m->head_prefix = "classifier.";
    m->stem_repeat = o ? o->stem_repeat : 0;
    m->in_norm = o ? o->in_norm : 0;
    if (strlen(arch) >= sizeof m->arch) {
        err_set("unknown architecture '%.40s' (known: %s)", arch, model_architectures());
        return -1;
    }
    strcpy(m->arch, arch);
    m->in_c = in_c;
    m->in_h = in_h;
    m->in_w = in_w;
    m->n_classes = n_classes;
    params_init(&m->params);
    if (in_c < 1 || in_h < 1 || in_w < 1 || n_classes < 2) {
        err_set("bad model shape: input %dx%dx%d, %d classes (need at least 2)", in_c, in_h, in_w, n_classes);
        return -1;
    }
    int rc;
    if (m->in_norm && !m->stem_repeat) {
        err_set("ImageNet normalisation is per RGB channel: it needs the repeated three-channel stem");
        return -1;
    }
    if (m->stem_repeat && (in_c != 1 || strcmp(arch, "baseline") == 0)) {
        err_set("a repeated three-channel stem needs a one-channel input and a torchvision architecture (%s, %d channels)",
                arch, in_c);
        return -1;
    }
    if (strcmp(arch, "baseline") == 0) rc = baseline_create(m);
    else if (strncmp(arch, "resnet", 6) == 0) rc = resnet_create(m);
    else if (strncmp(arch, "efficientnet_b", 14) == 0) rc = efficientnet_create(m);
    else {
        err_set("unknown architecture '%s' (known: %s)", arch, model_architectures());
        return -1;
    }
    if (rc < 0) {
        model_free(m);
        return -1;
    }
    return 0;
}

void model_init_weights(Model *m, uint64_t seed) { m->init(m, seed); }

int model_is_head(const Model *m, const char *name) {
    return strncmp(name, m->head_prefix, strlen(m->head_prefix)) == 0;
}

void model_freeze_backbone(Model *m, int freeze) {
    m->frozen_backbone = freeze;
    for (int i = 0; i < m->params.n; i++) m->params.e[i].frozen = freeze && !model_is_head(m, m->params.e[i].name);
}

int model_to_device(Model *m, NnCtx *ctx) {
    if (ctx->device == NN_CPU) return 0;
    if (!m->cuda_ready) {
        err_set("%s does not run on CUDA yet (use --device cpu)", m->arch);
        return -1;
    }
    return params_to_device(&m->params, ctx);
}

/* a device buffer of at least n floats in *p (grown, never shrunk) */
static int io_buffer(NnCtx *ctx, float **p, size_t *len, size_t n) {
    if (*p && *len >= n) return 0;
    nn_free(ctx, *p);
    *len = 0;
    if (!(*p = nn_alloc(ctx, (n ? n : 1) * sizeof(float)))) return -1;
    *len = n;
    return 0;
}

int model_forward_host(Model *m, NnCtx *ctx, const float *x, int n, NnMode mode, uint64_t stream, float *logits) {
    if (ctx->device == NN_CPU) return m->forward(m, ctx, x, n, mode, stream, logits);
    size_t nx = (size_t)n * m->in_c * m->in_h * m->in_w, nl = (size_t)n * m->n_classes;
    if (m->params.device != ctx->device) {
        err_set("%s: the parameters are not on the device (model_to_device)", m->arch);
        return -1;
    }
    if (io_buffer(ctx, &m->io_x, &m->io_x_len, nx) < 0 || io_buffer(ctx, &m->io_logits, &m->io_logits_len, nl) < 0 ||
        nn_copy_to_device(ctx, m->io_x, x, nx * sizeof(float)) < 0 ||
        m->forward(m, ctx, m->io_x, n, mode, stream, m->io_logits) < 0 ||
        nn_copy_to_host(ctx, logits, m->io_logits, nl * sizeof(float)) < 0)
        return -1;
    return nn_sync(ctx); /* a void layer's failure, kept by the context */
}

void model_free(Model *m) {
    nn_free_on(m->params.device, m->io_x);
    nn_free_on(m->params.device, m->io_logits);
    if (m->destroy) m->destroy(m);
    params_free(&m->params);
    memset(m, 0, sizeof *m);
}
