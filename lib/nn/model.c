#include "nn/model.h"

#include "error.h"

#include <string.h>

const char *model_architectures(void) { return "baseline"; }

int model_create(Model *m, const char *arch, int in_c, int in_h, int in_w, int n_classes) {
    memset(m, 0, sizeof *m);
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
    if (strcmp(arch, "baseline") == 0) rc = baseline_create(m);
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

void model_free(Model *m) {
    if (m->destroy) m->destroy(m);
    params_free(&m->params);
    memset(m, 0, sizeof *m);
}
