"""What the server reads from an upload's bytes: image size + JPEG thumbnail (Pillow), duration (mutagen)."""

from __future__ import annotations

import io
import struct
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


def probe_image(data: bytes, *, max_px: int, max_pixels: int) -> ImageInfo:
    """Decode the image fully (so truncated or hostile files fail here) and make a JPEG thumbnail.

    The size comes from the header, before any pixel is decoded: an image over ``max_pixels`` is refused
    unread (a 300 KB PNG can claim 8900 × 8900 and inflate to 300 MB per copy). This check is explicit
    rather than through ``Image.MAX_IMAGE_PIXELS``, a process-wide global, which would also only warn
    below twice its value."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size
                if width * height > max_pixels:
                    raise Unprocessable(
                        f"the image is {width} × {height} pixels, more than the {max_pixels} allowed",
                        code="image_too_large",
                    )
                img.draft("RGB", (max_px, max_px))  # JPEG: decode at the scale the thumbnail needs
                img.load()
                img.thumbnail((max_px, max_px))  # shrink first: the copies below are thumbnail-sized
                thumb = ImageOps.exif_transpose(img).convert("RGB")
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


# Sniffed types whose container mutagen parses (mutagen.File: OggOpus/OggVorbis, MP3, MP4, WAVE, FLAC):
# an upload of one of these that mutagen cannot read is truncated or damaged. Other accepted types
# (WebM/Matroska, QuickTime, 3GPP, AAC, AMR) are checked by their magic number only.
PARSED_TYPES = frozenset({"audio/ogg", "audio/mpeg", "audio/mp4", "video/mp4", "audio/x-wav", "audio/x-flac"})


def probe_duration_ms(data: bytes, content_type: str) -> int | None:
    """Playing time of an audio/video file that mutagen understands; ``None`` for the types it does not
    parse (:data:`PARSED_TYPES`), 422 ``invalid_media`` for one of those types that it cannot read."""
    try:
        parsed = mutagen.File(io.BytesIO(data))
    except (mutagen.MutagenError, ValueError, struct.error, EOFError):
        parsed = None
    if parsed is None and content_type in PARSED_TYPES:
        raise Unprocessable(
            f"the file cannot be read as {content_type}: it is truncated or damaged", code="invalid_media"
        )
    length = getattr(getattr(parsed, "info", None), "length", None)
    if not length or length <= 0:
        return None
    return round(float(length) * 1000)
