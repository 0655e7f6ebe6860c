#!/usr/bin/env python3
"""lib/formats/safetensors against the real safetensors library (and PyTorch/NumPy), through the driver
tests/drivers/st_tool.c:
  - files our writer makes load with safetensors.torch/numpy, values and metadata included, into a torch
    model (load_state_dict strict), and are byte-identical to safetensors.torch.save for the same tensors;
  - files safetensors writes (F32, F16, BF16, F64, I64 rank 0, I32, I16, I8, U8, BOOL, U16/U32/U64 via
    numpy, a small ResNet-like state_dict) read here with the same values;
  - loading into a parameter table: mismatches named (missing, unexpected, wrong shape, wrong dtype),
    --skip and --allow-unexpected;
  - mutated files: whatever our reader accepts, the reference accepts too.

Prints "ok NAME" / "not ok NAME: why" / "skip NAME: why" lines (counted by tests/run.sh) and exits 0
unless a check failed. Environment: DRIVERS (the directory holding st_tool)."""
import os
import random
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import torch
    import safetensors
    import safetensors.numpy
    import safetensors.torch
except ImportError as e:
    print(f"skip test_safetensors: {e}")
    sys.exit(0)

DRIVERS = os.environ.get("DRIVERS")
if not DRIVERS:
    print("skip test_safetensors: DRIVERS is not set")
    sys.exit(0)
TOOL = os.path.join(DRIVERS, "st_tool")
import report
from report import check, notok, ok  # noqa: E402



def tool(*args):
    return subprocess.run([TOOL, *args], capture_output=True, text=True)


def unescape(s):
    out, i = [], 0
    b = s.encode("utf-8")
    res = bytearray()
    while i < len(b):
        c = b[i]
        if c == 0x5C and i + 1 < len(b):
            n = chr(b[i + 1])
            if n == "\\": res += b"\\"; i += 2; continue
            if n == "t": res += b"\t"; i += 2; continue
            if n == "n": res += b"\n"; i += 2; continue
            if n == "x": res.append(int(b[i + 2:i + 4], 16)); i += 4; continue
        res.append(c)
        i += 1
    return res.decode("utf-8")


def parse_dump(text):
    """{'meta': {k: v}, 'tensors': {name: (dtype, shape, values ndarray)}, 'order': [names]}"""
    meta, tensors, order = {}, {}, []
    for line in text.split("\n"):
        if not line:
            continue
        kind, rest = line.split(" ", 1)
        if kind == "meta":
            k, v = rest.split("\t")
            meta[unescape(k)] = unescape(v)
        elif kind == "tensor":
            name, dtype, shape, values = rest.split("\t")
            name = unescape(name)
            shape = tuple(int(x) for x in shape.split(",")) if shape else ()
            vals = values.split()
            if dtype.startswith(("F", "BF")):
                arr = np.array([float(v) for v in vals], np.float32)
            else:
                arr = np.array([int(v) for v in vals], np.int64)
            tensors[name] = (dtype, shape, arr.reshape(shape))
            order.append(name)
    return {"meta": meta, "tensors": tensors, "order": order}


def same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")


TORCH_NAME = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
              torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
              torch.bool: "BOOL"}


def expected_from_torch(t):
    """What our reader should give for a torch tensor: float32 for floats, int64 for integers/bool."""
    if t.dtype.is_floating_point:
        return t.float().numpy()
    return t.to(torch.int64).numpy()


def check_dump_matches(name, path, tensors, metadata=None):
    r = tool("dump", path)
    if r.returncode != 0:
        notok(name, f"st_tool dump failed: {r.stderr.strip()}")
        return None
    d = parse_dump(r.stdout)
    bad = []
    if set(d["tensors"]) != set(tensors):
        bad.append(f"names {sorted(d['tensors'])} != {sorted(tensors)}")
    for k, t in tensors.items():
        if k not in d["tensors"]:
            continue
        dt, shape, vals = d["tensors"][k]
        if dt != TORCH_NAME[t.dtype]:
            bad.append(f"{k}: dtype {dt} != {TORCH_NAME[t.dtype]}")
        if shape != tuple(t.shape):
            bad.append(f"{k}: shape {shape} != {tuple(t.shape)}")
        elif not same(vals, expected_from_torch(t)):
            bad.append(f"{k}: values differ")
    if metadata is not None and d["meta"] != metadata:
        bad.append(f"metadata {d['meta']} != {metadata}")
    check(name, not bad, "; ".join(bad[:5]))
    return d


class Small(torch.nn.Module):
    """The driver's fixed table: conv1/bn1/fc with PyTorch's names."""

    def __init__(self, fc_out=3):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 4, 3, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(4)
        self.fc = torch.nn.Linear(4, fc_out)


class Block(torch.nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(cout)
        self.relu = torch.nn.ReLU(inplace=True)
        self.conv2 = torch.nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = torch.nn.Sequential(torch.nn.Conv2d(cin, cout, 1, stride, bias=False),
                                                  torch.nn.BatchNorm2d(cout))

    def forward(self, x):
        idt = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(y)) + idt)


class TinyResNet(torch.nn.Module):
    """torchvision's ResNet layout (conv1, bn1, layer1.0..., fc), scaled down."""

    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 8, 7, 2, 3, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(8)
        self.relu = torch.nn.ReLU(inplace=True)
        self.maxpool = torch.nn.MaxPool2d(3, 2, 1)
        self.layer1 = torch.nn.Sequential(Block(8, 8, 1), Block(8, 8, 1))
        self.layer2 = torch.nn.Sequential(Block(8, 16, 2), Block(16, 16, 1))
        self.avgpool = torch.nn.AdaptiveAvgPool2d(1)
        self.fc = torch.nn.Linear(16, 10)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.avgpool(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(x, 1))


def main():
    if not os.access(TOOL, os.X_OK):
        notok("st_tool", f"{TOOL} not found (make build/tests/drivers/st_tool)")
        return
    torch.manual_seed(0)
    tmp = tempfile.mkdtemp(prefix="test_safetensors.")
    P = lambda n: os.path.join(tmp, n)

    # ---- (1) our writer -> the reference reader ---------------------------------------------
    r = tool("write", P("ours.safetensors"))
    check("st_tool write", r.returncode == 0, r.stderr.strip())
    names = ["conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var",
             "bn1.num_batches_tracked", "fc.weight", "fc.bias"]
    shapes = {"conv1.weight": (4, 1, 3, 3), "fc.weight": (3, 4), "fc.bias": (3,), "bn1.num_batches_tracked": ()}
    want = {}
    for i, n in enumerate(names):
        shape = shapes.get(n, (4,))
        if n.endswith("num_batches_tracked"):
            want[n] = np.array(12345, np.int64)
        else:
            k = np.arange(int(np.prod(shape)))
            want[n] = ((k % 7 - 3) / 8 + i).astype(np.float32).reshape(shape)
    want["opt.m.fc.weight"] = (-np.arange(12) / 4).astype(np.float32).reshape(3, 4)
    want_meta = {"format": "pt", "step": "42", "note": "caf\u00e9 \"quoted\"\tand\nnew line \\ \x01"}
    try:
        lt = safetensors.torch.load_file(P("ours.safetensors"))
        bad = [n for n in want if n not in lt or not same(lt[n].numpy(), want[n])]
        check("safetensors.torch.load_file reads our file (names, dtypes, shapes, values)",
              not bad and set(lt) == set(want), f"differ: {bad or sorted(set(lt) ^ set(want))}")
        check("num_batches_tracked is a rank-0 torch.int64", lt["bn1.num_batches_tracked"].dtype == torch.int64 and
              lt["bn1.num_batches_tracked"].dim() == 0 and int(lt["bn1.num_batches_tracked"]) == 12345)
        ln = safetensors.numpy.load_file(P("ours.safetensors"))
        bad = [n for n in want if n not in ln or not same(ln[n], want[n])]
        check("safetensors.numpy.load_file reads our file", not bad and set(ln) == set(want), f"differ: {bad}")
        with safetensors.safe_open(P("ours.safetensors"), framework="pt") as f:
            meta = f.metadata()
            keys = list(f.keys())
        check("metadata round trip (escapes, UTF-8, control characters)", meta == want_meta, f"{meta!r}")
        check("keys listed", sorted(keys) == sorted(want), f"{keys}")
        m = Small()
        res = m.load_state_dict({k: v for k, v in lt.items() if not k.startswith("opt.")}, strict=True)
        check("torch load_state_dict(strict=True) of our checkpoint", not res.missing_keys and not res.unexpected_keys and
              int(m.bn1.num_batches_tracked) == 12345 and torch.equal(m.fc.bias, torch.tensor([6.625, 6.75, 6.875])))
    except Exception as e:
        notok("safetensors reads our file", repr(e))
    d = check_dump_matches("our reader reads our file", P("ours.safetensors"),
                           {k: torch.from_numpy(v) for k, v in want.items()}, want_meta)
    if d:
        check("header order is table order then extras", d["order"] == names + ["opt.m.fc.weight"], f"{d['order']}")

    r = tool("write-plain", P("plain.safetensors"))
    ref = safetensors.torch.save({"count": torch.tensor(5), "a.w": torch.tensor([[0.5, -1, 2], [3.25, 1e-3, -7]]),
                                  "b.w": torch.tensor([1.0, 2, 3, 4])}, metadata={"format": "pt"})
    mine = open(P("plain.safetensors"), "rb").read() if r.returncode == 0 else b""
    check("byte-identical to safetensors.torch.save (header, padding, data)", mine == ref,
          f"ours {mine[:120]!r} vs reference {ref[:120]!r}")

    # ---- (2) the reference writer -> our reader ----------------------------------------------
    g = torch.Generator().manual_seed(1)
    rnd = lambda *s: torch.randn(*s, generator=g)
    tensors = {
        "f32": rnd(3, 5),
        "f16": (rnd(7) * 100).half(),
        "f16_special": torch.tensor([0.0, -0.0, 6e-8, 65504, float("inf"), float("-inf"), float("nan")], dtype=torch.float16),
        "bf16": (rnd(2, 3) * 1e30).bfloat16(),
        "f64": rnd(4).double() * 1e-3,
        "f64_big": torch.tensor([1e300, -1e-300, 1 / 3], dtype=torch.float64),
        "i64_rank0": torch.tensor(7, dtype=torch.int64),
        "i64": torch.tensor([-(2 ** 63), 2 ** 63 - 1, 0], dtype=torch.int64),
        "i32": torch.tensor([-(2 ** 31), 2 ** 31 - 1], dtype=torch.int32),
        "i16": torch.tensor([-32768, 32767], dtype=torch.int16),
        "i8": torch.tensor([[-128, 127], [0, -1]], dtype=torch.int8),
        "u8": torch.tensor([0, 255], dtype=torch.uint8),
        "bool": torch.tensor([True, False, True]),
        "empty": torch.zeros(0, 3),
        "scalar_f32": torch.tensor(2.5),
        "rank4": rnd(2, 1, 2, 3),
        "unicode \u00e9\u6f22 \"q\"": torch.ones(1),
    }
    meta = {"format": "pt", "epoch": "3", "json": "{\"a\": [1, 2]}"}
    safetensors.torch.save_file(tensors, P("theirs.safetensors"), metadata=meta)
    check_dump_matches("safetensors.torch.save_file: every torch dtype reads back (values, shapes, metadata)",
                       P("theirs.safetensors"), tensors, meta)
    npt = {"u16": np.array([0, 65535], np.uint16), "u32": np.array([4294967295], np.uint32),
           "u64": np.array([2 ** 63 - 1], np.uint64), "f32": np.array([1.5], np.float32)}
    safetensors.numpy.save_file(npt, P("np.safetensors"))
    r = tool("dump", P("np.safetensors"))
    if r.returncode == 0:
        dd = parse_dump(r.stdout)["tensors"]
        check("safetensors.numpy.save_file: U16/U32/U64 read as int64",
              dd["u16"][0] == "U16" and list(dd["u16"][2]) == [0, 65535] and list(dd["u32"][2]) == [4294967295] and
              list(dd["u64"][2]) == [2 ** 63 - 1] and dd["f32"][2][0] == 1.5)
    else:
        notok("safetensors.numpy.save_file: U16/U32/U64 read as int64", r.stderr.strip())
    safetensors.numpy.save_file({"u64": np.array([2 ** 63], np.uint64)}, P("u64big.safetensors"))
    r = tool("dump", P("u64big.safetensors"))
    check("U64 >= 2^63 is refused as int64, naming file and tensor", r.returncode == 1 and
          P("u64big.safetensors") in r.stderr and "tensor 'u64'" in r.stderr, r.stderr.strip())

    # a torchvision-like state_dict, after some training steps (running stats, num_batches_tracked)
    net = TinyResNet()
    net.train()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    for _ in range(3):
        loss = net(torch.randn(4, 1, 32, 32, generator=g)).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    sd = {k: v.contiguous() for k, v in net.state_dict().items()}
    safetensors.torch.save_file(sd, P("resnet.safetensors"))
    d = check_dump_matches(f"ResNet-like state_dict ({len(sd)} tensors) reads back exactly", P("resnet.safetensors"), sd)
    if d:
        nbt = d["tensors"]["layer2.0.downsample.1.num_batches_tracked"]
        check("num_batches_tracked: I64 rank 0 with the right count", nbt[0] == "I64" and nbt[1] == () and int(nbt[2]) == 3)
    half = {k: (v.half() if v.is_floating_point() else v) for k, v in sd.items()}
    safetensors.torch.save_file(half, P("resnet16.safetensors"))
    check_dump_matches("the same converted to F16 reads back (F16 -> float32 exact)", P("resnet16.safetensors"), half)

    # ---- (3) loading into a parameter table --------------------------------------------------
    def small_sd(fc_out=3, nbt=9, **kw):
        m = Small(fc_out)
        with torch.no_grad():
            for p in m.parameters():
                p.copy_(torch.randn(p.shape, generator=g))
            m.bn1.running_mean.copy_(torch.randn(4, generator=g))
            m.bn1.running_var.copy_(torch.rand(4, generator=g) + 0.5)
        m.bn1.num_batches_tracked.fill_(nbt)
        return {k: v.clone() for k, v in m.state_dict().items()}

    def table_of(stdout):
        return {n: v for n, (dt, sh, v) in parse_dump(stdout)["tensors"].items()}

    sd = small_sd()
    safetensors.torch.save_file(sd, P("small.safetensors"))
    r = tool("load-table", P("small.safetensors"))
    if r.returncode == 0:
        tb = table_of(r.stdout)
        bad = [k for k in sd if not same(tb.get(k, np.zeros(0)), expected_from_torch(sd[k]))]
        check("torch state_dict loads into the table (strict), count included", not bad and int(tb["bn1.num_batches_tracked"]) == 9,
              f"differ: {bad}")
    else:
        notok("torch state_dict loads into the table (strict), count included", r.stderr.strip())
    sdb = {k: v.bfloat16() if v.is_floating_point() else v for k, v in sd.items()}
    safetensors.torch.save_file(sdb, P("small_bf16.safetensors"))
    r = tool("load-table", P("small_bf16.safetensors"))
    check("BF16 weights load into the table", r.returncode == 0 and
          same(table_of(r.stdout)["fc.weight"], sdb["fc.weight"].float().numpy()), r.stderr.strip())

    sd5 = small_sd(fc_out=5)
    safetensors.torch.save_file(sd5, P("fc5.safetensors"))
    r = tool("load-table", P("fc5.safetensors"))
    check("other classes: refused, both fc tensors named with shapes", r.returncode == 1 and
          P("fc5.safetensors") + ": does not match the model: 2 wrong shape (fc.weight: file [5, 4], model [3, 4], "
          "fc.bias: file [5], model [3])" in r.stderr and
          "problem: wrong shape: fc.bias: file [5], model [3]" in r.stdout, r.stderr.strip())
    r = tool("load-table", P("fc5.safetensors"), "--skip", "fc.")
    if r.returncode == 0:
        tb = table_of(r.stdout)
        check("--skip fc. loads the rest and keeps fc", (tb["fc.weight"] == -7).all() and (tb["fc.bias"] == -7).all() and
              same(tb["conv1.weight"], sd5["conv1.weight"].numpy()))
    else:
        notok("--skip fc. loads the rest and keeps fc", r.stderr.strip())

    sdx = dict(sd, **{"extra.weight": torch.ones(2), "opt.m.fc.bias": torch.zeros(3)})
    del sdx["bn1.running_var"]
    sdx["bn1.num_batches_tracked"] = torch.tensor(9.0)
    safetensors.torch.save_file(sdx, P("mixed.safetensors"))
    r = tool("load-table", P("mixed.safetensors"))
    lines = [l for l in r.stdout.split("\n") if l.startswith("problem: ")]
    check("missing, unexpected and wrong dtype all named at once", r.returncode == 1 and
          "1 missing (bn1.running_var (model [4]))" in r.stderr and
          "2 unexpected (" in r.stderr and "extra.weight (F32 [2])" in r.stderr and "opt.m.fc.bias (F32 [3])" in r.stderr and
          "1 wrong dtype (bn1.num_batches_tracked: file F32, model needs I64)" in r.stderr and len(lines) == 4,
          r.stderr.strip())
    del sdx["extra.weight"]
    sdx["bn1.running_var"] = sd["bn1.running_var"]
    sdx["bn1.num_batches_tracked"] = sd["bn1.num_batches_tracked"]
    safetensors.torch.save_file(sdx, P("opt.safetensors"))
    r = tool("load-table", P("opt.safetensors"))
    check("an unexpected tensor is refused by default", r.returncode == 1 and "1 unexpected (opt.m.fc.bias" in r.stderr,
          r.stderr.strip())
    r = tool("load-table", P("opt.safetensors"), "--allow-unexpected")
    check("--allow-unexpected loads", r.returncode == 0, r.stderr.strip())
    r = tool("load-table", P("opt.safetensors"), "--skip", "opt.")
    check("--skip opt. loads", r.returncode == 0, r.stderr.strip())

    # ---- (4) mutations: never looser than the reference ----------------------------------------
    base = bytearray(open(P("theirs.safetensors"), "rb").read())
    hl = int.from_bytes(base[:8], "little")
    rng = random.Random(1234)
    looser, stricter, agree = [], 0, 0
    tokens = [b"-", b"1", b"0", b".5", b"e3", b"\"", b"\\", b"\\u0000", b"{", b"}", b"[", b"]", b",", b":", b" ",
              b"\n", b"null", b"true", b"\xff", b"\xc3", b"99999999999999999999", b"F32", b"I64", b"BOOL"]
    nmut = int(os.environ.get("ST_MUTATIONS", "300"))
    for it in range(nmut):
        m = bytearray(base)
        kind = it % 4
        if kind == 0:  # one byte of the header
            i = 8 + rng.randrange(hl)
            m[i] = rng.randrange(256)
        elif kind == 1:  # a token replaced
            i = 8 + rng.randrange(hl)
            t = rng.choice(tokens)
            m[i:i + len(t)] = t
        elif kind == 2:  # a digit in data_offsets or shape changed
            digits = [i for i in range(8, 8 + hl) if 0x30 <= m[i] <= 0x39]
            i = rng.choice(digits)
            m[i] = 0x30 + rng.randrange(10)
        else:  # truncated or extended
            m = m[:rng.randrange(len(m))] if rng.random() < 0.5 else m + bytes(rng.randrange(1, 9))
        path = P("mut.safetensors")
        open(path, "wb").write(bytes(m))
        try:  # the reference's validation is all in opening (the Rust deserialize)
            with safetensors.safe_open(path, framework="pt") as f:
                f.keys()
            ref_ok = True
        except Exception:
            ref_ok = False
        r = tool("dump", path)
        ours_ok = r.returncode == 0
        if not ours_ok and (r.returncode != 1 or path not in r.stderr or r.stderr.count("\n") != 1):
            looser.append(f"mutation {it}: exit {r.returncode}, {r.stderr.strip()[:200]!r}")
        elif ours_ok and not ref_ok:
            looser.append(f"mutation {it}: we accept what safetensors refuses")
        elif ref_ok and not ours_ok:
            stricter += 1
        else:
            agree += 1
    check(f"{nmut} mutated files: never looser than safetensors, one-line errors naming the file "
          f"({agree} agree, {stricter} refused only by us)", not looser, "; ".join(looser[:3]))


main()
sys.exit(1 if report.failures else 0)
