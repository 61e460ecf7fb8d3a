"""Sample WhatsApp exports (Android and iOS formats) and their media, for the importer and CLI tests."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from PIL import Image

LRM = "\u200e"

ANDROID = """12/31/23, 21:05 - Messages and calls are end-to-end encrypted. Tap to learn more.
12/31/23, 21:06 - Alice created group "Trip"
12/31/23, 21:07 - Alice: Hello everyone
1/1/24, 09:15 - Bob: Happy new year!
This is a second line
and a third
1/1/24, 09:16 - Alice: IMG-20240101-WA0001.jpg (file attached)
look at this
1/1/24, 09:17 - Bob: <Media omitted>
1/1/24, 09:18 - Carol: VID-20240101-WA0002.mp4 (file attached)
1/1/24, 09:19 - Carol: This message was deleted
1/1/24, 09:20 - Bob left
1/1/24, 21:30 - Carol: see you
"""

IOS = f"""[31.12.23, 21:05:00] Trip: {LRM}Messages and calls are end-to-end encrypted.
[31.12.23, 21:07:10] Alice: Hello everyone
[01.01.24, 09:15:02] Bob: Happy new year!
Second line
[01.01.24, 09:16:00] Alice: {LRM}<attached: 00000005-PHOTO-2024-01-01-09-16-00.jpg>
[01.01.24, 09:17:00] Bob: {LRM}image omitted
[01.01.24, 09:18:00] Trip: {LRM}Bob changed the group description
[01.01.24, 23:59:59] Bob: bye
"""


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 30, 30)).save(out, "JPEG")
    return out.getvalue()


def write_zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path
