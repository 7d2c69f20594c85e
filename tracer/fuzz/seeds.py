#!/usr/bin/env python3
"""Seeds for the fuzz corpus from real recordings (`tracer record -o F`).

    seeds.py RECORDING NAME

writes corpus/recording/NAME.v2 (the recording with its start-up walk cut
to the processes its events name, so that seeds stay small), NAME.v1 (the
same without checksums: mutations then reach the decoder and the model
instead of stopping at a checksum), and corpus/decode/NAME-<i> (a sample of
its kernel records, one per kind and size).
"""
import json
import struct
import sys
import zlib
from pathlib import Path

MAX_FRAMES = 400


def frames(b, off, version):
    head = 12 if version >= 2 else 8
    while off + head <= len(b):
        kind, _res, n = struct.unpack_from("<HHI", b, off)
        yield kind, b[off + head: off + head + n]
        off += head + n


def main():
    src, name = Path(sys.argv[1]), sys.argv[2]
    here = Path(__file__).parent
    b = src.read_bytes()
    assert b[:8] == b"SBXTRACE", "not a recording"
    version, hlen = struct.unpack_from("<II", b, 8)
    hoff = 20 if version >= 2 else 16
    header = json.loads(b[hoff: hoff + hlen])
    fs = list(frames(b, hoff + hlen, version))
    events = [p for k, p in fs if k == 1]
    pids = {struct.unpack_from("<I", p, 40)[0] for p in events if len(p) >= 48}
    pids |= {struct.unpack_from("<I", p, 44)[0] for p in events if len(p) >= 48}
    header["snapshot"] = [p for p in header["snapshot"] if p["pid"] in pids or p["pid"] == 1][:8]
    body = fs[:MAX_FRAMES]
    if fs and fs[-1][0] == 3 and body[-1][0] != 3:
        body.append(fs[-1])
    hj = json.dumps(header, separators=(",", ":")).encode()
    for v in (1, 2):
        out = bytearray(b"SBXTRACE")
        pre = struct.pack("<II", v, len(hj))
        out += pre
        if v >= 2:
            out += struct.pack("<I", zlib.crc32(pre + hj))
        out += hj
        for kind, p in body:
            fh = struct.pack("<HHI", kind, 0, len(p))
            out += fh
            if v >= 2:
                out += struct.pack("<I", zlib.crc32(fh + p))
            out += p
        (here / "corpus/recording" / f"{name}.v{v}").write_bytes(out)
    seen = set()
    for i, p in enumerate(events):
        key = (struct.unpack_from("<I", p, 0)[0], len(p))
        if key not in seen:
            seen.add(key)
            (here / "corpus/decode" / f"{name}-{i}").write_bytes(p)


main()
