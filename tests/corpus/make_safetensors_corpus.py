"""Writes the safetensors corpus under tests/corpus/safetensors/ (committed; rerun to regenerate).

bad_*: files every reader must refuse with a one-line error naming the file (at opening, or for a few
of them when a tensor is read); good_*: files it must load. good_torch_* and good_numpy_* are written by
the real safetensors library (skipped with a note when it is not importable), the rest byte by byte.
They also seed the fuzz target fuzz_safetensors. Run with a Python that has safetensors, torch, numpy:
    .venv/bin/python tests/corpus/make_safetensors_corpus.py"""
import json
import os
import struct

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "safetensors")
os.makedirs(here, exist_ok=True)


def raw(name, data):
    with open(os.path.join(here, name), "wb") as f:
        f.write(data)


def st(name, header, data=b"", pad=True, hl=None):
    """A file from header text (str or bytes, written as is) and data bytes; hl overrides N."""
    h = header.encode("utf-8") if isinstance(header, str) else header
    if pad:
        h += b" " * ((8 - len(h) % 8) % 8)
    raw(name, struct.pack("<Q", len(h) if hl is None else hl) + h + data)


def T(dtype, shape, b, e):
    return {"dtype": dtype, "shape": shape, "data_offsets": [b, e]}


def hdr(d):
    return json.dumps(d, separators=(",", ":"))


F4 = struct.pack("<4f", 1, 2, 3, 4)
ok = hdr({"__metadata__": {"format": "pt"}, "w": T("F32", [2, 2], 0, 16)})

# ---- good, byte by byte --------------------------------------------------------------------------
st("good_minimal.safetensors", ok, F4)
st("good_empty.safetensors", "{}")
st("good_unpadded_unaligned.safetensors",
   hdr({"b": T("U8", [3], 0, 3), "w": T("F32", [4], 3, 19), "n": T("I64", [], 19, 27)}),
   b"\x01\x02\x03" + F4 + struct.pack("<q", 12345), pad=False)
st("good_whitespace_escapes.safetensors",
   '{ "__metadata__" : { "caf\\u00e9" : "\\"q\\"\\n\\ud83d\\ude00" } ,\n\t"a\\/b" : { "data_offsets" : [ 0 , 16 ] ,'
   ' "shape" : [ 4 ] , "dtype" : "F32" } ,\r\n "\u00e9" : {"dtype":"BF16","shape":[0,2],"data_offsets":[16,16]} }', F4)
st("good_all_dtypes_by_hand.safetensors",
   hdr({"e4": T("F8_E4M3", [2], 0, 2), "e5": T("F8_E5M2", [2], 2, 4), "u16": T("U16", [1], 4, 6),
        "u32": T("U32", [1], 6, 10), "u64": T("U64", [1], 10, 18), "bool": T("BOOL", [2], 18, 20)}),
   b"\x38\xb8\x3c\x7c\xff\xff\xff\xff\xff\xff" + struct.pack("<Q", 2 ** 63 - 1) + b"\x01\x00")

# ---- good, from the real library ----------------------------------------------------------------
try:
    import numpy as np
    import torch
    import safetensors.numpy
    import safetensors.torch

    sd = {
        "conv1.weight": (torch.arange(36, dtype=torch.float32).reshape(4, 1, 3, 3) - 18) / 8,
        "bn1.weight": torch.ones(4), "bn1.bias": torch.zeros(4),
        "bn1.running_mean": torch.tensor([0.5, -0.5, 0.25, 0.0]), "bn1.running_var": torch.tensor([1.0, 2.0, 0.5, 1.5]),
        "bn1.num_batches_tracked": torch.tensor(100, dtype=torch.int64),
        "fc.weight": torch.arange(12, dtype=torch.float32).reshape(3, 4) / 16, "fc.bias": torch.tensor([0.1, 0.2, 0.3]),
    }
    safetensors.torch.save_file(sd, os.path.join(here, "good_torch_state_dict.safetensors"), metadata={"format": "pt"})
    x = torch.linspace(-3, 3, 7)
    safetensors.torch.save_file({
        "f16": x.half(), "bf16": x.bfloat16(), "f64": x.double(), "i64_rank0": torch.tensor(7),
        "i32": torch.tensor([-(2 ** 31), 2 ** 31 - 1], dtype=torch.int32), "i16": torch.tensor([-5], dtype=torch.int16),
        "i8": torch.tensor([-128, 127], dtype=torch.int8), "u8": torch.tensor([0, 255], dtype=torch.uint8),
        "bool": torch.tensor([True, False]), "empty": torch.zeros(0, 3),
    }, os.path.join(here, "good_torch_dtypes.safetensors"))
    safetensors.numpy.save_file({"u16": np.array([1, 65535], np.uint16), "u32": np.array([4294967295], np.uint32),
                                 "u64": np.array([2 ** 63 - 1], np.uint64)},
                                os.path.join(here, "good_numpy_uints.safetensors"), metadata={"k": "v"})
except ImportError as e:
    print(f"note: {e}; good_torch_* / good_numpy_* files not (re)written")

# ---- bad: the file and the length field -----------------------------------------------------------
raw("bad_empty.safetensors", b"")
raw("bad_short.safetensors", b"\x10\x00\x00\x00\x00")
st("bad_header_len_past_end.safetensors", ok, F4, hl=4096)
st("bad_header_len_2p63.safetensors", ok, F4, hl=2 ** 63)
st("bad_header_len_max.safetensors", ok, F4, hl=2 ** 64 - 1)
st("bad_header_len_zero.safetensors", b"", F4, hl=0)
st("bad_truncated_header.safetensors", ok[:20], pad=False, hl=len(ok))
st("bad_truncated_data.safetensors", ok, F4[:12])
st("bad_trailing_data.safetensors", ok, F4 + b"\x00\x00\x00\x00")
st("bad_sizes_past_end.safetensors", hdr({"w": T("F32", [250000], 0, 1000000)}), F4)
raw("bad_not_json.safetensors", struct.pack("<Q", 16) + b"this is not JSON" + F4)
raw("bad_npy_as_safetensors.safetensors", b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }" + F4)

# ---- bad: the JSON ----------------------------------------------------------------------------------
st("bad_no_brace.safetensors", "[" + ok + "]", F4)
st("bad_leading_space.safetensors", " " + ok, F4)
st("bad_trailing_garbage.safetensors", ok + "garbage", F4)
st("bad_trailing_newline.safetensors", ok + "\n", F4, pad=False)
st("bad_two_objects.safetensors", ok + "{}", F4)
st("bad_trailing_comma.safetensors", ok[:-1] + ",}", F4)
st("bad_unterminated.safetensors", ok[:-1], F4)
st("bad_invalid_utf8.safetensors", ok.encode().replace(b'"w"', b'"\xff"'), F4)
st("bad_overlong_utf8.safetensors", ok.encode().replace(b'"w"', b'"\xc0\xb7"'), F4)
st("bad_surrogate_utf8.safetensors", ok.encode().replace(b'"w"', b'"\xed\xa0\x80"'), F4)
st("bad_escape.safetensors", ok.replace('"w"', '"\\q"'), F4)
st("bad_lone_surrogate.safetensors", ok.replace('"w"', '"\\ud800"'), F4)
st("bad_nul_escape.safetensors", ok.replace('"w"', '"\\u0000"'), F4)
st("bad_control_char.safetensors", ok.replace('"w"', '"\x07"'), F4)
st("bad_deep_nesting.safetensors", '{"w":' + "[" * 20000 + "]" * 20000 + "}", b"")
st("bad_deep_nesting_shape.safetensors", '{"w":{"dtype":"F32","shape":' + "[" * 20000 + "]" * 20000 + "}}", b"")
st("bad_deep_metadata.safetensors", '{"__metadata__":' + '{"a":' * 5000 + '"x"' + "}" * 5000 + "}", b"")

# ---- bad: the schema ------------------------------------------------------------------------------
st("bad_dup_tensor.safetensors", '{"w":%s,"w":%s}' % (hdr(T("F32", [2], 0, 8)), hdr(T("F32", [2], 8, 16))), F4)
st("bad_dup_metadata_key.safetensors", '{"__metadata__":{"a":"1","a":"2"},"w":%s}' % hdr(T("F32", [4], 0, 16)), F4)
st("bad_dup_metadata.safetensors", '{"__metadata__":{},"__metadata__":{},"w":%s}' % hdr(T("F32", [4], 0, 16)), F4)
st("bad_dup_field.safetensors", '{"w":{"dtype":"F32","dtype":"F32","shape":[4],"data_offsets":[0,16]}}', F4)
st("bad_metadata_int.safetensors", hdr({"__metadata__": {"step": 3}, "w": T("F32", [4], 0, 16)}), F4)
st("bad_metadata_nested.safetensors", hdr({"__metadata__": {"a": {"b": "c"}}, "w": T("F32", [4], 0, 16)}), F4)
st("bad_metadata_null.safetensors", hdr({"__metadata__": None, "w": T("F32", [4], 0, 16)}), F4)
st("bad_metadata_list.safetensors", hdr({"__metadata__": ["a"], "w": T("F32", [4], 0, 16)}), F4)
st("bad_tensor_not_object.safetensors", hdr({"w": [0, 16]}), F4)
st("bad_missing_dtype.safetensors", hdr({"w": {"shape": [4], "data_offsets": [0, 16]}}), F4)
st("bad_missing_offsets.safetensors", hdr({"w": {"dtype": "F32", "shape": [4]}}), F4)
st("bad_extra_field.safetensors", hdr({"w": dict(T("F32", [4], 0, 16), extra=1)}), F4)
st("bad_unknown_dtype.safetensors", hdr({"w": T("F31", [4], 0, 16)}), F4)
st("bad_dtype_lowercase.safetensors", hdr({"w": T("float32", [4], 0, 16)}), F4)
st("bad_dtype_number.safetensors", hdr({"w": T(4, [4], 0, 16)}), F4)
st("bad_negative_shape.safetensors", hdr({"w": T("F32", [-4], 0, 16)}), F4)
st("bad_float_shape.safetensors", hdr({"w": T("F32", [4.0], 0, 16)}), F4)
st("bad_exponent_shape.safetensors", hdr({"w": T("F32", [1], 0, 16)}).replace("[1]", "[4e0]"), F4)
st("bad_true_shape.safetensors", hdr({"w": T("F32", [True], 0, 16)}), F4)
st("bad_null_shape.safetensors", hdr({"w": T("F32", None, 0, 16)}), F4)
st("bad_huge_dim.safetensors", hdr({"w": T("F32", [10 ** 30], 0, 16)}), F4)
st("bad_shape_overflow.safetensors", hdr({"w": T("F32", [2 ** 32, 2 ** 32, 2 ** 32], 0, 16)}), F4)
st("bad_rank9.safetensors", hdr({"w": T("F32", [1] * 8 + [4], 0, 16)}), F4)
st("bad_one_offset.safetensors", hdr({"w": {"dtype": "F32", "shape": [4], "data_offsets": [16]}}), F4)
st("bad_float_offset.safetensors", hdr({"w": T("F32", [4], 0, 16)}).replace("16]", "16.0]"), F4)
st("bad_negative_offset.safetensors", hdr({"w": T("F32", [4], -16, 0)}), F4)
st("bad_begin_after_end.safetensors", hdr({"w": T("U8", [0], 16, 0)}), F4)

# ---- bad: the data layout -------------------------------------------------------------------------
st("bad_wrong_nbytes.safetensors", hdr({"w": T("F32", [3], 0, 16)}), F4)
st("bad_wrong_nbytes_dtype.safetensors", hdr({"w": T("F64", [4], 0, 16)}), F4)
st("bad_overlap.safetensors", hdr({"a": T("F32", [3], 0, 12), "b": T("F32", [2], 8, 16)}), F4)
st("bad_same_bytes.safetensors", hdr({"a": T("F32", [4], 0, 16), "b": T("F32", [4], 0, 16)}), F4)
st("bad_gap.safetensors", hdr({"a": T("F32", [1], 0, 4), "b": T("F32", [2], 8, 16)}), F4)
st("bad_gap_at_start.safetensors", hdr({"a": T("F32", [3], 4, 16)}), F4)
st("bad_offsets_past_end.safetensors", hdr({"a": T("F32", [4], 0, 16), "b": T("F32", [4], 16, 32)}), F4)

# ---- bad: refused when the tensor is read -----------------------------------------------------------
st("bad_bool_value.safetensors", hdr({"b": T("BOOL", [4], 0, 4)}), b"\x00\x01\x02\x01")
st("bad_u64_too_big.safetensors", hdr({"u": T("U64", [1], 0, 8)}), struct.pack("<Q", 2 ** 63))
print("safetensors corpus written")
