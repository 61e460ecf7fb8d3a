"""Content type from the bytes (``filetype``'s magic numbers), never from the file name or header.

Each kind of upload accepts a set of sniffed types; documents accept anything and are served as the
sniffed type, ``text/plain`` for UTF-8 text, else ``application/octet-stream``.
"""

from __future__ import annotations

import filetype

from messenger.errors import ApiError

SNIFF_BYTES = 8192  # filetype reads at most the first 8 KiB (filetype.utils._NUM_SIGNATURE_BYTES)

KINDS = ("photo", "video", "audio", "voice", "video_note", "document")
_AUDIO = {"audio/mpeg", "audio/ogg", "audio/mp4", "audio/x-wav", "audio/x-flac", "audio/aac", "audio/amr"}
ACCEPTED: dict[str, frozenset[str]] = {
    "photo": frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"}),
    "video": frozenset({"video/mp4", "video/quicktime", "video/webm", "video/x-matroska", "video/3gpp"}),
    "audio": frozenset(_AUDIO),
    "voice": frozenset(
        {"audio/ogg", "audio/mp4", "audio/mpeg", "audio/aac", "audio/amr", "audio/webm", "audio/x-wav"}
    ),
    "video_note": frozenset({"video/mp4", "video/webm", "video/quicktime"}),
}
# filetype names a WebM container video/webm; a voice recording in one (browsers' MediaRecorder) is audio.
_AS_AUDIO = {"video/webm": "audio/webm"}


class UnsupportedMediaType(ApiError):
    status, code = 415, "unsupported_media_type"


def sniff(head: bytes) -> str:
    """The MIME type that the first bytes of an object show."""
    kind = filetype.guess(head[:SNIFF_BYTES])
    if kind is not None:
        return str(kind.mime)
    if head and b"\x00" not in head and _utf8_prefix(head[:SNIFF_BYTES]):
        return "text/plain"
    return "application/octet-stream"


def _utf8_prefix(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(data) - 3  # a multi-byte character cut at the sniff window
    return True


def content_type_for(kind: str, head: bytes) -> str:
    """The type an upload of ``kind`` is stored and served as; 415 if its bytes are not of that kind."""
    mime = sniff(head)
    if kind == "document":
        return mime
    if kind in ("voice", "audio"):
        mime = _AS_AUDIO.get(mime, mime)
    if mime not in ACCEPTED[kind]:
        allowed = ", ".join(sorted(ACCEPTED[kind]))
        raise UnsupportedMediaType(f"the bytes of this {kind} are {mime}, expected one of {allowed}")
    return mime
