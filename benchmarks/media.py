"""Benchmark media on one node: upload, full download and 4 KiB range reads, on both paths.

Node-sealed (public media: the node sniffs, hashes and seals) and end-to-end encrypted (chat media: the
client encrypts with AES-256-CTR and hashes, ``messenger.client.attachments``; the node stores opaque
bytes). Prints medians over ``--files`` uploads of ``--size-mb`` random bytes each (documents, so no
image decoding), the download rate of the same files (for encrypted ones including the client's
SHA-256 check and decryption), the latency of random 4 KiB range reads, and for reference the
in-process AES-256-GCM chunk sealing rate. Local store by default; bounded by ``--files`` and
``--max-seconds``; rounds alternate between the paths.

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
from collections.abc import Callable
from pathlib import Path

from node_send import BENCH_ENV, node_cpu_seconds

from messenger.client import MessengerClient, attachments, sms_file_reader
from messenger.launch import start_node
from messenger.media.crypto import CHUNK, Sealer

MB = 1_000_000
PATHS = ("sealed", "encrypted")


def seal_rate(size: int) -> float:
    """MB/s of sealing ``size`` bytes in CHUNK pieces in this process (the node's cipher work alone)."""
    data = os.urandom(size)
    sealer = Sealer(os.urandom(32))
    start = time.perf_counter()
    for offset in range(0, size, CHUNK):
        sealer.seal(data[offset : offset + CHUNK], last=offset + CHUNK >= size)
    return size / MB / (time.perf_counter() - start)


async def _round(
    client: MessengerClient, cpu: Callable[[], float], *, encrypted: bool, size: int, ranges: int
) -> dict[str, list[float]]:
    """Upload one file, download it and read ``ranges`` random 4 KiB ranges of it; ``cpu`` is the node's
    CPU seconds so far (less swayed by other load on a shared machine than the wall-clock rates)."""
    data = b"%PDF-1.4\n" + os.urandom(size - 9)
    cpu0, start = cpu(), time.perf_counter()
    if encrypted:  # what the client does: encrypt + hash, then upload the opaque bytes
        ciphertext, fields = attachments.encrypt(data)
        params = {"kind": "document", "encrypted": "true"}
        r = await client.http.post("/v1/media", params=params, content=ciphertext)
    else:
        r = await client.http.post("/v1/media", params={"kind": "document"}, content=data)
    up = size / MB / (time.perf_counter() - start)
    up_cpu = (cpu() - cpu0) * 1000 / (size / MB)
    r.raise_for_status()
    media_id = r.json()["id"]
    cpu0, start = cpu(), time.perf_counter()
    got = (await client.http.get(f"/v1/media/{media_id}")).content
    down_cpu = (cpu() - cpu0) * 1000 / (size / MB)
    if encrypted:
        got = attachments.decrypt(got, {"media_id": media_id, **fields})
    down = len(got) / MB / (time.perf_counter() - start)
    assert got == data
    rng, reads = random.Random(7), []
    for _ in range(ranges):
        offset = rng.randrange(0, size - 4096)
        start = time.perf_counter()
        part = await client.http.get(
            f"/v1/media/{media_id}", headers={"Range": f"bytes={offset}-{offset + 4095}"}
        )
        reads.append((time.perf_counter() - start) * 1000)
        assert part.status_code == 206 and len(part.content) == 4096
    return {"up": [up], "down": [down], "reads": reads, "up_cpu": [up_cpu], "down_cpu": [down_cpu]}


async def run(
    url: str, sms: Path, cpu: Callable[[], float], files: int, size: int, ranges: int, max_seconds: float
) -> dict[str, dict[str, float]]:
    """Rounds alternate between the paths, so both see the same machine load over time."""
    deadline = time.monotonic() + max_seconds
    client = await MessengerClient.login(url, f"+7991{secrets.randbelow(10**7):07d}", sms_file_reader(sms))
    keys = ("up", "down", "reads", "up_cpu", "down_cpu")
    got: dict[str, dict[str, list[float]]] = {p: {k: [] for k in keys} for p in PATHS}
    try:
        for i in range(files):
            if i and time.monotonic() > deadline:
                break
            for path in PATHS if i % 2 == 0 else PATHS[::-1]:
                one = await _round(
                    client, cpu, encrypted=path == "encrypted", size=size, ranges=max(1, ranges // files)
                )
                for key, values in one.items():
                    got[path][key] += values
    finally:
        await client.close()
    return {
        path: {
            "uploads": len(r["up"]),
            "upload_mb_s": statistics.median(r["up"]),
            "download_mb_s": statistics.median(r["down"]),
            "upload_cpu_ms_per_mb": statistics.median(r["up_cpu"]),
            "download_cpu_ms_per_mb": statistics.median(r["down_cpu"]),
            "range_4k_ms_p50": statistics.median(r["reads"]),
            "range_4k_ms_p95": statistics.quantiles(r["reads"], n=20)[18]
            if len(r["reads"]) > 1
            else r["reads"][0],
        }
        for path, r in got.items()
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
        cpu = lambda: node_cpu_seconds(node)  # noqa: E731
        result = asyncio.run(
            run(node.url, node.sms_path, cpu, args.files, size, args.ranges, args.max_seconds)
        )
    sealed, e2e = result["sealed"], result["encrypted"]
    count = sealed["uploads"]
    print(f"media on one node (SQLite, local store), {count} × {args.size_mb:g} MB documents per path:")
    print("  node-sealed (public media):")
    print(
        f"    upload (stream + sniff + SHA-256 + seal + store), median:     {sealed['upload_mb_s']:.0f} MB/s"
    )
    print(
        f"    download (read + open + stream), median:                     {sealed['download_mb_s']:.0f} MB/s"
    )
    print("  end-to-end encrypted (chat media, client-side AES-256-CTR):")
    print(f"    upload (client encrypt + SHA-256, stream + store), median:   {e2e['upload_mb_s']:.0f} MB/s")
    print(f"    download (stream, client SHA-256 check + decrypt), median:   {e2e['download_mb_s']:.0f} MB/s")
    for name, r in (("node-sealed", sealed), ("encrypted", e2e)):
        print(
            f"  {name} node CPU per MB, median: upload {r['upload_cpu_ms_per_mb']:.1f} ms, "
            f"download {r['download_cpu_ms_per_mb']:.1f} ms"
        )
    for name, r in (("node-sealed", sealed), ("encrypted", e2e)):
        print(
            f"  {name} 4 KiB range read, {args.ranges} requests: p50 {r['range_4k_ms_p50']:.2f} ms, "
            f"p95 {r['range_4k_ms_p95']:.2f} ms"
        )
    print(f"  AES-256-GCM sealing alone (this process), {args.size_mb:g} MB: {seal_rate(size):.0f} MB/s")


if __name__ == "__main__":
    main()
