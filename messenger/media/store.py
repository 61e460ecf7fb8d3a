"""Storage backends for sealed media bytes: a local directory (default) or an S3-compatible bucket."""

from __future__ import annotations

import asyncio
import os
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, Protocol

from messenger.media.settings import MediaSettings


class MediaStore(Protocol):
    """Opaque keys → sealed bytes. Keys are unique per stored version, never overwritten."""

    spool_dir: Path

    async def put(self, key: str, path: Path) -> None:
        """Move/upload the finished file at ``path`` to ``key`` (``path`` is consumed)."""

    async def read(self, key: str, start: int, length: int) -> bytes: ...

    async def delete(self, key: str) -> None: ...

    async def exists(self, key: str) -> bool: ...

    async def close(self) -> None: ...


class LocalStore:
    """Files under ``root`` (spooled uploads in ``root/.spool`` are renamed into place, same filesystem)."""

    def __init__(self, root: Path):
        self.root = root
        self.spool_dir = root / ".spool"
        self.spool_dir.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / key

    async def put(self, key: str, path: Path) -> None:
        dest = self._path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, dest)

    async def read(self, key: str, start: int, length: int) -> bytes:
        return await asyncio.to_thread(_read_range, self._path(key), start, length)

    async def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    async def exists(self, key: str) -> bool:
        return self._path(key).exists()

    async def close(self) -> None:
        return None


def _read_range(path: Path, start: int, length: int) -> bytes:
    with path.open("rb") as src:
        src.seek(start)
        return src.read(length)


class S3Store:
    """An S3-compatible bucket through one long-lived aioboto3 client; uploads go up from a local spool."""

    def __init__(self, settings: MediaSettings, spool_dir: Path):
        self.settings = settings
        self.spool_dir = spool_dir
        spool_dir.mkdir(parents=True, exist_ok=True)
        self._stack = AsyncExitStack()
        self._client: Any = None

    async def open(self) -> S3Store:
        import aioboto3

        session = aioboto3.Session(
            aws_access_key_id=self.settings.s3_access_key,
            aws_secret_access_key=self.settings.s3_secret_key,
            region_name=self.settings.s3_region,
        )
        self._client = await self._stack.enter_async_context(
            session.client("s3", endpoint_url=self.settings.s3_endpoint)
        )
        return self

    def _key(self, key: str) -> str:
        return f"{self.settings.s3_prefix}{key}"

    async def put(self, key: str, path: Path) -> None:
        try:
            await self._client.upload_file(str(path), self.settings.s3_bucket, self._key(key))
        finally:
            path.unlink(missing_ok=True)

    async def read(self, key: str, start: int, length: int) -> bytes:
        answer = await self._client.get_object(
            Bucket=self.settings.s3_bucket, Key=self._key(key), Range=f"bytes={start}-{start + length - 1}"
        )
        async with answer["Body"] as body:
            data: bytes = await body.read()
        return data

    async def delete(self, key: str) -> None:
        await self._client.delete_object(Bucket=self.settings.s3_bucket, Key=self._key(key))

    async def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            await self._client.head_object(Bucket=self.settings.s3_bucket, Key=self._key(key))
        except ClientError:
            return False
        return True

    async def close(self) -> None:
        await self._stack.aclose()


async def open_store(settings: MediaSettings, data_dir: Path) -> MediaStore:
    if settings.backend == "s3":
        return await S3Store(settings, data_dir / "media-spool").open()
    return LocalStore(settings.store_dir(data_dir))
