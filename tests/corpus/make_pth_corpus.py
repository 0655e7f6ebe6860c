"""Writes the .pth corpus under tests/corpus/pth/ (committed; rerun to regenerate).

good_*.pth: files lib/pth must load; each has good_*.expected.safetensors beside it holding every tensor
as lib/pth reads it (floats as float32, integers and bool as int64, C order), written by the real
safetensors library. good_torch_* come from torch.save itself (torch 1.13 here), good_hand_* from the
archive writer below (which copies torch's layout: data descriptors, 64-byte aligned data, ZIP64 end
records). bad_*.pth: files every reader must refuse with a one-line error naming the file (when opened,
or for a few when a tensor is read): truncations, broken ZIP structure, hostile pickles (os.system,
builtins.eval, INST/OBJ/NEWOBJ, unknown opcodes, deep MARKs, memo out of range), bad storages and
views, compressed entries, zip-slip names, the legacy format and a TorchScript archive.
They also seed the fuzz target fuzz_pth. Run with a Python that has torch and safetensors:
    .venv/bin/python tests/corpus/make_pth_corpus.py"""
import collections
import io
import os
import struct
import zipfile
import zlib

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pth")
os.makedirs(here, exist_ok=True)
for old in os.listdir(here):
    os.remove(os.path.join(here, old))


def raw(name, data):
    with open(os.path.join(here, name), "wb") as f:
        f.write(data)


# ---- a torch-like ZIP writer ----------------------------------------------------------------------

def mkzip(entries, dd=True, align=64, zip64=True, method=0, flags=0, comment=b""):
    """entries: [(name (str or bytes), data bytes)]. Returns (archive bytes, info) where info holds the
    offsets of each local header ('lh'), the central directory ('cd') and the end records."""
    out = bytearray()
    cen = bytearray()
    info = {"lh": []}
    for name, data in entries:
        nb = name.encode() if isinstance(name, str) else name
        stored = zlib.compress(data)[2:-4] if method == 8 else data
        crc = zlib.crc32(data)
        fl = flags | (0x0808 if dd else 0x0800)
        off = len(out)
        info["lh"].append(off)
        extra = b""
        if align:
            pad = (-(off + 30 + len(nb) + 4)) % align
            extra = b"FB" + struct.pack("<H", pad) + b"Z" * pad
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, fl, method, 0, 0, 0 if dd else crc,
                           0 if dd else len(stored), 0 if dd else len(data), len(nb), len(extra)) + nb + extra
        out += stored
        if dd:
            out += struct.pack("<IIII", 0x08074B50, crc, len(stored), len(data))
        cen += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 0x031E, 20, fl, method, 0, 0, crc, len(stored),
                           len(data), len(nb), 0, 0, 0, 0, 0, off) + nb
    cd = len(out)
    info["cd"] = cd
    out += cen
    n = len(entries)
    if zip64:
        info["eocd64"] = len(out)
        out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 0x1E, 45, 0, 0, n, n, len(cen), cd)
        info["loc64"] = len(out)
        out += struct.pack("<IIQI", 0x07064B50, 0, info["eocd64"], 1)
    info["eocd"] = len(out)
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, n, n, len(cen), cd, len(comment)) + comment
    return bytes(out), info


# ---- a pickle assembler for hand-made state_dicts --------------------------------------------------

def uni(s):
    b = s.encode() if isinstance(s, str) else s
    return b"X" + struct.pack("<I", len(b)) + b


def glob(m, n):
    return b"c" + m.encode() + b"\n" + n.encode() + b"\n"


def I(x):
    return b"J" + struct.pack("<i", x) if -2 ** 31 <= x < 2 ** 31 else b"\x8a\x08" + struct.pack("<q", x)


def tup(xs):
    return b"(" + b"".join(I(x) for x in xs) + b"t"


HOOKS = glob("collections", "OrderedDict") + b")R"


def tensor(key, stype, numel, offset, size, stride, nargs=6):
    pid = b"(" + uni("storage") + glob("torch", stype) + uni(key) + uni("cpu") + I(numel) + b"t"
    extra = b"}" if nargs == 7 else b""
    return (glob("torch._utils", "_rebuild_tensor_v2") + b"(" + pid + b"Q" + I(offset) + tup(size) + tup(stride)
            + b"\x89" + HOOKS + extra + b"tR")


def state_dict(items, proto=2):
    return b"\x80" + bytes([proto]) + b"}(" + b"".join(uni(k) + v for k, v in items) + b"u."


def archive(pkl, storages, top="archive", **kw):
    ents = [(f"{top}/data.pkl", pkl)] + [(f"{top}/data/{k}", v) for k, v in storages] + [(f"{top}/version", b"3\n")]
    return mkzip(ents, **kw)[0]


F4 = struct.pack("<4f", 1.5, -2.0, 3.25, 0.0)
GOOD_PKL = state_dict([("w", tensor("0", "FloatStorage", 4, 0, [2, 2], [2, 1]))])


def bad_pkl(name, pkl, storages=(("0", F4),)):
    raw(name, archive(pkl, list(storages)))


# ---- good files -----------------------------------------------------------------------------------

try:
    import torch
    import safetensors.torch
except ImportError as e:
    torch = None
    print(f"note: {e}; good_torch_* files and the legacy/TorchScript bad files not (re)written")


def natural(t):
    t = t.detach()
    return (t.float() if t.is_floating_point() else t.to(torch.int64)).contiguous().clone()


def expected(stem, sd):
    safetensors.torch.save_file({k: natural(v) for k, v in sd.items()}, os.path.join(here, stem + ".expected.safetensors"))


def good_hand(stem, data, sd_expected):
    raw(stem + ".pth", data)
    if torch is not None:
        expected(stem, sd_expected)


# hand-made: a plain dict, no ZIP64, no data descriptors, no alignment, another top folder name
good_hand("good_hand_plain", archive(GOOD_PKL, [("0", F4)], top="my model", dd=False, align=0, zip64=False),
          {"w": torch.tensor([[1.5, -2.0], [3.25, 0.0]])} if torch else None)
# a strided view with stride-0 broadcast inside the storage
good_hand("good_hand_views", archive(state_dict([
    ("t", tensor("0", "FloatStorage", 4, 0, [2, 2], [1, 2])),
    ("b", tensor("0", "FloatStorage", 4, 1, [2], [0])),
    ("e", tensor("0", "FloatStorage", 4, 4, [0, 5], [5, 1])),
]), [("0", F4)]), {"t": torch.tensor([[1.5, 3.25], [-2.0, 0.0]]), "b": torch.tensor([-2.0, -2.0]),
                   "e": torch.zeros(0, 5)} if torch else None)
# a dimension of size 1 with a huge stride (never used) in a strided view
good_hand("good_hand_size1_huge_stride", archive(state_dict([
    ("w", tensor("0", "FloatStorage", 4, 0, [2, 1], [2, 2 ** 63 - 1]))]), [("0", F4)]),
    {"w": torch.tensor([[1.5], [3.25]])} if torch else None)
# 7 arguments, the 7th an empty metadata dict (torch >= 2 passes metadata=...; torch 1.13 cannot load this)
good_hand("good_hand_metadata_arg", archive(state_dict([("w", tensor("0", "FloatStorage", 4, 0, [4], [1], nargs=7))]),
                                            [("0", F4)]), {"w": torch.tensor([1.5, -2.0, 3.25, 0.0])} if torch else None)
# a zip comment after the end record
good_hand("good_hand_comment", mkzip([("a/data.pkl", GOOD_PKL), ("a/data/0", F4)], comment=b"hello")[0],
          {"w": torch.tensor([[1.5, -2.0], [3.25, 0.0]])} if torch else None)

if torch is not None:
    torch.manual_seed(0)

    def save(stem, sd, **kw):
        torch.save(sd, os.path.join(here, stem + ".pth"), **kw)
        expected(stem, sd)

    base = torch.arange(24, dtype=torch.float32) / 4 - 3
    x = torch.linspace(-3, 3, 7)
    save("good_torch_dtypes", {
        "f32": torch.randn(2, 3), "f16": x.half(), "bf16": x.bfloat16(), "f64": x.double() / 3,
        "i64": torch.tensor([-(2 ** 62), 2 ** 62, 5]), "i32": torch.tensor([-(2 ** 31), 2 ** 31 - 1], dtype=torch.int32),
        "i16": torch.tensor([-5], dtype=torch.int16), "i8": torch.tensor([-128, 127], dtype=torch.int8),
        "u8": torch.tensor([0, 255], dtype=torch.uint8), "bool": torch.tensor([True, False]),
        "scalar": torch.tensor(2.5), "count": torch.tensor(100), "empty": torch.zeros(0, 3),
        "special": torch.tensor([float("inf"), -float("inf"), float("nan"), -0.0, 1e-45]),
    })
    save("good_torch_views", {
        "t": base.reshape(4, 6).t(), "slice": base.reshape(4, 6)[:, 1:4], "offset": base[5:9],
        "whole": base, "step": base[::5], "param": torch.nn.Parameter(torch.ones(2, 2)),
        "half_t": base.half().reshape(2, 12).t(),
    })

    class Small(torch.nn.Module):
        """st_tool/pth_tool's fixed table: conv1/bn1/fc with PyTorch's names."""

        def __init__(self, fc_out=3):
            super().__init__()
            self.conv1 = torch.nn.Conv2d(1, 4, 3, bias=False)
            self.bn1 = torch.nn.BatchNorm2d(4)
            self.fc = torch.nn.Linear(4, fc_out)

    m = Small()
    with torch.no_grad():
        m.bn1.running_mean.copy_(torch.tensor([0.5, -0.5, 0.25, 0.0]))
        m.bn1.running_var.copy_(torch.tensor([1.0, 2.0, 0.5, 1.5]))
        m.bn1.num_batches_tracked.fill_(12345)
    save("good_torch_small_model", m.state_dict())
    save("good_torch_small_model_proto4", m.state_dict(), pickle_protocol=4)
    save("good_torch_small_model_fc10", Small(10).state_dict())
    save("good_torch_empty", {})

    # legacy (pre-1.6) and TorchScript: "not supported"
    torch.save({"w": torch.ones(2)}, os.path.join(here, "bad_legacy.pth"), _use_new_zipfile_serialization=False)
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), os.path.join(here, "bad_torchscript.pth"))
    # a training checkpoint (nested dicts, an int): not a state_dict
    torch.save({"epoch": 3, "state_dict": m.state_dict()}, os.path.join(here, "bad_checkpoint_dict.pth"))
    torch.save([torch.ones(2)], os.path.join(here, "bad_list_top.pth"))
    torch.save({"c": torch.ones(2, dtype=torch.complex64)}, os.path.join(here, "bad_complex.pth"))

# ---- bad: structure -------------------------------------------------------------------------------

good = archive(GOOD_PKL, [("0", F4)])
g_info = mkzip([("archive/data.pkl", GOOD_PKL), ("archive/data/0", F4), ("archive/version", b"3\n")])[1]
n = len(good)
for cut in sorted({0, 1, 2, 4, 21, 22, 30, 40, 64, 100, n // 4, n // 2, g_info["cd"], g_info["cd"] + 10,
                   g_info["eocd64"], g_info["loc64"], g_info["eocd"], n - 21, n - 1}):
    raw(f"bad_trunc_{cut:05d}.pth", good[:cut])


def patched(data, off, b):
    d = bytearray(data)
    d[off:off + len(b)] = b
    return bytes(d)


cd, e64, l64, eo = g_info["cd"], g_info["eocd64"], g_info["loc64"], g_info["eocd"]
raw("bad_cd_signature.pth", patched(good, cd, b"PK\x01\x03"))
raw("bad_cd_offset_past_end.pth", patched(patched(good, e64 + 48, struct.pack("<Q", 10 ** 12)), eo + 16,
                                           b"\xff\xff\xff\xff"))
raw("bad_cd_count_huge.pth", patched(patched(good, e64 + 24, struct.pack("<QQ", 2 ** 40, 2 ** 40)), eo + 8,
                                      b"\xff\xff\xff\xff"))
raw("bad_cd_count_disagree.pth", patched(good, eo + 8, struct.pack("<HH", 2, 2)))
raw("bad_eocd64_offset.pth", patched(good, l64 + 8, struct.pack("<Q", 2 ** 63)))
raw("bad_eocd64_signature.pth", patched(good, e64, b"PK\x06\x07"))
raw("bad_lh_offset_past_cd.pth", patched(good, cd + 42, struct.pack("<I", cd + 100)))
raw("bad_lh_signature.pth", patched(good, g_info["lh"][1], b"PK\x03\x05"))
raw("bad_lh_name_differs.pth", patched(good, g_info["lh"][0] + 30, b"brchive"))
raw("bad_size_past_end.pth", patched(good, cd + 20, struct.pack("<II", 10 ** 9, 10 ** 9)))
raw("bad_size_differs.pth", patched(good, cd + 20, struct.pack("<I", 3)))
raw("bad_no_eocd.pth", good[:eo] + b"\0" * 22)
raw("bad_trailing_garbage.pth", good + b"garbage")
raw("bad_multidisk.pth", patched(good, eo + 4, struct.pack("<H", 1)))
nz, nzi = mkzip([("archive/data.pkl", GOOD_PKL), ("archive/data/0", F4)], zip64=False)
raw("bad_multidisk_plain.pth", patched(nz, nzi["eocd"] + 4, struct.pack("<HH", 1, 1)))
raw("bad_encrypted.pth", mkzip([("archive/data.pkl", GOOD_PKL), ("archive/data/0", F4)], flags=1)[0])
raw("bad_deflate.pth", mkzip([("archive/data.pkl", GOOD_PKL), ("archive/data/0", F4)], method=8)[0])
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
    z.writestr("archive/data.pkl", GOOD_PKL)
    z.writestr("archive/data/0", F4)
raw("bad_deflate_zipfile.pth", buf.getvalue())
raw("bad_empty_zip.pth", mkzip([])[0])
raw("bad_zip64_escape_no_locator.pth", mkzip([("archive/data.pkl", GOOD_PKL)], zip64=False)[0][:-22] +
    struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0))
# overlapping entries: the pickle's central sizes (its local ones are 0: data descriptor) reach into the next entry
ov, ovi = mkzip([("archive/data.pkl", GOOD_PKL), ("archive/data/0", F4)], align=0)
raw("bad_overlap.pth", patched(ov, ovi["cd"] + 20, struct.pack("<II", len(GOOD_PKL) + 30, len(GOOD_PKL) + 30)))
raw("bad_duplicate_entry.pth", mkzip([("archive/data.pkl", GOOD_PKL), ("archive/data.pkl", GOOD_PKL)])[0])
for tag, nm in [("dotdot", "archive/../data.pkl"), ("abs", "/archive/data.pkl"), ("backslash", "archive\\data.pkl"),
                ("updir_top", "../archive/data.pkl"), ("empty_component", "archive//data.pkl"),
                ("nul", b"archive/data.pkl\0x"), ("control", "archive/\x01data.pkl")]:
    raw(f"bad_zipslip_{tag}.pth", mkzip([(nm, GOOD_PKL), ("archive/data/0", F4)])[0])
raw("bad_two_top_folders.pth", mkzip([("archive/data.pkl", GOOD_PKL), ("other/data/0", F4)])[0])
raw("bad_no_top_folder.pth", mkzip([("data.pkl", GOOD_PKL)])[0])
raw("bad_no_data_pkl.pth", mkzip([("archive/data/0", F4), ("archive/version", b"3\n")])[0])
raw("bad_big_endian.pth", mkzip([("archive/data.pkl", GOOD_PKL), ("archive/byteorder", b"big"),
                                 ("archive/data/0", F4)])[0])
raw("bad_not_zip.pth", b"hello, this is not a zip archive at all" * 3)
raw("bad_bare_pickle.pth", GOOD_PKL)

# ---- bad: pickles -----------------------------------------------------------------------------------

T0 = tensor("0", "FloatStorage", 4, 0, [2, 2], [2, 1])
bad_pkl("bad_pkl_os_system.pth", b"\x80\x02" + glob("os", "system") + b"(" + uni("echo pwned") + b"tR.")
bad_pkl("bad_pkl_posix_system.pth", b"\x80\x02" + glob("posix", "system") + uni("echo pwned") + b"\x85R.")
bad_pkl("bad_pkl_builtins_eval.pth", b"\x80\x02" + glob("builtins", "eval") + uni("1+1") + b"\x85R.")
bad_pkl("bad_pkl_builtin_exec_stack_global.pth",
        b"\x80\x04\x8c\x08builtins\x8c\x04exec\x93" + uni("print(1)") + b"\x85R.")
bad_pkl("bad_pkl_getattr.pth", b"\x80\x02" + glob("builtins", "getattr") + b"." )
bad_pkl("bad_pkl_rebuild_v1.pth", b"\x80\x02}(" + uni("w") + glob("torch._utils", "_rebuild_tensor") + b")Ru.")
bad_pkl("bad_pkl_inst.pth", b"\x80\x02(ios\nsystem\n" + uni("echo") + b".")
bad_pkl("bad_pkl_obj.pth", b"\x80\x02(" + glob("collections", "OrderedDict") + b"o.")
bad_pkl("bad_pkl_newobj.pth", b"\x80\x02" + glob("collections", "OrderedDict") + b")\x81.")
bad_pkl("bad_pkl_unknown_opcode.pth", b"\x80\x02}\xff.")
bad_pkl("bad_pkl_binfloat.pth", b"\x80\x02}(" + uni("w") + b"G" + struct.pack(">d", 1.5) + b"u.")
bad_pkl("bad_pkl_dup.pth", b"\x80\x02}2.")
bad_pkl("bad_pkl_long4.pth", b"\x80\x02\x8b\x04\x00\x00\x00\x00.")
bad_pkl("bad_pkl_long1_too_big.pth", b"\x80\x02\x8a\x09" + b"\x01" * 9 + b".")
bad_pkl("bad_pkl_deep_marks.pth", b"\x80\x02" + b"(" * 1000 + b")" + b"t" * 1000 + b".")
bad_pkl("bad_pkl_deep_tuples.pth", b"\x80\x02)" + b"\x85" * 50000 + b".")
bad_pkl("bad_pkl_memo_get_range.pth", b"\x80\x02}q\x00h\x05.")
bad_pkl("bad_pkl_memo_put_range.pth", b"\x80\x02}r\x00\x00\x00\xf0.")
bad_pkl("bad_pkl_long_binget_range.pth", b"\x80\x02}q\x00j\xff\xff\xff\xff.")
bad_pkl("bad_pkl_no_stop.pth", b"\x80\x02}")
bad_pkl("bad_pkl_after_stop.pth", GOOD_PKL + b"junk")
bad_pkl("bad_pkl_stack_left.pth", b"\x80\x02}}.")
bad_pkl("bad_pkl_open_mark.pth", b"\x80\x02}(.")
bad_pkl("bad_pkl_empty_stack.pth", b"\x80\x02.")
bad_pkl("bad_pkl_pop_empty.pth", b"\x80\x02s.")
bad_pkl("bad_pkl_no_proto.pth", b"}.")
bad_pkl("bad_pkl_proto6.pth", b"\x80\x06}.")
bad_pkl("bad_pkl_empty.pth", b"")
bad_pkl("bad_pkl_string_past_end.pth", b"\x80\x02X\xff\xff\xff\x7fabc")
bad_pkl("bad_pkl_frame_past_end.pth", b"\x80\x04\x95\xff\xff\xff\xff\x00\x00\x00\x00}.")
bad_pkl("bad_pkl_global_no_newline.pth", b"\x80\x02c" + b"a" * 300)
bad_pkl("bad_pkl_setitems_odd.pth", b"\x80\x02}(" + uni("w") + b"u.")
bad_pkl("bad_pkl_setitem_on_list.pth", b"\x80\x02]" + uni("w") + uni("x") + b"s.")
bad_pkl("bad_pkl_build_on_tensor.pth", b"\x80\x02}(" + uni("w") + T0 + b"}bu.")
bad_pkl("bad_pkl_reduce_str.pth", b"\x80\x02" + uni("x") + b")R.")
bad_pkl("bad_pkl_top_int.pth", b"\x80\x02K\x05.")
bad_pkl("bad_pkl_value_int.pth", state_dict([("epoch", b"K\x05")]))
bad_pkl("bad_pkl_value_dict.pth", state_dict([("model", b"}")]))
bad_pkl("bad_pkl_key_int.pth", b"\x80\x02}(K\x01" + T0 + b"u.")
bad_pkl("bad_pkl_dup_key.pth", state_dict([("w", T0), ("w", T0)]))
bad_pkl("bad_pkl_key_not_utf8.pth", state_dict([(b"\xff\xfe", T0)]))
bad_pkl("bad_pkl_key_nul.pth", state_dict([(b"a\0b", T0)]))
bad_pkl("bad_pkl_key_empty.pth", state_dict([("", T0)]))
bad_pkl("bad_pkl_persid_not_storage.pth", b"\x80\x02(" + uni("module") + b"tQ.")
bad_pkl("bad_pkl_persid_short.pth", b"\x80\x02(" + uni("storage") + b"tQ.")
bad_pkl("bad_pkl_rebuild_5_args.pth", b"\x80\x02}(" + uni("w") + T0.replace(b"\x89" + HOOKS, HOOKS) + b"u.")
bad_pkl("bad_pkl_rebuild_metadata.pth", state_dict([("w", T0[:-2] + b"}" + uni("k") + b"K\x01stR")]))
bad_pkl("bad_pkl_param_bad_args.pth", state_dict([("w", glob("torch._utils", "_rebuild_parameter") + b"(" + T0 + b"tR")]))

# ---- bad: storages and views --------------------------------------------------------------------------

def bad_view(name, key="0", stype="FloatStorage", numel=4, offset=0, size=(2, 2), stride=(2, 1), storages=(("0", F4),)):
    bad_pkl(name, state_dict([("w", tensor(key, stype, numel, offset, list(size), list(stride)))]), storages)


bad_view("bad_storage_missing.pth", key="99")
bad_view("bad_storage_key_traversal.pth", key="../../etc/passwd")
bad_view("bad_storage_numel_mismatch.pth", numel=5)
bad_view("bad_storage_numel_huge.pth", numel=2 ** 62, size=(2,), stride=(1,))
bad_view("bad_storage_numel_negative.pth", numel=-1)
bad_view("bad_storage_type_unknown.pth", stype="ComplexFloatStorage")
bad_view("bad_storage_untyped.pth", stype="UntypedStorage")
bad_view("bad_storage_size_not_multiple.pth", stype="DoubleStorage", numel=2, size=(2,), stride=(1,),
         storages=(("0", F4 + b"abc"),))
bad_view("bad_view_past_storage.pth", size=(2, 3), stride=(3, 1))
bad_view("bad_view_offset_past.pth", offset=3, size=(2,), stride=(1,))
bad_view("bad_view_offset_negative.pth", offset=-5)
bad_view("bad_view_stride_negative.pth", size=(2,), stride=(-1,), offset=3)
bad_view("bad_view_size_negative.pth", size=(-2, 2))
bad_view("bad_view_shape_huge.pth", size=(2 ** 40, 2 ** 40), stride=(0, 0))
bad_view("bad_view_shape_overflow.pth", size=(2 ** 62, 2 ** 62, 4), stride=(0, 0, 0))
bad_view("bad_view_broadcast_more_than_storage.pth", size=(100,), stride=(0,))
bad_view("bad_view_stride_huge.pth", size=(2, 2), stride=(2 ** 62, 1))
bad_view("bad_view_9_dims.pth", size=(1,) * 9, stride=(1,) * 9)
bad_view("bad_view_rank_mismatch.pth", size=(2, 2), stride=(1,))
bad_pkl("bad_storage_same_key_other_type.pth", state_dict([
    ("a", tensor("0", "FloatStorage", 4, 0, [4], [1])), ("b", tensor("0", "IntStorage", 4, 0, [4], [1]))]))
bad_pkl("bad_bool_value.pth", state_dict([("b", tensor("0", "BoolStorage", 2, 0, [2], [1]))]),
        storages=(("0", b"\x01\x02"),))

total = sum(os.path.getsize(os.path.join(here, f)) for f in os.listdir(here))
print(f"{len(os.listdir(here))} files, {total} bytes in {here}")
