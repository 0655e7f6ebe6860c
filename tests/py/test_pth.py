#!/usr/bin/env python3
"""lib/formats/pth against PyTorch's own torch.save files, through the driver tests/drivers/pth_tool.c:
  - torchvision resnet18(weights=None) and efficientnet_b0(weights=None) state_dicts (seeded, BN buffers
    made non-trivial) saved with torch.save, converted by pth_tool to safetensors, read back with the real
    safetensors library: every tensor bit-identical to the state_dict (floats float32, counts int64),
    same names and shapes;
  - the same with pickle_protocol=4, with float16/bfloat16/float64 copies (converted to float32 exactly
    as torch's .float()), and with non-contiguous views and shared storages;
  - weights_load through pth_tool load-table: a .pth and a .safetensors of the same model load the same
    values; mismatches are named the same way for both.

Prints "ok NAME" / "not ok NAME: why" / "skip NAME: why" lines (counted by tests/run.sh) and exits 0
unless a check failed. Environment: DRIVERS (the directory holding pth_tool)."""
import os
import subprocess
import sys
import tempfile

try:
    import torch
    import safetensors.torch
except ImportError as e:
    print(f"skip test_pth: {e}")
    sys.exit(0)

DRIVERS = os.environ.get("DRIVERS")
if not DRIVERS:
    print("skip test_pth: DRIVERS is not set")
    sys.exit(0)
TOOL = os.path.join(DRIVERS, "pth_tool")
import report  # noqa: E402
from report import check, notok, ok  # noqa: E402


def tool(*args):
    return subprocess.run([TOOL, *args], capture_output=True, text=True)


def natural(t):
    t = t.detach()
    return t.float() if t.is_floating_point() else t.to(torch.int64)


def bits_equal(a, b):
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.dtype == torch.float32:
        return torch.equal(a.contiguous().view(torch.int32), b.contiguous().view(torch.int32))
    return torch.equal(a, b)


def roundtrip(name, sd, tmp, **save_kw):
    """torch.save sd, convert with pth_tool, compare every tensor bit for bit."""
    pth = os.path.join(tmp, name + ".pth")
    out = os.path.join(tmp, name + ".safetensors")
    torch.save(sd, pth, **save_kw)
    r = tool("to-safetensors", pth, out)
    if r.returncode != 0:
        notok(f"{name}: pth_tool reads it", r.stderr.strip())
        return
    got = safetensors.torch.load_file(out)
    bad = []
    if list(got) != list(sd) and sorted(got) != sorted(sd):
        bad.append(f"names differ: {sorted(set(got) ^ set(sd))[:5]}")
    for k, v in sd.items():
        if k not in got:
            continue
        want = natural(v)
        if not bits_equal(got[k], want):
            bad.append(f"{k}: {got[k].dtype} {tuple(got[k].shape)} vs {want.dtype} {tuple(want.shape)}"
                       + ("" if got[k].shape != want.shape else " values differ"))
    check(f"{name}: {len(sd)} tensors bit-identical to the state_dict", not bad, "; ".join(bad[:5]))


def seeded_state(model):
    """A model's state_dict with non-trivial values in every tensor (weights are random already)."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for n, b in model.named_buffers():
            if b.is_floating_point():
                b.copy_(torch.rand(b.shape, generator=g) + 0.5)
            else:
                b.fill_(1234)
    return model.state_dict()


def main():
    try:
        import torchvision
    except ImportError as e:
        torchvision = None
        print(f"skip torchvision models: {e}")
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        if torchvision is not None:
            r18 = seeded_state(torchvision.models.resnet18(weights=None))
            roundtrip("resnet18", r18, tmp)
            roundtrip("resnet18_proto4", r18, tmp, pickle_protocol=4)
            roundtrip("resnet18_half", {k: v.half() if v.is_floating_point() else v for k, v in r18.items()}, tmp)
            eff = seeded_state(torchvision.models.efficientnet_b0(weights=None))
            roundtrip("efficientnet_b0", eff, tmp)
            roundtrip("efficientnet_b0_bf16_f64",
                      {k: (v.bfloat16() if i % 2 else v.double()) if v.is_floating_point() else v
                       for i, (k, v) in enumerate(eff.items())}, tmp)
        base = torch.randn(6, 8)
        roundtrip("views", {
            "t": base.t(), "slice": base[1:5, 2:7], "step": base[:, ::3], "row": base[3], "shared": base,
            "expand": base[0, :1].expand(1, 1), "perm": torch.randn(2, 3, 4).permute(2, 0, 1),
            "empty": base[:0], "scalar": torch.tensor(7.25), "count": torch.tensor(5), "b": torch.tensor([True, False]),
            "i32": torch.arange(-3, 3, dtype=torch.int32), "u8": torch.arange(250, 256, dtype=torch.uint8),
        }, tmp)

        # weights_load: the same small model as .pth and as .safetensors
        class Small(torch.nn.Module):
            def __init__(self, fc_out=3):
                super().__init__()
                self.conv1 = torch.nn.Conv2d(1, 4, 3, bias=False)
                self.bn1 = torch.nn.BatchNorm2d(4)
                self.fc = torch.nn.Linear(4, fc_out)

        sd = seeded_state(Small())
        pth, st = os.path.join(tmp, "small.pth"), os.path.join(tmp, "small.safetensors")
        torch.save(sd, pth)
        safetensors.torch.save_file({k: v.contiguous() for k, v in sd.items()}, st)
        a, b = tool("load-table", pth), tool("load-table", st)
        check("load-table: .pth and .safetensors give the same table", a.returncode == 0 and a.stdout == b.stdout,
              a.stderr.strip() or "tables differ")
        lines = dict(line.split("\t") for line in a.stdout.splitlines())
        want = " ".join(f"{x:.9g}" for x in sd["fc.weight"].flatten().tolist())
        check("load-table: fc.weight has the state_dict's values", lines.get("fc.weight") == want)
        check("load-table: num_batches_tracked is 1234", lines.get("bn1.num_batches_tracked") == "1234")
        sd10 = seeded_state(Small(10))
        pth10, st10 = os.path.join(tmp, "small10.pth"), os.path.join(tmp, "small10.safetensors")
        torch.save(sd10, pth10)
        safetensors.torch.save_file({k: v.contiguous() for k, v in sd10.items()}, st10)
        a, b = tool("load-table", pth10), tool("load-table", st10)
        check("load-table: wrong shapes refused, named the same for .pth and .safetensors",
              a.returncode == 1 and "problem: wrong shape: fc.weight: file [10, 4], model [3, 4]" in a.stdout
              and a.stdout == b.stdout and a.stderr.replace(pth10, "F") == b.stderr.replace(st10, "F"),
              f"{a.stdout!r} {a.stderr!r} vs {b.stderr!r}")
        a = tool("load-table", pth10, "--skip", "fc.")
        check("load-table --skip fc.: the rest loads", a.returncode == 0 and "fc.bias\t-7 -7 -7" in a.stdout, a.stderr)
        # torch.save(model) pickles the module class: refused, nothing run
        whole = os.path.join(tmp, "whole.pth")
        torch.save(torch.nn.Linear(2, 2), whole)
        r = tool("list", whole)
        check("a pickled nn.Module (torch.save(model)) is refused naming the global",
              r.returncode == 1 and "global 'torch.nn.modules.linear.Linear' is not allowed" in r.stderr,
              r.stderr.strip())
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
