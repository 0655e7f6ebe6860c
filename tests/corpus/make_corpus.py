"""Writes the hostile-input corpus under tests/corpus/ (committed; rerun to regenerate).

npy/: .npy files every reader must refuse with a clear error (bad_*) and a few it must accept (good_*).
wav/: audio files wav2mel must refuse (bad_*). They also seed the fuzz targets."""
import os
import struct

here = os.path.dirname(os.path.abspath(__file__))


def npy(name, dict_text, data=b"", version=(1, 0), magic=b"\x93NUMPY", raw_len=None):
    h = dict_text.encode("latin1")
    lenfmt = "<H" if version[0] == 1 else "<I"
    ln = struct.pack(lenfmt, raw_len if raw_len is not None else len(h))
    with open(os.path.join(here, "npy", name), "wb") as f:
        f.write(magic + bytes(version) + ln + h + data)


F4 = struct.pack("<4f", 1, 2, 3, 4)
ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }"
npy("good_f4.npy", ok + " " * 3 + "\n", F4)
npy("good_v2_f8.npy", "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }\n", struct.pack("<2d", 1, 2), version=(2, 0))
npy("good_be_i2.npy", "{'descr': '>i2', 'fortran_order': False, 'shape': (2, 1), }\n", struct.pack(">2h", -5, 7))
npy("bad_magic.npy", ok, F4, magic=b"\x93NUMPX")
npy("bad_version.npy", ok, F4, version=(4, 0))
npy("bad_minor.npy", ok, F4, version=(1, 7))
npy("bad_header_len_past_end.npy", ok, F4, raw_len=5000)
npy("bad_header_len_huge.npy", ok, F4, version=(2, 0), raw_len=0xFFFFFFFF)
npy("bad_truncated_data.npy", ok, F4[:7])
npy("bad_fortran.npy", "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", F4)
npy("bad_dtype_object.npy", "{'descr': '|O', 'fortran_order': False, 'shape': (4,), }", F4)
npy("bad_dtype_complex.npy", "{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", F4)
npy("bad_dtype_struct.npy", "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (4,), }", F4)
npy("bad_dtype_u8.npy", "{'descr': '<u8', 'fortran_order': False, 'shape': (2,), }", F4)
npy("bad_extra_key.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), 'evil': 1}", F4)
npy("bad_dup_key.npy", "{'descr': '<f4', 'descr': '<f8', 'fortran_order': False, 'shape': (4,)}", F4)
npy("bad_missing_shape.npy", "{'descr': '<f4', 'fortran_order': False}", F4)
npy("bad_negative_dim.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (-4,), }", F4)
npy("bad_overflow_shape.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4294967296), }", F4)
npy("bad_huge_dim.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,), }", F4)
npy("bad_too_many_dims.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1,4), }", F4)
npy("bad_lying_shape.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000,), }", F4)
npy("bad_not_tuple.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (4), }", F4)
npy("bad_code.npy", "__import__('os').system('touch /tmp/pwned')", F4)
npy("bad_unterminated.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (4,", F4)
npy("bad_nul_in_header.npy", "{'descr': '<f4\x00', 'fortran_order': False, 'shape': (4,), }", F4)
npy("bad_empty_header.npy", "", F4)
npy("bad_trailing_junk.npy", ok + " junk\n", F4)
with open(os.path.join(here, "npy", "bad_short.npy"), "wb") as f:
    f.write(b"\x93NUM")
with open(os.path.join(here, "npy", "bad_empty.npy"), "wb") as f:
    pass


def riff(chunks):
    body = b"WAVE" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def chunk(cid, data, size=None):
    return cid + struct.pack("<I", len(data) if size is None else size) + data + (b"\0" if len(data) % 2 else b"")


def fmt(channels=1, rate=8000, bits=16, tag=1):
    block = (channels * bits // 8) & 0xFFFF
    return chunk(b"fmt ", struct.pack("<HHIIHH", tag, channels, rate, (rate * block) & 0xFFFFFFFF, block, bits))


pcm = struct.pack("<100h", *range(0, 1000, 10))


def wav(name, data):
    with open(os.path.join(here, "wav", name), "wb") as f:
        f.write(data)


wav("good_pcm16.wav", riff([fmt(), chunk(b"data", pcm)]))
wav("bad_truncated_data.wav", riff([fmt(), chunk(b"data", pcm, size=200000)])[:300])
wav("bad_no_fmt.wav", riff([chunk(b"data", pcm)]))
wav("bad_no_data.wav", riff([fmt()]))
wav("bad_zero_rate.wav", riff([fmt(rate=0), chunk(b"data", pcm)]))
wav("bad_zero_channels.wav", riff([fmt(channels=0), chunk(b"data", pcm)]))
wav("bad_many_channels.wav", riff([fmt(channels=65535), chunk(b"data", pcm)]))
wav("odd_bits_7.wav", riff([fmt(bits=7), chunk(b"data", pcm)]))
wav("bad_format_tag.wav", riff([fmt(tag=0x1234), chunk(b"data", pcm)]))
wav("bad_fmt_size_huge.wav", riff([chunk(b"fmt ", b"\x01\x00", size=0x7FFFFFF0), chunk(b"data", pcm)]))
wav("bad_riff_only.wav", b"RIFF\x04\x00\x00\x00WAVE")
wav("bad_zero_samples.wav", riff([fmt(), chunk(b"data", b"")]))
wav("bad_silent.wav", riff([fmt(), chunk(b"data", b"\0" * 2000)]))
wav("bad_nan_float.wav", riff([fmt(bits=32, tag=3), chunk(b"data", struct.pack("<4f", 0.1, float("nan"), 0.2, 0.3) * 100)]))
wav("bad_inf_float.wav", riff([fmt(bits=32, tag=3), chunk(b"data", struct.pack("<4f", 0.1, float("inf"), 0.2, 0.3) * 100)]))
wav("bad_text.wav", b"this is not audio at all\n" * 10)
wav("bad_npy_as_wav.wav", b"\x93NUMPY\x01\x00" + b"x" * 100)
print("corpus written")
