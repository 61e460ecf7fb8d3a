"""Parse a WhatsApp chat export (Android or iOS ``.txt``, optionally in a ``.zip`` with its media).

whatstk finds the header format (date order, 12/24 h, Android ``d/m/y, H:M - name:`` or iOS
``[d.m.y, H:M:S] name:``) and builds the header regex. The split into messages is done here, not with
``whatstk.df_from_whatsapp``, because that drops what the import report must show: system lines (Android
lines with a date but no author; iOS messages marked with U+200E), attachments and omitted media.

Everything is checked before anything is sent, so a malformed export imports nothing
(``ExportFormatError`` names the file and line).
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath

from whatstk.whatsapp.auto_header import extract_header_from_text
from whatstk.whatsapp.parser import _clean_text, generate_regex

MAX_TEXT_BYTES = 20 * 1024 * 1024  # far above a real chat; bounds memory on a hostile file
LRM_MARK = (
    "\ue000"  # private-use stand-in for the U+200E iOS puts before system lines (cleaning drops U+200E)
)
_ANDROID_FILE = re.compile(r"^(?P<file>\S.*?) \(file attached\)$")
_IOS_FILE = re.compile(r"^<attached: (?P<file>[^>]+)>$")
_OMITTED = re.compile(r"^(<Media omitted>|(image|video|audio|sticker|GIF|document|Contact card) omitted)$")
_DELETED = re.compile(r"^(This message was deleted\.?|You deleted this message\.?)$")


class ExportFormatError(ValueError):
    """The export cannot be imported; the message names the file and the line."""


@dataclass(frozen=True)
class Message:
    line: int
    sent_at: datetime
    author: str
    text: str  # caption for attachments; may span several lines
    attachment: str | None = None  # file name inside the zip


@dataclass(frozen=True)
class Skipped:
    line: int
    reason: str  # system | media omitted | media missing | deleted message | empty
    text: str


@dataclass
class Export:
    """A parsed export: the messages to import, what is skipped and why, and the media bytes by name."""

    name: str
    header_format: str
    messages: list[Message] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    media: dict[str, bytes] = field(default_factory=dict)

    @property
    def authors(self) -> list[str]:
        return sorted({m.author for m in self.messages})


def load(path: Path) -> Export:
    """Parse ``path`` (``.txt`` or ``.zip``); raise ``ExportFormatError`` on anything malformed or
    unreadable."""
    try:
        if path.suffix.lower() == ".zip":
            text, name, media = _from_zip(path)
        else:
            if path.stat().st_size > MAX_TEXT_BYTES:
                raise ExportFormatError(f"{path}: larger than {MAX_TEXT_BYTES} bytes")
            text, name, media = _decode(path.read_bytes(), str(path)), path.name, {}
    except OSError as exc:
        raise ExportFormatError(f"{path}: cannot read ({exc.strerror or exc})") from None
    export = parse(text, name=name)
    export.media = media
    _check_attachments(export)
    return export


def _decode(raw: bytes, where: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ExportFormatError(f"{where}:{line}: not UTF-8 text") from None


def _from_zip(path: Path) -> tuple[str, str, dict[str, bytes]]:
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise ExportFormatError(f"{path}: not a zip archive") from None
    with archive:
        files = [i for i in archive.infolist() if not i.is_dir()]
        texts = [i for i in files if i.filename.lower().endswith(".txt")]
        # iOS names the chat "_chat.txt", Android "WhatsApp Chat with <name>.txt"; other .txt are documents.
        named = [i for i in texts if PurePosixPath(i.filename).name.startswith(("_chat", "WhatsApp Chat"))]
        chats = named if len(named) == 1 else texts
        if len(chats) != 1:
            found = ", ".join(i.filename for i in chats) or "none"
            raise ExportFormatError(f"{path}: expected exactly one chat .txt in the zip, found {found}")
        if sum(i.file_size for i in files) > 10 * MAX_TEXT_BYTES:
            raise ExportFormatError(f"{path}: archive expands beyond {10 * MAX_TEXT_BYTES} bytes")
        chat = chats[0]
        text = _decode(archive.read(chat), f"{path}!{chat.filename}")
        media = {PurePosixPath(i.filename).name: archive.read(i) for i in files if i is not chat}
    return text, chat.filename, media


def parse(text: str, *, name: str) -> Export:
    """Split export ``text`` into messages, system lines and attachments (see module docstring)."""
    marked = text.replace(": \u200e", ": " + LRM_MARK)
    lines = [line.rstrip("\r") for line in _clean_text(marked).split("\n")]
    if not any(line.strip() for line in lines):
        raise ExportFormatError(f"{name}:1: the export is empty")
    hformat = extract_header_from_text(_clean_text(text))
    if not hformat:
        raise ExportFormatError(f"{name}:1: no WhatsApp message header (date, time, author) found")
    full, prefix = (re.compile(r) for r in generate_regex(hformat))
    export = Export(name=name, header_format=hformat)
    current: dict[str, object] | None = None

    def flush() -> None:
        if current is not None:
            _classify(export, **current)  # type: ignore[arg-type]

    for number, line in enumerate(lines, start=1):
        header = full.match(line)
        if header:
            flush()
            current = {
                "line": number,
                "sent_at": _when(header, name, number),
                "author": header["username"].strip(),
                "body": [line[header.end() :]],
            }
        elif prefix.match(line):
            flush()
            current = None
            export.skipped.append(Skipped(number, "system", line[prefix.match(line).end() :].strip()))  # type: ignore[union-attr]
        elif current is not None:
            current["body"].append(line)  # type: ignore[attr-defined]
        elif line.strip():
            raise ExportFormatError(f"{name}:{number}: text before the first message header")
    flush()
    return export


def _when(header: re.Match[str], name: str, line: int) -> datetime:
    parts = header.groupdict()
    hour = int(parts["hour"])
    ampm = (parts.get("ampm") or "").lower().replace(".", "").replace(" ", "")
    if ampm == "am" and hour == 12:
        hour = 0
    elif ampm == "pm" and hour != 12:
        hour += 12
    year = int(parts["year"])
    try:
        return datetime(
            year + 2000 if year < 100 else year,
            int(parts["month"]),
            int(parts["day"]),
            hour,
            int(parts["minutes"]),
            int(parts.get("seconds") or 0),
        )
    except ValueError as exc:
        raise ExportFormatError(f"{name}:{line}: bad date or time in the header ({exc})") from None


def _classify(export: Export, *, line: int, sent_at: datetime, author: str, body: list[str]) -> None:
    first, rest = body[0], "\n".join(body[1:]).strip()
    if first.startswith(LRM_MARK):  # iOS: system line or attachment
        first = first[len(LRM_MARK) :]
        attached = _IOS_FILE.match(first.strip())
        if attached:
            export.messages.append(Message(line, sent_at, author, rest, attached["file"]))
        elif _OMITTED.match(first.strip()):
            export.skipped.append(Skipped(line, "media omitted", first.strip()))
        elif _DELETED.match(first.strip()):
            export.skipped.append(Skipped(line, "deleted message", first.strip()))
        else:
            export.skipped.append(Skipped(line, "system", "\n".join([first, rest]).strip()))
        return
    attached = _ANDROID_FILE.match(first.strip()) or _IOS_FILE.match(first.strip())
    if attached:
        export.messages.append(Message(line, sent_at, author, rest, attached["file"]))
    elif _OMITTED.match(first.strip()):
        export.skipped.append(Skipped(line, "media omitted", first.strip()))
    elif _DELETED.match(first.strip()):
        export.skipped.append(Skipped(line, "deleted message", first.strip()))
    else:
        text = "\n".join(body).strip()
        if text:
            export.messages.append(Message(line, sent_at, author, text))
        else:
            export.skipped.append(Skipped(line, "empty", ""))


def _check_attachments(export: Export) -> None:
    """Attachments whose file is not in the zip become skipped entries (the text export has no media)."""
    kept = []
    for message in export.messages:
        if message.attachment is not None and message.attachment not in export.media:
            export.skipped.append(Skipped(message.line, "media missing", message.attachment))
            if message.text:
                kept.append(Message(message.line, message.sent_at, message.author, message.text))
        else:
            kept.append(message)
    export.messages = kept
    export.skipped.sort(key=lambda s: s.line)
