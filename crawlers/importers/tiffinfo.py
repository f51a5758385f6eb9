"""The first image header of a TIFF / BigTIFF file (SVS slides, PAIP masks), without decoding pixels.

Whole-slide masks are tens of thousands of pixels a side (PIL refuses them as decompression bombs
before reading a byte of pixels); their size, bit depth and compression are all an importer needs
to check that a mask belongs to its slide. :func:`tiff_header` reads IFD 0 only.
"""

from __future__ import annotations

import struct
from pathlib import Path

#: Tag number -> name, for the tags read.
TAGS = {256: "width", 257: "height", 258: "bits_per_sample", 259: "compression", 277: "samples_per_pixel",
        322: "tile_width", 323: "tile_length"}
#: TIFF field type -> (struct code, size).
_TYPES = {1: ("B", 1), 3: ("H", 2), 4: ("I", 4), 16: ("Q", 8)}


class TiffError(ValueError):
    """Not a TIFF file, or its first header is truncated."""


def tiff_header(path: str | Path) -> dict:
    """``{width, height, bits_per_sample, compression, samples_per_pixel, bigtiff[, tile_width, tile_length]}``."""
    path = Path(path)
    with open(path, "rb") as fh:
        head = fh.read(16)
        if head[:2] not in (b"II", b"MM"):
            raise TiffError(f"{path.name}: not a TIFF file (starts {head[:4]!r})")
        e = "<" if head[:2] == b"II" else ">"
        magic = struct.unpack(e + "H", head[2:4])[0]
        if magic == 42:
            big, (ifd,) = False, struct.unpack(e + "I", head[4:8])
        elif magic == 43:
            big, (ifd,) = True, struct.unpack(e + "Q", head[8:16])
        else:
            raise TiffError(f"{path.name}: not a TIFF file (magic number {magic})")
        fh.seek(ifd)
        count_size, entry_size = (8, 20) if big else (2, 12)
        raw = fh.read(count_size)
        if len(raw) < count_size:
            raise TiffError(f"{path.name}: truncated TIFF (no image header at offset {ifd})")
        (n,) = struct.unpack(e + ("Q" if big else "H"), raw)
        entries = fh.read(n * entry_size)
        if len(entries) < n * entry_size:
            raise TiffError(f"{path.name}: truncated TIFF image header")
        out: dict = {"bigtiff": big}
        inline = 8 if big else 4
        for i in range(n):
            ent = entries[i * entry_size:(i + 1) * entry_size]
            tag, typ = struct.unpack(e + "HH", ent[:4])
            if tag not in TAGS or typ not in _TYPES:
                continue
            code, size = _TYPES[typ]
            count = struct.unpack(e + ("Q" if big else "I"), ent[4:12] if big else ent[4:8])[0]
            value = ent[12:] if big else ent[8:]
            if count * size > inline:            # stored elsewhere: the field holds its offset
                (offset,) = struct.unpack(e + ("Q" if big else "I"), value)
                fh.seek(offset)
                value = fh.read(size)
                if len(value) < size:
                    raise TiffError(f"{path.name}: truncated TIFF tag {tag}")
            out[TAGS[tag]] = struct.unpack(e + code, value[:size])[0]
    if "width" not in out or "height" not in out:
        raise TiffError(f"{path.name}: TIFF image header without width/height")
    out.setdefault("samples_per_pixel", 1)
    return out
