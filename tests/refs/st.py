"""Minimal safetensors reader/writer in pure Python (standard library only).

A tensor is returned as (dtype, shape, values) with values a flat list in row-major order: Python floats for F32
(exact widening to float64) and ints for I32/I64/U8. Writing converts floats to F32 (round to nearest).
"""
import array
import json
import struct
import sys

_CODES = {"F32": "f", "I32": "i", "I64": "q", "U8": "B"}


def _array(code, raw):
    a = array.array(code)
    a.frombytes(raw)
    if sys.byteorder != "little":
        a.byteswap()
    return a


def read(path):
    """Returns (tensors, metadata): tensors maps name -> (dtype, shape, list of values)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n].decode("utf-8"))
    base = 8 + n
    meta = header.pop("__metadata__", {}) or {}
    out = {}
    for name, info in header.items():
        dt = info["dtype"]
        if dt not in _CODES:
            raise ValueError("%s: tensor %s has dtype %s (only %s supported)" % (path, name, dt, sorted(_CODES)))
        b, e = info["data_offsets"]
        out[name] = (dt, list(info["shape"]), _array(_CODES[dt], data[base + b : base + e]).tolist())
    return out, meta


def write(path, tensors, metadata=None):
    """tensors: list of (name, dtype, shape, flat values) in the order to store them."""
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, dt, shape, vals in tensors:
        count = 1
        for s in shape:
            count *= s
        if count != len(vals):
            raise ValueError("%s: shape %s holds %d values, got %d" % (name, shape, count, len(vals)))
        a = array.array(_CODES[dt], vals)
        if sys.byteorder != "little":
            a.byteswap()
        raw = a.tobytes()
        header[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)  # align the data to 8 bytes, as the reference writer does
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for raw in blobs:
            f.write(raw)
