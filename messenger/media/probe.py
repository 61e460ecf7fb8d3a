"""What the server reads from an upload's bytes: image size + JPEG thumbnail (Pillow), duration (mutagen)."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import mutagen
from PIL import Image, ImageOps

from messenger.errors import Unprocessable


@dataclass(frozen=True)
class ImageInfo:
    width: int
    height: int
    thumbnail: bytes  # JPEG
    thumb_width: int
    thumb_height: int


def probe_image(data: bytes, *, max_px: int) -> ImageInfo:
    """Decode the image fully (so truncated or hostile files fail here) and make a JPEG thumbnail."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                img.load()
                width, height = img.size
                thumb = ImageOps.exif_transpose(img).convert("RGB")
                thumb.thumbnail((max_px, max_px))
                out = io.BytesIO()
                thumb.save(out, "JPEG", quality=80)
    except (
        OSError,
        SyntaxError,
        ValueError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ) as exc:
        raise Unprocessable(f"the image cannot be decoded: {exc}", code="invalid_image") from None
    return ImageInfo(width, height, out.getvalue(), thumb.width, thumb.height)


def probe_duration_ms(data: bytes) -> int | None:
    """Playing time of an audio/video file that mutagen understands (Ogg Opus/Vorbis, MP3, MP4, WAV, FLAC)."""
    try:
        parsed = mutagen.File(io.BytesIO(data))
    except mutagen.MutagenError:
        return None
    length = getattr(getattr(parsed, "info", None), "length", None)
    if not length or length <= 0:
        return None
    return round(float(length) * 1000)
