"""Benchmark media on one node: streamed sealed upload, full download and 4 KiB range reads.

Prints medians over ``--files`` uploads of ``--size-mb`` random bytes each (documents, so no image
decoding), the download rate of the same files, the latency of random 4 KiB range reads, and for
reference the in-process AES-256-GCM chunk sealing rate. Local store by default; bounded by
``--files`` and ``--max-seconds``.

    python benchmarks/media.py [--files 12] [--size-mb 8] [--ranges 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import statistics
import tempfile
import time
from pathlib import Path

from messenger.client import MessengerClient, sms_file_reader
from messenger.launch import start_node
from messenger.media.crypto import CHUNK, Sealer

BENCH_ENV = {"MSGFLEET_CODE_RATE_PER_IP": "0", "MSGFLEET_LOG_LEVEL": "warning"}
MB = 1_000_000


def seal_rate(size: int) -> float:
    """MB/s of sealing ``size`` bytes in CHUNK pieces in this process (the node's cipher work alone)."""
    data = os.urandom(size)
    sealer = Sealer(os.urandom(32))
    start = time.perf_counter()
    for offset in range(0, size, CHUNK):
        sealer.seal(data[offset : offset + CHUNK], last=offset + CHUNK >= size)
    return size / MB / (time.perf_counter() - start)


async def run(
    url: str, sms: Path, files: int, size: int, ranges: int, max_seconds: float
) -> dict[str, float]:
    deadline = time.monotonic() + max_seconds
    client = await MessengerClient.login(url, f"+7991{secrets.randbelow(10**7):07d}", sms_file_reader(sms))
    up, down, reads, ids = [], [], [], []
    try:
        for _ in range(files):
            if time.monotonic() > deadline:
                break
            data = b"%PDF-1.4\n" + os.urandom(size - 9)
            start = time.perf_counter()
            r = await client.http.post("/v1/media", params={"kind": "document"}, content=data)
            up.append(size / MB / (time.perf_counter() - start))
            r.raise_for_status()
            ids.append(r.json()["id"])
        for media_id in ids:
            start = time.perf_counter()
            got = await client.http.get(f"/v1/media/{media_id}")
            down.append(len(got.content) / MB / (time.perf_counter() - start))
        rng = random.Random(7)
        for _ in range(ranges):
            offset = rng.randrange(0, size - 4096)
            start = time.perf_counter()
            got = await client.http.get(
                f"/v1/media/{rng.choice(ids)}", headers={"Range": f"bytes={offset}-{offset + 4095}"}
            )
            reads.append((time.perf_counter() - start) * 1000)
            assert got.status_code == 206 and len(got.content) == 4096
    finally:
        await client.close()
    return {
        "uploads": len(up),
        "upload_mb_s": statistics.median(up),
        "download_mb_s": statistics.median(down),
        "range_4k_ms_p50": statistics.median(reads),
        "range_4k_ms_p95": statistics.quantiles(reads, n=20)[18],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=12)
    parser.add_argument("--size-mb", type=float, default=8)
    parser.add_argument("--ranges", type=int, default=200)
    parser.add_argument("--max-seconds", type=float, default=120)
    args = parser.parse_args()
    size = int(args.size_mb * MB)
    env = {**BENCH_ENV, "MSGFLEET_MEDIA_DOCUMENT_MAX_BYTES": str(size)}
    with tempfile.TemporaryDirectory() as tmp, start_node(Path(tmp) / "node", env=env) as node:
        result = asyncio.run(run(node.url, node.sms_path, args.files, size, args.ranges, args.max_seconds))
    print(f"media on one node (SQLite, local store), {result['uploads']} × {args.size_mb:g} MB documents:")
    print(f"  upload (stream + sniff + SHA-256 + seal + store), median: {result['upload_mb_s']:.0f} MB/s")
    print(f"  download (read + open + stream), median:                 {result['download_mb_s']:.0f} MB/s")
    print(
        f"  4 KiB range read, {args.ranges} requests: p50 {result['range_4k_ms_p50']:.2f} ms, "
        f"p95 {result['range_4k_ms_p95']:.2f} ms"
    )
    print(f"  AES-256-GCM sealing alone (this process), {args.size_mb:g} MB: {seal_rate(size):.0f} MB/s")


if __name__ == "__main__":
    main()
