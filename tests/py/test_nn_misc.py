#!/usr/bin/env python3
"""PyTorch parity of lib/nn batchnorm, activations, cross-entropy, BCE with logits, optimisers, schedules and clipping.

torch makes float32 fixtures (random inputs and parameters, fixed seed), writes them as .npy to a
temporary directory, runs the C driver ($DRIVERS/nn_misc) on them and compares every output and
gradient. The error of a tensor is max|c - torch| / max|torch| (relative to the tensor's largest
magnitude, so near-zero elements do not blow it up); the bound is 1e-4 per tensor and each line shows
the measured error. Optimiser results are compared both as parameters and as the change from the
initial parameters (which is much smaller than the parameters themselves).

Prints "ok NAME (err)" / "not ok NAME" / "skip NAME: why" lines and exits non-zero when a check failed.
Environment: DRIVERS (the directory holding nn_misc)."""
import math
import os
import subprocess
import sys
import tempfile
import warnings

warnings.filterwarnings("ignore")
try:
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError as e:
    print(f"skip test_nn_misc: {e}")
    sys.exit(0)

DRIVERS = os.environ.get("DRIVERS", "build/tests/drivers")
DRIVER = os.path.join(DRIVERS, "nn_misc")
if not os.access(DRIVER, os.X_OK):
    print(f"skip test_nn_misc: no driver {DRIVER} (make build/tests/drivers/nn_misc)")
    sys.exit(0)

TOL = 1e-4
torch.manual_seed(1234)
torch.set_num_threads(1)
tmp = tempfile.mkdtemp(prefix="nn_misc.")
failures = 0


def save(name, a):
    if isinstance(a, torch.Tensor):
        a = a.detach().numpy()
    np.save(os.path.join(tmp, name + ".npy"), a)


def load(name):
    return np.load(os.path.join(tmp, name + ".npy"))


def run(*args):
    r = subprocess.run([DRIVER, args[0], tmp] + [str(a) for a in args[1:]], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"nn_misc {args[0]} exited {r.returncode}: {r.stderr.strip()}")


def rel_err(got, want):
    got = np.asarray(got, np.float64)
    want = np.asarray(want.detach().numpy() if isinstance(want, torch.Tensor) else want, np.float64)
    if got.shape != want.shape:
        return math.inf
    scale = max(float(np.max(np.abs(want))) if want.size else 0.0, 1e-30)
    return float(np.max(np.abs(got - want))) / scale if want.size else 0.0


def check(name, got, want, tol=TOL):
    global failures
    e = rel_err(got, want)
    if e <= tol:
        print(f"ok {name} ({e:.2e})")
    else:
        failures += 1
        print(f"not ok {name} (err {e:.2e} > {tol:g})")


def section(name, fn):
    global failures
    try:
        fn()
    except Exception as ex:  # a crash in one section must not hide the others
        failures += 1
        print(f"not ok {name}: {type(ex).__name__}: {ex}")


# ---- batchnorm ------------------------------------------------------------------------------------
def test_bn():
    N, C, H, W = 4, 3, 5, 7
    bn = torch.nn.BatchNorm2d(C)
    with torch.no_grad():
        bn.weight.copy_(torch.rand(C) + 0.5)
        bn.bias.copy_(torch.randn(C) * 0.5)
        bn.running_mean.copy_(torch.randn(C) * 0.3)
        bn.running_var.copy_(torch.rand(C) + 0.5)
    save("bn_w", bn.weight)
    save("bn_b", bn.bias)
    save("bn_rm", bn.running_mean)
    save("bn_rv", bn.running_var)
    xs, dys, ys, dxs = [], [], [], []
    bn.train()
    for k in range(2):
        x = (torch.randn(N, C, H, W) * 2 + 3).requires_grad_()
        dy = torch.randn(N, C, H, W)
        y = bn(x)
        y.backward(dy)  # weight/bias gradients accumulate over the two steps, as in the C test
        xs.append(x)
        dys.append(dy)
        ys.append(y)
        dxs.append(x.grad)
        save(f"bn_x{k + 1}", x)
        save(f"bn_dy{k + 1}", dy)
    dw, db = bn.weight.grad.clone(), bn.bias.grad.clone()
    bn.eval()
    bn.weight.grad = None
    bn.bias.grad = None
    xe = xs[0].detach().clone().requires_grad_()
    ye = bn(xe)
    ye.backward(dys[0])
    conv = torch.nn.Conv2d(5, C, 3)
    save("conv_w", conv.weight)
    save("conv_b", conv.bias)
    fw, fb = torch.nn.utils.fusion.fuse_conv_bn_weights(conv.weight, conv.bias, bn.running_mean, bn.running_var,
                                                         bn.eps, bn.weight, bn.bias)
    run("bn", bn.eps, bn.momentum)
    for k in range(2):
        check(f"batchnorm train output, step {k + 1}", load(f"bn_y{k + 1}"), ys[k])
        check(f"batchnorm train dx, step {k + 1}", load(f"bn_dx{k + 1}"), dxs[k])
    check("batchnorm train dweight (accumulated over 2 steps)", load("bn_dw"), dw)
    check("batchnorm train dbias (accumulated over 2 steps)", load("bn_db"), db)
    check("batchnorm running_mean after 2 steps", load("bn_rm_out"), bn.running_mean)
    check("batchnorm running_var (unbiased) after 2 steps", load("bn_rv_out"), bn.running_var)
    check("batchnorm num_batches_tracked after 2 steps", load("bn_nbt"), bn.num_batches_tracked.float(), tol=0)
    check("batchnorm eval output", load("bn_ye"), ye)
    check("batchnorm eval dx", load("bn_dxe"), xe.grad)
    check("batchnorm eval dweight", load("bn_dwe"), bn.weight.grad)
    check("batchnorm eval dbias", load("bn_dbe"), bn.bias.grad)
    check("batchnorm frozen dx (eval, no parameter gradients)", load("bn_dxf"), xe.grad)
    check("batchnorm folded conv weight (fuse_conv_bn_weights)", load("fold_w"), fw)
    check("batchnorm folded conv bias (fuse_conv_bn_weights)", load("fold_b"), fb)


# ---- activations ----------------------------------------------------------------------------------
def test_act():
    x = torch.randn(3, 4, 5, 6) * 4
    x[0, 0, 0, :3] = torch.tensor([0.0, 30.0, -30.0])
    dy = torch.randn(3, 4, 5, 6)
    save("act_x", x)
    save("act_dy", dy)
    run("act")
    for name, f in (("relu", torch.relu), ("sigmoid", torch.sigmoid), ("silu", F.silu)):
        xx = x.clone().requires_grad_()
        y = f(xx)
        y.backward(dy)
        check(f"{name} forward", load(f"{name}_y"), y)
        check(f"{name} backward", load(f"{name}_dx"), xx.grad)
    check("residual add", load("add_y"), x + dy)


# ---- cross-entropy --------------------------------------------------------------------------------
def test_ce():
    N, C = 16, 7
    z = torch.randn(N, C) * 3
    y = torch.randint(0, C, (N,))
    w = torch.rand(C) * 2 + 0.1
    save("ce_z", z)
    save("ce_y", y.numpy().astype(np.int64))
    save("ce_w", w)
    for weighted in (0, 1):
        for smooth in (0.0, 0.1):
            for red, rname in ((0, "mean"), (1, "sum")):
                if red == 1 and not (weighted and smooth):
                    continue
                zz = z.clone().requires_grad_()
                loss = F.cross_entropy(zz, y, weight=w if weighted else None, label_smoothing=smooth, reduction=rname)
                loss.backward()
                run("ce", smooth, weighted, red)
                tag = f"{'weighted' if weighted else 'unweighted'}, label smoothing {smooth}, {rname}"
                check(f"cross-entropy loss ({tag})", load("ce_loss"), loss)
                check(f"cross-entropy dlogits ({tag})", load("ce_dz"), zz.grad)
    check("softmax probabilities", load("ce_probs"), torch.softmax(z, 1))
    try:
        from sklearn.utils.class_weight import compute_class_weight
    except ImportError:
        print("skip balanced class weights: scikit-learn is not installed")
        return
    yb = np.random.default_rng(3).choice(5, size=101, p=[0.5, 0.2, 0.15, 0.1, 0.05]).astype(np.int64)
    save("cw_y", yb)
    run("balanced", 5)
    check("balanced class weights (sklearn compute_class_weight)", load("cw_w"),
          compute_class_weight("balanced", classes=np.arange(5), y=yb), tol=1e-7)


# ---- binary cross-entropy with logits (multi-label) -----------------------------------------------
def test_bce():
    N, K = 16, 5
    z = torch.randn(N, K) * 4
    z[0, 0], z[1, 1] = 60.0, -60.0  # saturated logits: the stable form
    y = (torch.rand(N, K) < 0.4).float()
    y[N // 2:] = torch.rand(N - N // 2, K)  # soft targets in the second half
    pw = torch.rand(K) * 3 + 0.2
    save("bce_z", z)
    save("bce_y", y)
    save("bce_pw", pw)
    for weighted in (0, 1):
        for smooth in (0.0, 0.1):
            for red, rname in ((0, "mean"), (1, "sum")):
                if red == 1 and not weighted:
                    continue
                zz = z.clone().requires_grad_()
                t = y * (1 - smooth) + smooth / 2
                loss = F.binary_cross_entropy_with_logits(zz, t, pos_weight=pw if weighted else None, reduction=rname)
                loss.backward()
                run("bce", smooth, weighted, red)
                tag = f"{'pos_weight' if weighted else 'no pos_weight'}, label smoothing {smooth}, {rname}"
                check(f"BCE with logits loss ({tag})", load("bce_loss"), loss, tol=1e-6)
                check(f"BCE with logits dlogits ({tag})", load("bce_dz"), zz.grad, tol=1e-6)
    yb = (torch.rand(50, K) < torch.linspace(0.1, 0.8, K)).float()
    save("bpw_y", yb)
    run("posweight")
    pos = yb.double().sum(0)
    check("balanced pos_weight = negatives / positives per class", load("bpw_w"), ((50 - pos) / pos).float(), tol=1e-7)


# ---- optimisers -----------------------------------------------------------------------------------
def opt_fixture(steps):
    ps = [torch.randn(4, 3, 2), torch.randn(6), torch.randn(5)]
    for k, p in enumerate(ps):
        save(f"opt_p{k}", p)
    gs = [[torch.randn_like(p) for p in ps] for _ in range(steps)]
    for s in range(steps):
        for k in range(3):
            save(f"opt_g{s}_{k}", gs[s][k])
    return ps, gs


def opt_compare(name, make, ps, gs, lr_mult, cmd):
    params = [p.clone().requires_grad_() for p in ps]
    opt = make(params)
    for g in gs:
        opt.zero_grad(set_to_none=True)
        params[0].grad = g[0].clone()
        params[1].grad = g[1].clone()
        # params[2] is frozen: no gradient, so torch skips it
        opt.step()
    run(*cmd)
    for k in range(3):
        got = load(f"opt_out{k}")
        want = params[k].detach()
        check(f"{name}: param {k}{' (lr x%g)' % lr_mult if k == 1 else ''}{' (frozen)' if k == 2 else ''}", got, want)
        if k < 2:
            check(f"{name}: param {k} change", got - ps[k].numpy(), want - ps[k])


def test_optim():
    steps = 3
    ps, gs = opt_fixture(steps)
    for lr, wd in ((1e-3, 1e-2), (1e-2, 0.1)):
        mult = 0.5

        def make(params, lr=lr, wd=wd):
            return torch.optim.AdamW([{"params": [params[0], params[2]]}, {"params": [params[1]], "lr": lr * mult}],
                                     lr=lr, weight_decay=wd)
        opt_compare(f"AdamW lr {lr:g} wd {wd:g}, {steps} steps", make, ps, gs, mult,
                    ("adamw", lr, wd, 0.9, 0.999, 1e-8, steps, mult))
    for mom, damp, nest, wd in ((0.9, 0.0, 1, 1e-3), (0.9, 0.1, 0, 1e-2), (0.0, 0.0, 0, 0.0)):
        lr, mult = 0.05, 2.0

        def make(params, lr=lr, mom=mom, damp=damp, nest=nest, wd=wd):
            return torch.optim.SGD([{"params": [params[0], params[2]]}, {"params": [params[1]], "lr": lr * mult}],
                                   lr=lr, momentum=mom, dampening=damp, nesterov=bool(nest), weight_decay=wd)
        opt_compare(f"SGD momentum {mom:g} dampening {damp:g} nesterov {nest} wd {wd:g}, {steps} steps", make, ps, gs,
                    mult, ("sgd", lr, mom, damp, wd, nest, steps, mult))


# ---- schedules and clipping -----------------------------------------------------------------------
def plateau_case(name, metrics, lr, **kw):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=lr)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, **kw)
    want = []
    for m in metrics:
        sched.step(float(m))
        want.append(opt.param_groups[0]["lr"])
    save("pl_metrics", metrics)
    d = dict(mode="min", factor=0.1, patience=10, threshold=1e-4, threshold_mode="rel", cooldown=0, min_lr=0,
             eps=1e-8)
    d.update(kw)
    run("plateau", lr, int(d["mode"] == "max"), d["factor"], d["patience"], d["threshold"],
        int(d["threshold_mode"] == "abs"), d["cooldown"], d["min_lr"], d["eps"])
    check(f"ReduceLROnPlateau {name}: lr sequence over {len(metrics)} epochs", load("pl_lr"),
          np.array(want, np.float32), tol=1e-7)


def test_schedules():
    g = np.random.default_rng(7)
    # a loss that improves, then stalls (with noise below the threshold and occasional small gains)
    loss = np.concatenate([np.linspace(2.0, 1.0, 15), 1.0 + 0.00005 * g.standard_normal(40),
                           np.linspace(0.99, 0.8, 5), np.full(30, 0.8)]).astype(np.float32)
    plateau_case("min, defaults", loss, 1e-3)
    acc = np.concatenate([np.linspace(0.3, 0.7, 8), 0.7 + 0.01 * g.standard_normal(30)]).astype(np.float32)
    plateau_case("max, patience 2, cooldown 2, factor 0.5, min_lr 2e-4", acc, 1e-3, mode="max", patience=2,
                 cooldown=2, factor=0.5, min_lr=2e-4)
    plateau_case("min, abs threshold 0.01, patience 1", loss, 0.1, threshold_mode="abs", threshold=0.01, patience=1)
    plateau_case("max, abs threshold, patience 0, eps 1e-3", acc, 0.05, mode="max", threshold_mode="abs",
                 patience=0, eps=1e-3)

    # cosine with warm-up vs transformers' get_cosine_schedule_with_warmup as a LambdaLR
    base, warm, total = 0.01, 5, 50

    def lam(step):
        if step < warm:
            return float(step) / float(max(1, warm))
        progress = float(step - warm) / float(max(1, total - warm))
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * 0.5 * 2.0 * progress)))
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=base)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lam)
    want = []
    for _ in range(total + 1):
        want.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    run("cosine", base, 0.0, warm, total, total)
    check(f"cosine warm-up {warm}, {total} steps (LambdaLR, get_cosine_schedule_with_warmup)", load("cos_lr"),
          np.array(want, np.float32), tol=1e-6)
    opt = torch.optim.SGD([p], lr=base)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total, eta_min=1e-4)
    want = []
    for _ in range(total + 1):
        want.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    run("cosine", base, 1e-4, 0, total, total)
    check(f"cosine no warm-up, min_lr 1e-4 (CosineAnnealingLR T_max={total})", load("cos_lr"),
          np.array(want, np.float32), tol=1e-6)


def test_clip():
    g0, g1 = torch.randn(8, 3, 3), torch.randn(20)
    save("clip_g0", g0)
    save("clip_g1", g1)
    for max_norm in (1.0, 100.0):
        ps = [torch.nn.Parameter(torch.zeros_like(g0)), torch.nn.Parameter(torch.zeros_like(g1))]
        ps[0].grad, ps[1].grad = g0.clone(), g1.clone()
        total = torch.nn.utils.clip_grad_norm_(ps, max_norm)
        run("clip", max_norm)
        tag = "clipped" if max_norm < float(total) else "not clipped"
        check(f"clip_grad_norm_ max_norm {max_norm:g} ({tag}): total norm", load("clip_total"), total)
        check(f"clip_grad_norm_ max_norm {max_norm:g} ({tag}): gradient 0", load("clip_out0"), ps[0].grad)
        check(f"clip_grad_norm_ max_norm {max_norm:g} ({tag}): gradient 1", load("clip_out1"), ps[1].grad)


section("batchnorm", test_bn)
section("activations", test_act)
section("cross-entropy", test_ce)
section("BCE with logits", test_bce)
section("optimisers", test_optim)
section("schedules", test_schedules)
section("clipping", test_clip)
subprocess.run(["rm", "-rf", tmp])
sys.exit(1 if failures else 0)
