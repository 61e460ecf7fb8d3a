"""Encrypted attachments, as Matrix's (spec.matrix.org, client-server API, "Sending encrypted attachments").

The sending client encrypts each file with a fresh AES-256-CTR key (``cryptography``), uploads the
ciphertext with ``encrypted=true`` (the node stores and serves it as opaque bytes and never sees the
key), and puts into the message body — itself end-to-end encrypted — everything needed to fetch,
check and decrypt it::

    {"media_id", "kind", "mimetype", "size", "key": JWK {kty: oct, alg: A256CTR, k, ...}, "iv",
     "sha256" (of the ciphertext), "v": "v2", "filename"?, "width"?, "height"?,
     "thumbnail"?: {media_id, mimetype, size, key, iv, sha256, v, width, height},
     "duration_ms"?, "waveform"?}

Thumbnails (Pillow), durations (mutagen) and waveforms are made here, by the sender, with the readers in
``messenger.media.probe``; the thumbnail is a second encrypted upload with its own key. The reader
checks the SHA-256 of what it downloaded before decrypting (CTR has no authentication of its own).
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import wave
from dataclasses import dataclass
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from messenger.client.client import MessengerClient
from messenger.errors import ApiError
from messenger.media.probe import ImageInfo, probe_duration_ms, probe_image
from messenger.media.sniff import content_type_for

THUMBNAIL_PX = 320  # the node-side thumbnail size of public media (MediaSettings.thumbnail_px)
PHOTO_MAX_PIXELS = 25_000_000  # Telegram's 5000 x 5000 (MediaSettings.photo_max_pixels)
VIDEO_NOTE_MAX_MS = 60_000  # Telegram's round video messages (MediaSettings.video_note_max_seconds)
WAVEFORM_SAMPLES = (
    100  # Telegram's voice notes carry 100 samples (core.telegram.org/constructor/documentAttributeAudio)
)


class AttachmentError(Exception):
    """A file that cannot be sent as this kind, or a download that does not match its message."""


def _b64(raw: bytes, *, url: bool = False) -> str:
    """Unpadded base64 (url-safe for the JWK ``k``), as Matrix writes keys, IVs and hashes."""
    return (base64.urlsafe_b64encode(raw) if url else base64.b64encode(raw)).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    padded = text + "=" * (-len(text) % 4)
    return base64.urlsafe_b64decode(padded.replace("+", "-").replace("/", "_"))


def _ctr(key: bytes, iv: bytes) -> Any:
    return Cipher(algorithms.AES(key), modes.CTR(iv))


def encrypt(data: bytes) -> tuple[bytes, dict[str, Any]]:
    """Ciphertext and the ``key``/``iv``/``sha256`` fields; a fresh key per file. The IV's low 64 bits
    (the block counter) start at zero, as Matrix requires, so a file can be up to 2^64 blocks."""
    key, iv = os.urandom(32), os.urandom(8) + bytes(8)
    encryptor = _ctr(key, iv).encryptor()
    ciphertext = encryptor.update(data) + encryptor.finalize()
    fields = {
        "key": {
            "kty": "oct",
            "alg": "A256CTR",
            "ext": True,
            "key_ops": ["encrypt", "decrypt"],
            "k": _b64(key, url=True),
        },
        "iv": _b64(iv),
        "sha256": _b64(hashlib.sha256(ciphertext).digest()),
        "v": "v2",
    }
    return ciphertext, fields


def decrypt(ciphertext: bytes, info: dict[str, Any]) -> bytes:
    """The plaintext, after checking the ciphertext's SHA-256 against the message's."""
    if _b64(hashlib.sha256(ciphertext).digest()) != info["sha256"]:
        raise AttachmentError(f"media {info.get('media_id')}: the downloaded bytes do not match the message")
    if info["key"].get("alg") != "A256CTR":
        raise AttachmentError(f"media {info.get('media_id')}: unknown key algorithm {info['key'].get('alg')}")
    decryptor = _ctr(_unb64(info["key"]["k"]), _unb64(info["iv"])).decryptor()
    return bytes(decryptor.update(ciphertext) + decryptor.finalize())


@dataclass(frozen=True)
class Prepared:
    """What the sender knows of a file before upload: its type and the metadata it shows."""

    mimetype: str
    extra: dict[str, Any]
    thumbnail: ImageInfo | None = None


def prepare(data: bytes, kind: str) -> Prepared:
    """Check the bytes are of ``kind`` and read what the message will say of them (dimensions and a JPEG
    thumbnail of a photo, duration and waveform of a voice note, duration of audio and video)."""
    try:
        mimetype = content_type_for(kind, data[:8192])
        extra: dict[str, Any] = {}
        thumbnail = None
        if kind == "photo":
            thumbnail = probe_image(data, max_px=THUMBNAIL_PX, max_pixels=PHOTO_MAX_PIXELS)
            extra = {"width": thumbnail.width, "height": thumbnail.height}
        elif kind in ("audio", "voice", "video", "video_note"):
            duration = probe_duration_ms(data, mimetype)
            if duration is not None:
                extra["duration_ms"] = duration
            if kind == "video_note" and (duration is None or duration > VIDEO_NOTE_MAX_MS):
                raise AttachmentError(
                    f"a video note may last at most {VIDEO_NOTE_MAX_MS} ms, not {duration or 'unknown'}"
                )
            if kind == "voice" and (samples := waveform(data)) is not None:
                extra["waveform"] = samples
    except ApiError as exc:  # the node's readers raise API errors; here they are the user's file's
        raise AttachmentError(exc.detail) from None
    return Prepared(mimetype, extra, thumbnail)


def waveform(data: bytes, samples: int = WAVEFORM_SAMPLES) -> list[int] | None:
    """Peak amplitudes 0..255 of a 16-bit PCM WAV in ``samples`` buckets; ``None`` for compressed audio
    (Opus, AAC ...): decoding those needs a codec library this client does not ship."""
    try:
        with wave.open(io.BytesIO(data)) as wav:
            if wav.getsampwidth() != 2:
                return None
            pcm = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(np.int32)
    except (wave.Error, EOFError):
        return None
    if pcm.size == 0:
        return None
    peaks = np.array([np.abs(part).max() if part.size else 0 for part in np.array_split(pcm, samples)])
    top = max(int(peaks.max()), 1)
    return [int(v) for v in (peaks * 255 // top)]


async def _upload(client: MessengerClient, data: bytes, kind: str, chat_id: str | None) -> dict[str, Any]:
    ciphertext, fields = encrypt(data)
    params = {"kind": kind, "encrypted": "true"} | ({"chat_id": chat_id} if chat_id else {})
    meta = await client.request("POST", "/v1/media", params=params, content=ciphertext)
    return {"media_id": str(meta["id"]), **fields}


async def upload(
    client: MessengerClient, chat_id: str | None, data: bytes, kind: str, *, filename: str | None = None
) -> dict[str, Any]:
    """Encrypt and upload a file (and its thumbnail), shared into ``chat_id`` if given (else see
    :func:`media_ids`); the ``media`` field of the message that sends it."""
    prepared = prepare(data, kind)
    info: dict[str, Any] = {"kind": kind, "mimetype": prepared.mimetype, "size": len(data), **prepared.extra}
    if filename is not None:
        info["filename"] = filename
    info.update(await _upload(client, data, kind, chat_id))
    if (thumb := prepared.thumbnail) is not None:
        info["thumbnail"] = {
            **await _upload(client, thumb.thumbnail, "photo", chat_id),
            "mimetype": "image/jpeg",
            "size": len(thumb.thumbnail),
            "width": thumb.thumb_width,
            "height": thumb.thumb_height,
        }
    return info


def media_ids(info: dict[str, Any]) -> list[str]:
    """The node objects an attachment is made of (the file and its thumbnail), to share them."""
    return [info["media_id"], *([info["thumbnail"]["media_id"]] if "thumbnail" in info else [])]


async def send(
    client: MessengerClient,
    chat_id: str,
    data: bytes,
    kind: str,
    *,
    caption: str = "",
    filename: str | None = None,
) -> dict[str, Any]:
    """Upload ``data`` encrypted and send the message that carries its key; ``{id, seq, ts}``."""
    media = await upload(client, chat_id, data, kind, filename=filename)
    return await client.send(chat_id, {"text": caption, "media": media})


async def download(client: MessengerClient, chat_id: str, info: dict[str, Any]) -> bytes:
    """Fetch, check and decrypt an attachment (``info``: a message's ``media`` or its ``thumbnail``)."""
    response = await client.http.get(f"/v1/media/{info['media_id']}", params={"chat_id": chat_id})
    if response.status_code >= 400:
        raise AttachmentError(f"media {info['media_id']}: the node answered {response.status_code}")
    return decrypt(response.content, info)
