"""Small real media files made by the tests: PNG/JPEG (Pillow), Ogg Opus and MP4 headers (mutagen/struct),
WAV (wave)."""

from __future__ import annotations

import io
import math
import struct
import wave

from mutagen.ogg import OggPage
from PIL import Image

OPUS_RATE = 48_000  # Opus granule positions count 48 kHz samples (RFC 7845 §4)
PRE_SKIP = 312


def png(width: int, height: int) -> bytes:
    img = Image.new("RGB", (width, height))
    img.putdata([((x * 7) % 256, (y * 3) % 256, (x ^ y) % 256) for y in range(height) for x in range(width)])
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def ogg_opus(seconds: float) -> bytes:
    """An Ogg Opus stream whose last granule position says it plays ``seconds`` (RFC 7845 headers)."""
    head = b"OpusHead" + bytes([1, 1]) + struct.pack("<HIhB", PRE_SKIP, OPUS_RATE, 0, 0)
    tags = b"OpusTags" + struct.pack("<I", 4) + b"test" + struct.pack("<I", 0)
    audio = b"\xfc" + bytes(40)
    out = io.BytesIO()
    packets = [(head, 0), (tags, 0), (audio, PRE_SKIP + round(seconds * OPUS_RATE))]
    for seq, (packet, granule) in enumerate(packets):
        page = OggPage()
        page.packets, page.position, page.serial, page.sequence = [packet], granule, 1, seq
        page.first, page.last = seq == 0, seq == len(packets) - 1
        out.write(page.write())
    return out.getvalue()


def wav(seconds: float, rate: int = 8000) -> bytes:
    """A 16-bit mono WAV whose loudness rises over its length (a waveform with a shape)."""
    frames = int(seconds * rate)
    samples = [int(30000 * (i / frames) * math.sin(i / 3)) for i in range(frames)]
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(struct.pack(f"<{frames}h", *samples))
    return out.getvalue()


def _box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", 8 + len(body)) + kind + body


def mp4(seconds: float, timescale: int = 1000) -> bytes:
    """An ISO BMFF file (ftyp + moov/mvhd, ISO/IEC 14496-12 §8.2.2) whose movie header says ``seconds``."""
    matrix = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
    mvhd = (
        bytes(4)
        + struct.pack(">IIII", 0, 0, timescale, round(seconds * timescale))
        + b"\x00\x01\x00\x00\x01\x00"
        + bytes(10)
        + matrix
        + bytes(24)
        + struct.pack(">I", 2)
    )
    ftyp = b"isom" + struct.pack(">I", 512) + b"isomiso2mp41"
    return _box(b"ftyp", ftyp) + _box(b"moov", _box(b"mvhd", mvhd)) + _box(b"mdat", bytes(2048))


S3_RETENTION = {"group": 3600}  # s3_node keeps an hour of group history (private chats: forever)
BUCKET = "msgfleet-media-test"  # created on the moto server by the s3_endpoint fixture
CREDS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
