"""A small, fast loopback HTTP/1.1 server for the download benchmarks (asyncio, keep-alive).

Routes: ``/img/<i>.jpg`` -> a real JPEG made unique by trailing bytes (deterministic in ``i``);
``/big/<n>`` -> ``n`` bytes generated on the fly from a repeating 1 MiB block (never stored).
Run: ``python benches/bench_download_server.py PORTFILE`` (binds 127.0.0.1:0, writes the port).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import sys

BLOCK = hashlib.sha256(b"medharvest").digest() * (1 << 15)  # 1 MiB, deterministic


def base_jpeg(size: int = 96) -> bytes:
    from PIL import Image

    img = Image.frombytes("L", (size, size), bytes((i * 7) % 256 for i in range(size * size)))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


_JPEG = None


def image_bytes(i: int) -> bytes:
    global _JPEG
    if _JPEG is None:
        _JPEG = base_jpeg()
    return _JPEG + f"\n{i:08d}".encode() * 200  # ~10 KB, unique per i


def big_sha256(n: int) -> str:
    h = hashlib.sha256()
    full, rest = divmod(n, len(BLOCK))
    for _ in range(full):
        h.update(BLOCK)
    h.update(BLOCK[:rest])
    return h.hexdigest()


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            path = head.split(b" ", 2)[1].decode()
            if path.startswith("/img/"):
                body = image_bytes(int(path[5:].split(".")[0]))
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
                await writer.drain()
            elif path.startswith("/big/"):
                n = int(path[5:])
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n" % n)
                sent = 0
                while sent < n:
                    chunk = BLOCK[: min(len(BLOCK), n - sent)]
                    writer.write(chunk)
                    await writer.drain()
                    sent += len(chunk)
            else:
                writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(portfile: str) -> None:
    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
    with open(portfile + ".tmp", "w") as fh:
        fh.write(str(server.sockets[0].getsockname()[1]))
    os.replace(portfile + ".tmp", portfile)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        import uvloop  # noqa: F401 - optional speed-up, not a dependency
    except ImportError:
        pass
    asyncio.run(main(sys.argv[1]))
