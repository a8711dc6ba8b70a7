"""Write minimal Bruker OPUS files, byte by byte, following ``brukeropus.file.parse``."""

import struct

import numpy as np
from brukeropus.file.constants import STRUCT_3D_INFO_BLOCK

MAGIC = b"\n\n\xfe\xfe"


def type_int(t):
    """Inverse of ``brukeropus.file.parse.get_block_type``."""
    return t[0] | t[1] << 2 | t[2] << 4 | t[3] << 10 | t[4] << 17 | t[5] << 19


def params(**values) -> bytes:
    out = b""
    for key, v in values.items():
        name = key.upper().encode()[:3].ljust(3) + b"\0"
        if isinstance(v, int):
            out += name + struct.pack("<2h", 0, 2) + struct.pack("<i", v)
        elif isinstance(v, float):
            out += name + struct.pack("<2h", 1, 4) + struct.pack("<d", v)
        else:
            s = v.encode() + b"\0"
            s += b"\0" * (-len(s) % 4)
            out += name + struct.pack("<2h", 2, len(s) // 2) + s
    return out + b"END\0" + struct.pack("<2h", 0, 0)


def series_block(y: np.ndarray) -> bytes:
    n, npt = y.shape
    fmt = "<" + "".join(e["fmt"] for e in STRUCT_3D_INFO_BLOCK)
    info_size = struct.calcsize(fmt)
    offset = 24 + 8
    out = struct.pack("<6i", 0, n, offset, 4 * npt, info_size, 1) + struct.pack("<2i", 0, n - 1)
    for row in y:
        out += row.astype("<f4").tobytes()
        info = [npt if e["key"] == "npt" else 0 for e in STRUCT_3D_INFO_BLOCK]
        out += struct.pack(fmt, *info)
    return out


def write_opus(path, y, fxv, lxv, dxu="WN", kind=4, npt=None, series=False):
    """An OPUS file holding spectra ``y`` ((C,) or (N, C) with ``series``) of data type ``kind``
    (4 absorbance, 5 transmittance) with its data status block; returns the bytes written."""
    y = np.asarray(y, dtype=np.float32)
    last = 2 if series else 0
    status = params(npt=int(npt if npt is not None else y.shape[-1]), fxv=float(fxv),
                    lxv=float(lxv), dxu=dxu, csf=1.0)
    data = series_block(y) if series else y.astype("<f4").tobytes()
    blocks = [((0, 0, 1, kind, 0, last), status), ((0, 0, 0, kind, 0, last), data)]
    max_blocks = 4
    directory_start = 24
    pos = directory_start + 12 * max_blocks
    entries, body = [], b""
    all_blocks = [((0, 0, 0, 13, 0, 0), None)] + blocks
    for t, payload in all_blocks:
        size = 12 * max_blocks if payload is None else len(payload)
        start = directory_start if payload is None else pos + len(body)
        entries.append(struct.pack("<3i", type_int(t), (size + 3) // 4, start))
        if payload is not None:
            body += payload + b"\0" * (-len(payload) % 4)
    directory = b"".join(entries).ljust(12 * max_blocks, b"\0")
    head = MAGIC + struct.pack("<d", 920622.0) + struct.pack("<3i", directory_start, max_blocks,
                                                               len(all_blocks))
    raw = head + directory + body
    with open(path, "wb") as f:
        f.write(raw)
    return raw
