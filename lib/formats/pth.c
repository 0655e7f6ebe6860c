#define _POSIX_C_SOURCE 200809L
#include "formats/pth.h"

#include "core/error.h"

#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


/* ---- small helpers ----------------------------------------------------------------------------- */

/* Text for a message: control bytes and non-ASCII as '?', cut at 100 bytes with "...". */
static const char *shown(const char *s, size_t n, char *buf, size_t cap) {
    size_t k = 0;
    for (; k < n && k + 4 < cap && k < 100; k++) {
        unsigned char c = (unsigned char)s[k];
        buf[k] = c < 0x20 || c >= 0x7f ? '?' : (char)c;
    }
    if (k < n) memcpy(buf + k, "...", 4);
    else buf[k] = 0;
    return buf;
}

#define SHOWN(s, n, b) shown((s), (n), (b), sizeof(b))

static int valid_utf8(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) { i++; continue; }
        size_t len;
        uint32_t cp, min;
        if (c >= 0xc2 && c <= 0xdf) { len = 2; cp = c & 0x1f; min = 0x80; }
        else if ((c & 0xf0) == 0xe0) { len = 3; cp = c & 0x0f; min = 0x800; }
        else if (c >= 0xf0 && c <= 0xf4) { len = 4; cp = c & 0x07; min = 0x10000; }
        else return 0;
        if (n - i < len) return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return 0;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
        i += len;
    }
    return 1;
}

static char *dup_n(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

/* ---- the pickle machine -------------------------------------------------------------------------- */

typedef enum { V_NONE, V_BOOL, V_INT, V_STR, V_TUPLE, V_LIST, V_DICT, V_GLOBAL, V_STORAGE, V_TENSOR } VKind;
static const char *const KIND[] = {"None", "a bool", "an int", "a str", "a tuple", "a list", "a dict",
                                   "a class or function", "a storage", "a tensor"};

/* The callables a state_dict needs; storage types are G_STORAGE + their StDType. */
enum { G_ORDEREDDICT, G_REBUILD_TENSOR, G_REBUILD_PARAM, G_STORAGE };

static const struct {
    const char *name;
    StDType dt;
} STORAGES[] = {
    {"FloatStorage", ST_F32}, {"DoubleStorage", ST_F64}, {"HalfStorage", ST_F16}, {"BFloat16Storage", ST_BF16},
    {"LongStorage", ST_I64},  {"IntStorage", ST_I32},    {"ShortStorage", ST_I16}, {"CharStorage", ST_I8},
    {"ByteStorage", ST_U8},   {"BoolStorage", ST_BOOL},
};

/* Every value lives until the machine is torn down (an arena: no reference counts, no recursion). */
typedef struct Val {
    VKind k;
    int64_t i;        /* BOOL/INT: the value; GLOBAL: G_*; STORAGE: index into f->s; TENSOR: into vm->tens */
    const char *s;    /* STR: bytes inside the pickle (not NUL-terminated) */
    size_t len;       /* STR */
    struct Val **v;   /* TUPLE/LIST: items; DICT: key, value, key, value, ... */
    size_t n, cap;
} Val;

typedef struct {
    PthFile *f;
    const char *pkl; /* "D/data.pkl", for messages */
    const char *dir; /* "D/" */
    const unsigned char *p;
    size_t n, pos, at; /* at: offset of the current opcode */
    Val **stack;
    size_t sp, scap;
    size_t marks[PTH_MAX_MARKS];
    int nmarks;
    Val **memo;
    size_t nmemo, mcap;
    Val **all; /* every value, for teardown */
    size_t nall, acap;
    PthTensor *tens;
    int ntens, tcap;
    int scap_s;      /* capacity of f->s */
    int *by_entry;   /* zip entry -> storage index or -1: one lookup per BINPERSID, never a scan */
} Vm;

static const char *opname(int op) {
    switch (op) {
    case '(': return "MARK"; case '.': return "STOP"; case '0': return "POP"; case '1': return "POP_MARK";
    case '2': return "DUP"; case 'F': return "FLOAT"; case 'I': return "INT"; case 'J': return "BININT";
    case 'K': return "BININT1"; case 'L': return "LONG"; case 'M': return "BININT2"; case 'N': return "NONE";
    case 'P': return "PERSID"; case 'Q': return "BINPERSID"; case 'R': return "REDUCE"; case 'S': return "STRING";
    case 'T': return "BINSTRING"; case 'U': return "SHORT_BINSTRING"; case 'V': return "UNICODE";
    case 'X': return "BINUNICODE"; case 'a': return "APPEND"; case 'b': return "BUILD"; case 'c': return "GLOBAL";
    case 'd': return "DICT"; case '}': return "EMPTY_DICT"; case 'e': return "APPENDS"; case 'g': return "GET";
    case 'h': return "BINGET"; case 'i': return "INST"; case 'j': return "LONG_BINGET"; case 'l': return "LIST";
    case ']': return "EMPTY_LIST"; case 'o': return "OBJ"; case 'p': return "PUT"; case 'q': return "BINPUT";
    case 'r': return "LONG_BINPUT"; case 's': return "SETITEM"; case 't': return "TUPLE"; case ')': return "EMPTY_TUPLE";
    case 'u': return "SETITEMS"; case 'G': return "BINFLOAT"; case 'B': return "BINBYTES"; case 'C': return "SHORT_BINBYTES";
    case 0x80: return "PROTO"; case 0x81: return "NEWOBJ"; case 0x82: return "EXT1"; case 0x83: return "EXT2";
    case 0x84: return "EXT4"; case 0x85: return "TUPLE1"; case 0x86: return "TUPLE2"; case 0x87: return "TUPLE3";
    case 0x88: return "NEWTRUE"; case 0x89: return "NEWFALSE"; case 0x8a: return "LONG1"; case 0x8b: return "LONG4";
    case 0x8c: return "SHORT_BINUNICODE"; case 0x8d: return "BINUNICODE8"; case 0x8e: return "BINBYTES8";
    case 0x8f: return "EMPTY_SET"; case 0x90: return "ADDITEMS"; case 0x91: return "FROZENSET";
    case 0x92: return "NEWOBJ_EX"; case 0x93: return "STACK_GLOBAL"; case 0x94: return "MEMOIZE";
    case 0x95: return "FRAME"; case 0x96: return "BYTEARRAY8"; case 0x97: return "NEXT_BUFFER";
    case 0x98: return "READONLY_BUFFER";
    default: return NULL;
    }
}

__attribute__((format(printf, 2, 3))) static int vm_err(Vm *vm, const char *fmt, ...) {
    char what[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    int op = vm->at < vm->n ? vm->p[vm->at] : -1;
    const char *nm = op >= 0 ? opname(op) : NULL;
    if (nm) err_set("%s: %s: byte %zu (%s): %s", vm->f->name, vm->pkl, vm->at, nm, what);
    else err_set("%s: %s: byte %zu: %s", vm->f->name, vm->pkl, vm->at, what);
    return -1;
}

static int oom(Vm *vm) {
    if (vm->nall >= PTH_MAX_VALUES) return vm_err(vm, "more than %d values (a state_dict has about 20 per tensor)", PTH_MAX_VALUES);
    return vm_err(vm, "out of memory");
}

/* Grow *arr (of elements of size es) to hold at least need; 0 or -1. */
static int grow(void **arr, size_t *cap, size_t need, size_t es) {
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 16;
    while (c < need) c *= 2;
    void *a = realloc(*arr, c * es);
    if (!a) return -1;
    *arr = a;
    *cap = c;
    return 0;
}

static Val *newval(Vm *vm, VKind k) {
    if (vm->nall >= PTH_MAX_VALUES) return NULL;
    if (grow((void **)&vm->all, &vm->acap, vm->nall + 1, sizeof *vm->all) < 0) return NULL;
    Val *v = calloc(1, sizeof *v);
    if (!v) return NULL;
    v->k = k;
    vm->all[vm->nall++] = v;
    return v;
}

static int push(Vm *vm, Val *v) {
    if (!v) return oom(vm);
    if (vm->sp >= PTH_MAX_STACK) return vm_err(vm, "more than %d values on the stack", PTH_MAX_STACK);
    if (grow((void **)&vm->stack, &vm->scap, vm->sp + 1, sizeof *vm->stack) < 0) return oom(vm);
    vm->stack[vm->sp++] = v;
    return 0;
}

/* The number of values above the innermost MARK (or the whole stack when there is none). */
static size_t floor_at(const Vm *vm) { return vm->nmarks ? vm->marks[vm->nmarks - 1] : 0; }

static Val *pop(Vm *vm) {
    if (vm->sp <= floor_at(vm)) {
        vm_err(vm, vm->sp ? "pops across a MARK" : "pops an empty stack");
        return NULL;
    }
    return vm->stack[--vm->sp];
}

static Val *top(Vm *vm) {
    if (vm->sp <= floor_at(vm)) {
        vm_err(vm, vm->sp ? "reads across a MARK" : "reads an empty stack");
        return NULL;
    }
    return vm->stack[vm->sp - 1];
}

/* n operand bytes, or -1 when the pickle ends first. */
static int need(Vm *vm, size_t n) {
    if (vm->n - vm->pos < n) return vm_err(vm, "the pickle ends inside the opcode's %zu-byte argument", n);
    return 0;
}

static uint64_t le_n(const unsigned char *p, size_t n) {
    uint64_t v = 0;
    for (size_t k = n; k-- > 0;) v = v << 8 | p[k];
    return v;
}

/* Items above the innermost MARK into a new TUPLE or onto a container (and pop the MARK). */
static int pop_mark(Vm *vm, size_t *from) {
    if (!vm->nmarks) return vm_err(vm, "no MARK to pop");
    *from = vm->marks[--vm->nmarks];
    return 0;
}

static int add_items(Vm *vm, Val *c, Val **items, size_t k) {
    if (grow((void **)&c->v, &c->cap, c->n + k, sizeof *c->v) < 0) return oom(vm);
    memcpy(c->v + c->n, items, k * sizeof *items);
    c->n += k;
    return 0;
}

static int make_tuple(Vm *vm, Val **items, size_t k) {
    Val *t = newval(vm, V_TUPLE);
    if (!t) return oom(vm);
    if (k && add_items(vm, t, items, k) < 0) return -1;
    return push(vm, t);
}

static int resolve_global(Vm *vm, const char *mod, size_t ml, const char *name, size_t nl) {
    int g = -1;
#define IS(s, l, lit) ((l) == sizeof(lit) - 1 && memcmp((s), (lit), (l)) == 0)
    if (IS(mod, ml, "collections") && IS(name, nl, "OrderedDict")) g = G_ORDEREDDICT;
    else if (IS(mod, ml, "torch._utils") && IS(name, nl, "_rebuild_tensor_v2")) g = G_REBUILD_TENSOR;
    else if (IS(mod, ml, "torch._utils") && IS(name, nl, "_rebuild_parameter")) g = G_REBUILD_PARAM;
    else if (IS(mod, ml, "torch"))
        for (size_t k = 0; k < sizeof STORAGES / sizeof *STORAGES; k++)
            if (nl == strlen(STORAGES[k].name) && memcmp(name, STORAGES[k].name, nl) == 0)
                g = G_STORAGE + (int)STORAGES[k].dt;
#undef IS
    if (g < 0) {
        char mb[120], nb[120];
        return vm_err(vm, "global '%s.%s' is not allowed (a state_dict needs only collections.OrderedDict, "
                          "torch._utils._rebuild_tensor_v2/_rebuild_parameter and torch.*Storage types; nothing is "
                          "ever executed)", SHOWN(mod, ml, mb), SHOWN(name, nl, nb));
    }
    Val *v = newval(vm, V_GLOBAL);
    if (!v) return oom(vm);
    v->i = g;
    return push(vm, v);
}

/* One line of a GLOBAL argument: printable ASCII up to '\n'. */
static int global_line(Vm *vm, const char **s, size_t *len) {
    const unsigned char *b = vm->p + vm->pos;
    size_t lim = vm->n - vm->pos < 256 ? vm->n - vm->pos : 256;
    const unsigned char *nl = memchr(b, '\n', lim);
    if (!nl) return vm_err(vm, "GLOBAL argument without a newline within 256 bytes");
    for (const unsigned char *c = b; c < nl; c++)
        if (*c < 0x21 || *c > 0x7e) return vm_err(vm, "GLOBAL argument with byte 0x%02x", *c);
    *s = (const char *)b;
    *len = (size_t)(nl - b);
    vm->pos += *len + 1;
    return 0;
}

static int str_is(const Val *v, const char *lit) {
    return v->k == V_STR && v->len == strlen(lit) && memcmp(v->s, lit, v->len) == 0;
}

/* BINPERSID: ('storage', torch.XStorage, KEY, LOCATION, NUMEL) -> a storage value. */
static int persistent(Vm *vm, Val *pid) {
    PthFile *f = vm->f;
    if (pid->k != V_TUPLE || pid->n != 5 || !str_is(pid->v[0], "storage"))
        return vm_err(vm, "persistent id is %s, not ('storage', type, key, location, numel)",
                      pid->k == V_TUPLE ? "a tuple of another form" : KIND[pid->k]);
    Val *ty = pid->v[1], *key = pid->v[2], *loc = pid->v[3], *num = pid->v[4];
    if (ty->k != V_GLOBAL || ty->i < G_STORAGE) return vm_err(vm, "persistent id: the storage type is not a torch.*Storage");
    if (key->k != V_STR || loc->k != V_STR || num->k != V_INT)
        return vm_err(vm, "persistent id: key and location must be strings and numel an int");
    if (key->len == 0 || key->len > 256 || memchr(key->s, 0, key->len))
        return vm_err(vm, "persistent id: bad storage key (empty, NUL or longer than 256 bytes)");
    StDType dt = (StDType)(ty->i - G_STORAGE);
    char kb[120];
    SHOWN(key->s, key->len, kb);
    if (num->i < 0) return vm_err(vm, "storage '%s': negative element count %lld", kb, (long long)num->i);
    size_t pl = strlen(vm->dir) + 5 + key->len + 1;
    char *path = malloc(pl);
    if (!path) return oom(vm);
    snprintf(path, pl, "%sdata/%.*s", vm->dir, (int)key->len, key->s);
    int e = zip_find(&f->z, path);
    if (e < 0) {
        char pb[120];
        vm_err(vm, "storage '%s': no entry %s in the archive", kb, SHOWN(path, strlen(path), pb));
        free(path);
        return -1;
    }
    free(path);
    int si = vm->by_entry[e];
    if (si >= 0) {
        if (f->s[si].dtype != dt || f->s[si].numel != num->i)
            return vm_err(vm, "storage '%s' appears again with another type or size", kb);
    } else {
        uint64_t es = st_dtype_size(dt), sz = f->z.e[e].size;
        if ((uint64_t)num->i > sz / es || (uint64_t)num->i * es != sz)
            return vm_err(vm, "storage '%s': %lld %s elements do not fill its entry of %llu bytes exactly", kb,
                          (long long)num->i, st_dtype_name(dt), (unsigned long long)sz);
        if (f->ns == vm->scap_s) {
            size_t c = (size_t)vm->scap_s;
            if (grow((void **)&f->s, &c, (size_t)f->ns + 1, sizeof *f->s) < 0) return oom(vm);
            vm->scap_s = (int)c;
        }
        char *k = dup_n(key->s, key->len);
        if (!k) return oom(vm);
        f->s[f->ns] = (PthStorage){k, dt, num->i, e};
        si = vm->by_entry[e] = f->ns++;
    }
    Val *v = newval(vm, V_STORAGE);
    if (!v) return oom(vm);
    v->i = si;
    return push(vm, v);
}

/* A tuple of non-negative ints (a size or a stride). */
static int int_tuple(Vm *vm, const Val *t, const char *what, int64_t *out, int *n) {
    if (t->k != V_TUPLE) return vm_err(vm, "_rebuild_tensor_v2: the %s is %s, not a tuple", what, KIND[t->k]);
    if (t->n > PTH_MAX_DIMS) return vm_err(vm, "_rebuild_tensor_v2: %zu dimensions (at most %d)", t->n, PTH_MAX_DIMS);
    for (size_t d = 0; d < t->n; d++) {
        if (t->v[d]->k != V_INT) return vm_err(vm, "_rebuild_tensor_v2: the %s holds %s", what, KIND[t->v[d]->k]);
        if (t->v[d]->i < 0)
            return vm_err(vm, "_rebuild_tensor_v2: negative %s %lld", what, (long long)t->v[d]->i);
        out[d] = t->v[d]->i;
    }
    *n = (int)t->n;
    return 0;
}

/* _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata]) */
static int rebuild_tensor(Vm *vm, const Val *a) {
    if (a->n != 6 && a->n != 7) return vm_err(vm, "_rebuild_tensor_v2 with %zu arguments (6 or 7 expected)", a->n);
    const Val *st = a->v[0], *off = a->v[1];
    if (st->k != V_STORAGE) return vm_err(vm, "_rebuild_tensor_v2: the storage is %s", KIND[st->k]);
    if (off->k != V_INT || off->i < 0) return vm_err(vm, "_rebuild_tensor_v2: the offset is not an int >= 0");
    if (a->v[4]->k != V_BOOL) return vm_err(vm, "_rebuild_tensor_v2: requires_grad is %s", KIND[a->v[4]->k]);
    if (a->v[5]->k != V_DICT && a->v[5]->k != V_NONE)
        return vm_err(vm, "_rebuild_tensor_v2: backward_hooks is %s", KIND[a->v[5]->k]);
    if (a->n == 7 && !(a->v[6]->k == V_NONE || (a->v[6]->k == V_DICT && a->v[6]->n == 0)))
        return vm_err(vm, "_rebuild_tensor_v2: tensor metadata is not supported");
    PthTensor t;
    memset(&t, 0, sizeof t);
    int ns, nt;
    if (int_tuple(vm, a->v[2], "size", t.shape, &ns) < 0 || int_tuple(vm, a->v[3], "stride", t.stride, &nt) < 0)
        return -1;
    if (ns != nt) return vm_err(vm, "_rebuild_tensor_v2: %d sizes but %d strides", ns, nt);
    const PthStorage *s = &vm->f->s[st->i];
    char kb[120];
    SHOWN(s->key, strlen(s->key), kb);
    t.ndim = ns;
    t.dtype = s->dtype;
    t.storage = (int)st->i;
    t.offset = off->i;
    if (shape_numel_checked(ns, t.shape, INT64_MAX / 8, &t.numel) < 0 || t.numel > s->numel)
        return vm_err(vm, "_rebuild_tensor_v2: the shape has more elements than storage '%s' (%lld)", kb,
                      (long long)s->numel);
    if (t.numel > 0) {
        /* the last element, offset + sum (size - 1) * stride, checked term by term against the room left */
        int64_t last = t.offset;
        int over = last >= s->numel;
        for (int d = 0; d < ns && !over; d++) {
            if (t.shape[d] < 2 || t.stride[d] == 0) continue;
            if (t.shape[d] - 1 > (s->numel - 1 - last) / t.stride[d]) over = 1;
            else last += (t.shape[d] - 1) * t.stride[d];
        }
        if (over)
            return vm_err(vm, "_rebuild_tensor_v2: the view (offset %lld, sizes and strides) reaches past the %lld "
                              "elements of storage '%s'", (long long)t.offset, (long long)s->numel, kb);
    } else if (t.offset > s->numel) {
        return vm_err(vm, "_rebuild_tensor_v2: offset %lld past the %lld elements of storage '%s'",
                      (long long)t.offset, (long long)s->numel, kb);
    }
    int64_t want = 1;
    t.contiguous = 1;
    for (int d = ns - 1; d >= 0; d--) {
        if (t.shape[d] != 1 && t.stride[d] != want) t.contiguous = 0;
        want *= t.shape[d] ? t.shape[d] : 1;
    }
    if (t.numel == 0) t.contiguous = 1;
    if (vm->ntens == vm->tcap) {
        size_t c = (size_t)vm->tcap;
        if (grow((void **)&vm->tens, &c, (size_t)vm->ntens + 1, sizeof *vm->tens) < 0) return oom(vm);
        vm->tcap = (int)c;
    }
    vm->tens[vm->ntens] = t;
    Val *v = newval(vm, V_TENSOR);
    if (!v) return oom(vm);
    v->i = vm->ntens++;
    return push(vm, v);
}

static int reduce(Vm *vm) {
    Val *args = pop(vm), *fn = args ? pop(vm) : NULL;
    if (!fn) return -1;
    if (fn->k != V_GLOBAL) return vm_err(vm, "calls %s", KIND[fn->k]);
    if (args->k != V_TUPLE) return vm_err(vm, "arguments are %s, not a tuple", KIND[args->k]);
    switch (fn->i) {
    case G_ORDEREDDICT:
        if (args->n) return vm_err(vm, "OrderedDict with arguments");
        return push(vm, newval(vm, V_DICT));
    case G_REBUILD_TENSOR: return rebuild_tensor(vm, args);
    case G_REBUILD_PARAM:
        if (args->n != 3 || args->v[0]->k != V_TENSOR || args->v[1]->k != V_BOOL || args->v[2]->k != V_DICT)
            return vm_err(vm, "_rebuild_parameter expects (tensor, bool, dict)");
        return push(vm, args->v[0]);
    default: return vm_err(vm, "a storage type is called (only torch._utils functions may be)");
    }
}

static int get_memo(Vm *vm, uint64_t idx) {
    if (idx >= vm->nmemo) return vm_err(vm, "memo index %llu out of range (%zu stored)", (unsigned long long)idx, vm->nmemo);
    return push(vm, vm->memo[idx]);
}

static int put_memo(Vm *vm, uint64_t idx) {
    Val *v = top(vm);
    if (!v) return -1;
    if (idx > vm->nmemo || idx >= PTH_MAX_STACK)
        return vm_err(vm, "memo index %llu out of range (%zu stored; indices are given in order)",
                      (unsigned long long)idx, vm->nmemo);
    if (idx == vm->nmemo) {
        if (grow((void **)&vm->memo, &vm->mcap, vm->nmemo + 1, sizeof *vm->memo) < 0) return oom(vm);
        vm->nmemo++;
    }
    vm->memo[idx] = v;
    return 0;
}

static int push_str(Vm *vm, size_t len) {
    if (need(vm, len) < 0) return -1;
    Val *v = newval(vm, V_STR);
    if (!v) return oom(vm);
    v->s = (const char *)vm->p + vm->pos;
    v->len = len;
    vm->pos += len;
    return push(vm, v);
}

static int push_int(Vm *vm, int64_t x) {
    Val *v = newval(vm, V_INT);
    if (!v) return oom(vm);
    v->i = x;
    return push(vm, v);
}

/* Run the pickle; *result is the value STOP returns. */
static int run(Vm *vm, Val **result) {
    for (;;) {
        if (vm->pos >= vm->n) {
            vm->at = vm->n;
            return vm_err(vm, "the pickle ends without STOP");
        }
        vm->at = vm->pos;
        int op = vm->p[vm->pos++];
        const unsigned char *a = vm->p + vm->pos;
        if (vm->at == 0 && op != 0x80) return vm_err(vm, "the pickle does not start with PROTO");
        switch (op) {
        case 0x80: /* PROTO */
            if (vm->at != 0) return vm_err(vm, "PROTO after the start");
            if (need(vm, 1) < 0) return -1;
            if (a[0] < 2 || a[0] > 5) return vm_err(vm, "pickle protocol %d (2 to 5 supported)", a[0]);
            vm->pos++;
            break;
        case 0x95: /* FRAME: a length hint, checked and ignored */
            if (need(vm, 8) < 0) return -1;
            if (le_n(a, 8) > vm->n - vm->pos - 8) return vm_err(vm, "frame runs past the end of the pickle");
            vm->pos += 8;
            break;
        case '.': { /* STOP */
            if (vm->nmarks) return vm_err(vm, "STOP with an open MARK");
            if (vm->sp != 1) return vm_err(vm, "STOP with %zu values on the stack (1 expected)", vm->sp);
            if (vm->pos != vm->n) return vm_err(vm, "%zu bytes after STOP", vm->n - vm->pos);
            *result = vm->stack[0];
            return 0;
        }
        case '(':
            if (vm->nmarks == PTH_MAX_MARKS) return vm_err(vm, "more than %d nested MARKs", PTH_MAX_MARKS);
            vm->marks[vm->nmarks++] = vm->sp;
            break;
        case '}': if (push(vm, newval(vm, V_DICT)) < 0) return -1; break;
        case ']': if (push(vm, newval(vm, V_LIST)) < 0) return -1; break;
        case ')': if (make_tuple(vm, NULL, 0) < 0) return -1; break;
        case 't': {
            size_t from = 0;
            if (pop_mark(vm, &from) < 0) return -1;
            size_t k = vm->sp - from;
            vm->sp = from;
            if (make_tuple(vm, k ? vm->stack + from : NULL, k) < 0) return -1;
            break;
        }
        case 0x85: case 0x86: case 0x87: { /* TUPLE1-3 */
            size_t k = (size_t)(op - 0x84);
            if (vm->sp < floor_at(vm) + k) return vm_err(vm, "needs %zu values above the MARK", k);
            vm->sp -= k;
            if (make_tuple(vm, vm->stack + vm->sp, k) < 0) return -1;
            break;
        }
        case 'q': if (need(vm, 1) < 0 || put_memo(vm, a[0]) < 0) return -1; vm->pos += 1; break;
        case 'r': if (need(vm, 4) < 0 || put_memo(vm, le_n(a, 4)) < 0) return -1; vm->pos += 4; break;
        case 0x94: if (put_memo(vm, vm->nmemo) < 0) return -1; break;
        case 'h': if (need(vm, 1) < 0 || get_memo(vm, a[0]) < 0) return -1; vm->pos += 1; break;
        case 'j': if (need(vm, 4) < 0 || get_memo(vm, le_n(a, 4)) < 0) return -1; vm->pos += 4; break;
        case 'X':
            if (need(vm, 4) < 0) return -1;
            vm->pos += 4;
            if (push_str(vm, (size_t)le_n(a, 4)) < 0) return -1;
            break;
        case 0x8c:
            if (need(vm, 1) < 0) return -1;
            vm->pos += 1;
            if (push_str(vm, a[0]) < 0) return -1;
            break;
        case 'J': if (need(vm, 4) < 0 || push_int(vm, (int32_t)(uint32_t)le_n(a, 4)) < 0) return -1; vm->pos += 4; break;
        case 'K': if (need(vm, 1) < 0 || push_int(vm, a[0]) < 0) return -1; vm->pos += 1; break;
        case 'M': if (need(vm, 2) < 0 || push_int(vm, (int64_t)le_n(a, 2)) < 0) return -1; vm->pos += 2; break;
        case 0x8a: { /* LONG1: n bytes of two's complement */
            if (need(vm, 1) < 0) return -1;
            size_t k = a[0];
            if (k > 8) return vm_err(vm, "a %zu-byte integer (more than int64)", k);
            vm->pos += 1;
            if (need(vm, k) < 0) return -1;
            uint64_t u = le_n(a + 1, k);
            if (k && k < 8 && (a[k] & 0x80)) u |= ~(uint64_t)0 << (8 * k);
            int64_t x;
            memcpy(&x, &u, sizeof x);
            if (push_int(vm, k ? x : 0) < 0) return -1;
            vm->pos += k;
            break;
        }
        case 0x88: case 0x89: {
            Val *v = newval(vm, V_BOOL);
            if (!v) return oom(vm);
            v->i = op == 0x88;
            if (push(vm, v) < 0) return -1;
            break;
        }
        case 'N': if (push(vm, newval(vm, V_NONE)) < 0) return -1; break;
        case 'c': {
            const char *m = NULL, *nm = NULL;
            size_t ml = 0, nl = 0;
            if (global_line(vm, &m, &ml) < 0 || global_line(vm, &nm, &nl) < 0) return -1;
            if (resolve_global(vm, m, ml, nm, nl) < 0) return -1;
            break;
        }
        case 0x93: { /* STACK_GLOBAL */
            Val *nm = pop(vm), *m = nm ? pop(vm) : NULL;
            if (!m) return -1;
            if (m->k != V_STR || nm->k != V_STR) return vm_err(vm, "module and name must be strings");
            if (resolve_global(vm, m->s, m->len, nm->s, nm->len) < 0) return -1;
            break;
        }
        case 'Q': {
            Val *pid = pop(vm);
            if (!pid || persistent(vm, pid) < 0) return -1;
            break;
        }
        case 'R': if (reduce(vm) < 0) return -1; break;
        case 'b': { /* BUILD: the OrderedDict's state (its _metadata), accepted and ignored */
            Val *state = pop(vm), *obj = state ? top(vm) : NULL;
            if (!obj) return -1;
            if (obj->k != V_DICT) return vm_err(vm, "BUILD on %s (only a dict's state is accepted)", KIND[obj->k]);
            if (state->k != V_DICT && state->k != V_NONE) return vm_err(vm, "BUILD with %s as the state", KIND[state->k]);
            break;
        }
        case 's': {
            Val *v = pop(vm), *k = v ? pop(vm) : NULL, *d = k ? top(vm) : NULL;
            if (!d) return -1;
            if (d->k != V_DICT) return vm_err(vm, "SETITEM on %s", KIND[d->k]);
            Val *kv[2] = {k, v};
            if (add_items(vm, d, kv, 2) < 0) return -1;
            break;
        }
        case 'u': case 'e': {
            size_t from = 0;
            if (pop_mark(vm, &from) < 0) return -1;
            size_t k = vm->sp - from;
            vm->sp = from;
            Val *c = top(vm);
            if (!c) return -1;
            if (op == 'u' && c->k != V_DICT) return vm_err(vm, "SETITEMS on %s", KIND[c->k]);
            if (op == 'u' && k % 2) return vm_err(vm, "SETITEMS with an odd number of values");
            if (op == 'e' && c->k != V_LIST) return vm_err(vm, "APPENDS on %s", KIND[c->k]);
            if (k && add_items(vm, c, vm->stack + from, k) < 0) return -1;
            break;
        }
        case 'a': {
            Val *v = pop(vm), *l = v ? top(vm) : NULL;
            if (!l) return -1;
            if (l->k != V_LIST) return vm_err(vm, "APPEND on %s", KIND[l->k]);
            if (add_items(vm, l, &v, 1) < 0) return -1;
            break;
        }
        default:
            if (opname(op)) return vm_err(vm, "opcode not supported in a state_dict (nothing is ever executed)");
            return vm_err(vm, "unknown opcode 0x%02x", op);
        }
    }
}

static void vm_free(Vm *vm) {
    for (size_t k = 0; k < vm->nall; k++) {
        free(vm->all[k]->v);
        free(vm->all[k]);
    }
    free(vm->all);
    free(vm->stack);
    free(vm->memo);
    free(vm->tens);
    free(vm->by_entry);
}

/* ---- the archive ------------------------------------------------------------------------------- */

/* The state_dict: a dict of str -> tensor into f->t. */
static int collect(PthFile *f, Vm *vm, const Val *r) {
    if (r->k != V_DICT) {
        err_set("%s: not a state_dict: %s holds %s, not a dict of tensors", f->name, vm->pkl, KIND[r->k]);
        return -1;
    }
    size_t n = r->n / 2;
    f->t = calloc(n ? n : 1, sizeof *f->t);
    f->by_name = malloc(sizeof *f->by_name * (n ? n : 1));
    int rc = -1;
    if (!f->t || !f->by_name) {
        err_set("%s: out of memory", f->name);
        goto out;
    }
    for (size_t k = 0; k < n; k++) {
        const Val *key = r->v[2 * k], *val = r->v[2 * k + 1];
        char kb[120];
        if (key->k != V_STR) {
            err_set("%s: not a state_dict: key number %zu is %s, not a string", f->name, k, KIND[key->k]);
            goto out;
        }
        SHOWN(key->s, key->len, kb);
        if (val->k != V_TENSOR) {
            err_set("%s: not a state_dict: '%s' holds %s, not a tensor (a training checkpoint? save "
                    "model.state_dict() itself)", f->name, kb, KIND[val->k]);
            goto out;
        }
        if (key->len == 0 || key->len > PTH_MAX_NAME || memchr(key->s, 0, key->len) ||
            !valid_utf8((const unsigned char *)key->s, key->len)) {
            err_set("%s: bad tensor name '%s' (empty, longer than %d bytes, NUL or not UTF-8)", f->name, kb,
                    PTH_MAX_NAME);
            goto out;
        }
        PthTensor *t = &f->t[f->n];
        *t = vm->tens[val->i];
        t->name = dup_n(key->s, key->len);
        if (!t->name) {
            err_set("%s: out of memory", f->name);
            goto out;
        }
        f->n++;
    }
    int dup, ri = wt_name_index(f->t, sizeof(PthTensor), offsetof(PthTensor, name), f->n, f->by_name, &dup);
    if (ri < 0) {
        err_set("%s: out of memory", f->name);
        goto out;
    }
    if (ri) {
        char kb[120];
        err_set("%s: duplicate tensor name '%s'", f->name, SHOWN(f->t[dup].name, strlen(f->t[dup].name), kb));
        goto out;
    }
    rc = 0;
out:
    return rc;
}

/* A file that is not a zip archive: say what it is. b holds its first n bytes. */
static int not_zip(const char *name, const unsigned char *b, size_t n) {
    if (n >= 2 && b[0] == 'P' && b[1] == 'K') return 0;
    static const unsigned char legacy[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
    if (n >= sizeof legacy && memcmp(b, legacy, sizeof legacy) == 0)
        err_set("%s: the legacy torch.save format (before PyTorch 1.6, or _use_new_zipfile_serialization=False) is "
                "not supported; re-save it with torch.save from PyTorch >= 1.6", name);
    else if (n >= 1 && b[0] == 0x80)
        err_set("%s: a bare pickle, not a PyTorch zip archive (legacy or non-torch format; not supported)", name);
    else if (n >= 262 && memcmp(b + 257, "ustar", 5) == 0)
        err_set("%s: the legacy tar torch.save format is not supported", name);
    else
        err_set("%s: not a PyTorch .pth file (no zip signature)", name);
    return -1;
}

static int parse_archive(PthFile *f) {
    ZipFile *z = &f->z;
    unsigned char *pkl = NULL;
    char *dir = NULL, *path = NULL;
    Vm vm;
    memset(&vm, 0, sizeof vm);
    int rc = -1;
    if (z->n == 0) {
        err_set("%s: an empty zip archive, not a PyTorch file", f->name);
        return -1;
    }
    const char *first = z->e[0].name, *slash = strchr(first, '/');
    if (!slash) {
        err_set("%s: not a PyTorch archive: entry '%s' is not inside a top folder", f->name, first);
        return -1;
    }
    size_t dl = (size_t)(slash - first) + 1;
    dir = dup_n(first, dl);
    path = malloc(dl + 64);
    if (!dir || !path) {
        err_set("%s: out of memory", f->name);
        goto out;
    }
    for (int i = 0; i < z->n; i++) {
        const char *nm = z->e[i].name;
        char nb[120];
        if (strncmp(nm, dir, dl) != 0) {
            err_set("%s: not a PyTorch archive: entry '%s' is outside the top folder '%s'", f->name,
                    SHOWN(nm, strlen(nm), nb), dir);
            goto out;
        }
        if (strcmp(nm + dl, "constants.pkl") == 0 || strncmp(nm + dl, "code/", 5) == 0) {
            err_set("%s: a TorchScript archive (torch.jit.save) is not supported; save model.state_dict() with "
                    "torch.save instead", f->name);
            goto out;
        }
    }
    for (int i = 0; i < z->n; i++)
        if (z->e[i].method != 0) {
            char nb[120];
            err_set("%s: entry '%s' is compressed (deflate); torch.save writes stored entries only, and only those "
                    "are supported", f->name, SHOWN(z->e[i].name, strlen(z->e[i].name), nb));
            goto out;
        }
    snprintf(path, dl + 64, "%sbyteorder", dir);
    int bo = zip_find(z, path);
    if (bo >= 0) {
        char b[16] = {0};
        if (z->e[bo].size > 15 || zip_read(z, bo, 0, b, (size_t)z->e[bo].size) < 0 || strcmp(b, "little") != 0) {
            err_set("%s: byteorder is not 'little' (big-endian files are not supported)", f->name);
            goto out;
        }
    }
    snprintf(path, dl + 64, "%sdata.pkl", dir);
    int pi = zip_find(z, path);
    if (pi < 0) {
        err_set("%s: not a PyTorch archive: no %s", f->name, path);
        goto out;
    }
    uint64_t pn = z->e[pi].size;
    if (pn > PTH_MAX_PICKLE) {
        err_set("%s: %s is %llu bytes, more than the limit of %u", f->name, path, (unsigned long long)pn,
                PTH_MAX_PICKLE);
        goto out;
    }
    pkl = malloc(pn ? (size_t)pn : 1);
    if (!pkl) {
        err_set("%s: out of memory for %s", f->name, path);
        goto out;
    }
    if (zip_read(z, pi, 0, pkl, (size_t)pn) < 0) goto out;
    vm = (Vm){.f = f, .pkl = path, .dir = dir, .p = pkl, .n = (size_t)pn};
    vm.by_entry = malloc(sizeof *vm.by_entry * (size_t)z->n);
    if (!vm.by_entry) {
        err_set("%s: out of memory", f->name);
        goto out;
    }
    for (int i = 0; i < z->n; i++) vm.by_entry[i] = -1;
    Val *result = NULL;
    if (run(&vm, &result) < 0 || collect(f, &vm, result) < 0) goto out;
    rc = 0;
out:
    vm_free(&vm);
    free(pkl);
    free(dir);
    free(path);
    return rc;
}

static int init(PthFile *f, const char *name) {
    memset(f, 0, sizeof *f);
    f->z.fd = -1;
    f->name = strdup(name);
    if (!f->name) {
        err_set("%s: out of memory", name);
        return -1;
    }
    return 0;
}

int pth_parse(const void *bytes, size_t len, const char *name, PthFile *f) {
    if (init(f, name) < 0) return -1;
    if (not_zip(name, bytes, len) < 0 || zip_parse(bytes, len, name, &f->z) < 0 || parse_archive(f) < 0) {
        pth_close(f);
        return -1;
    }
    return 0;
}

int pth_open(const char *path, PthFile *f) {
    if (init(f, path) < 0) return -1;
    unsigned char head[512];
    ssize_t r = -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        size_t got = 0;
        while (got < sizeof head) {
            r = read(fd, head + got, sizeof head - got);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) break;
            got += (size_t)r;
        }
        if (r >= 0) r = (ssize_t)got;
        close(fd);
    }
    if (fd < 0 || r < 0) {
        err_set("%s: cannot %s: %s", path, fd < 0 ? "open" : "read", strerror(errno));
    } else if (not_zip(path, head, (size_t)r) == 0 && zip_open(path, &f->z) == 0 && parse_archive(f) == 0) {
        return 0;
    }
    pth_close(f);
    return -1;
}

void pth_close(PthFile *f) {
    for (int i = 0; i < f->n; i++) free(f->t[i].name);
    for (int i = 0; i < f->ns; i++) free(f->s[i].key);
    free(f->t);
    free(f->s);
    free(f->by_name);
    free(f->name);
    zip_close(&f->z);
    memset(f, 0, sizeof *f);
    f->z.fd = -1;
}

int pth_find(const PthFile *f, const char *name) {
    return wt_name_find(f->t, sizeof(PthTensor), offsetof(PthTensor, name), f->by_name, f->n, name);
}

/* ---- reading tensors --------------------------------------------------------------------------- */

/* The PthFile as a named tensor source: weights.c makes the dtype checks and conversions (safetensors.c's,
 * the same dtypes); the bytes come from the archive, a range of a contiguous tensor or a strided view
 * gathered whole. */
static void src_entry(const void *ctx, int i, WtEntry *w) {
    const PthTensor *t = &((const PthFile *)ctx)->t[i];
    *w = (WtEntry){t->name, t->dtype, t->ndim, t->shape, t->numel, !t->contiguous};
}
static int src_find(const void *ctx, const char *name) { return pth_find(ctx, name); }
static int src_read(const void *ctx, int i, int64_t k0, int64_t m, void *buf) {
    const PthFile *f = ctx;
    const PthTensor *t = &f->t[i];
    const PthStorage *s = &f->s[t->storage];
    size_t es = st_dtype_size(t->dtype);
    if (t->contiguous) return zip_read(&f->z, s->entry, (uint64_t)(t->offset + k0) * es, buf, (size_t)m * es);
    /* a strided view (k0 = 0, m = numel): read the span it touches (inside the storage, so bounded by the
     * file) and gather */
    int64_t last = t->offset;
    for (int d = 0; d < t->ndim; d++) last += (t->shape[d] - 1) * t->stride[d];
    size_t span = (size_t)(last - t->offset + 1);
    unsigned char *b = malloc(span * es), *out = buf;
    if (!b) {
        char nb[120];
        err_set("%s: tensor '%s': out of memory", f->name, SHOWN(t->name, strlen(t->name), nb));
        return -1;
    }
    int rc = zip_read(&f->z, s->entry, (uint64_t)t->offset * es, b, span * es);
    int64_t idx[PTH_MAX_DIMS] = {0}, pos = 0;
    for (int64_t k = 0; rc == 0 && k < m; k++) {
        memcpy(out + (size_t)k * es, b + (size_t)pos * es, es);
        for (int d = t->ndim - 1; d >= 0; d--) { /* next index in C order */
            if (t->shape[d] < 2) continue; /* its stride is never used, and was not bounded */
            pos += t->stride[d];
            if (++idx[d] < t->shape[d]) break;
            pos -= t->stride[d] * t->shape[d];
            idx[d] = 0;
        }
    }
    free(b);
    return rc;
}

WtSource pth_source(const PthFile *f) { return (WtSource){f->name, f->n, f, src_entry, src_find, src_read}; }

/* ---- parameter tables -------------------------------------------------------------------------- */

int pth_load_params(const char *path, ParamTable *t, const StLoadOpts *o, StrList *problems) {
    PthFile f;
    if (pth_open(path, &f) < 0) return -1;
    WtSource s = pth_source(&f);
    int rc = wt_load_params(&s, t, o, problems);
    pth_close(&f);
    return rc;
}
