"""Media settings from ``MSGFLEET_MEDIA_*`` environment variables (read by every worker at startup).

Default size limits follow WhatsApp's published limits (WhatsApp Help Center, "About sending media":
photos, videos and voice messages up to 16 MB, documents up to 2 GB); video notes are capped at 60 s
as Telegram's round video messages are (telegram.org/blog/video-messages-and-telescope, 2017).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from messenger.errors import MessengerConfigError

MB = 1_000_000


class MediaSettings(BaseSettings):
    """Where media is stored, a file for the media key (else the key store's), per-kind limits."""

    model_config = SettingsConfigDict(env_prefix="MSGFLEET_MEDIA_", extra="ignore", frozen=True)

    backend: Literal["local", "s3"] = "local"
    dir: Path | None = Field(default=None, description="local store; default <data_dir>/media")
    key_file: Path | None = Field(default=None, description="media key (hex), else the key store's")
    s3_endpoint: str | None = None
    s3_bucket: str = "msgfleet-media"
    s3_region: str = "us-east-1"
    s3_access_key: str | None = None
    s3_secret_key: str | None = None
    s3_prefix: str = ""

    photo_max_bytes: int = Field(default=16 * MB, ge=1)
    video_max_bytes: int = Field(default=16 * MB, ge=1)
    audio_max_bytes: int = Field(default=16 * MB, ge=1)
    voice_max_bytes: int = Field(default=16 * MB, ge=1)
    video_note_max_bytes: int = Field(default=16 * MB, ge=1)
    document_max_bytes: int = Field(default=2000 * MB, ge=1)
    video_note_max_seconds: float = Field(default=60.0, gt=0)
    # Bytes kept in memory to read dimensions / durations (photos, voice and video notes fit).
    probe_max_bytes: int = Field(default=16 * MB, ge=0)
    thumbnail_px: int = Field(default=320, ge=16, le=2048)
    # Telegram's sendPhoto limit, width + height <= 10000 (core.telegram.org/bots/api#sendphoto), allows at
    # most 5000 x 5000 pixels; larger photos are refused from their header, before decoding.
    photo_max_pixels: int = Field(default=25_000_000, ge=1)

    def max_bytes(self, kind: str) -> int:
        limit: int = getattr(self, f"{kind}_max_bytes")
        return limit

    def store_dir(self, data_dir: Path) -> Path:
        return self.dir or data_dir / "media"


def load_media_settings() -> MediaSettings:
    """Media settings from the environment; a wrong value raises one line naming the variable."""
    try:
        return MediaSettings()
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        raise MessengerConfigError(f"setting MSGFLEET_MEDIA_{field.upper()}: {err['msg']}") from None
