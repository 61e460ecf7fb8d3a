"""The node's clock: ``now()`` in UNIX seconds. Every timestamp the node stores or compares comes from here.

With the development setting ``dev_clock`` the clock runs ``offset`` seconds ahead of the wall clock, and
``POST /v1/dev/clock`` moves it on (never back), so tests age codes, calls, meetings and retention
instantly instead of sleeping. The offset lives in one file in the node's data directory, which every
worker process of the node shares: ``now()`` re-reads it whenever the file changed (one ``stat`` per
call), so a worker sees an advance at once, inside WebSocket handlers and background loops too, which
an offset cached per request from the database or Redis would not guarantee.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path

_path: Path | None = None  # the offset file; None: the wall clock, as in production
_seen: tuple[int, int, int] | None = None  # (inode, mtime_ns, size) of the file last read
_offset = 0.0


def now() -> float:
    """Seconds since the epoch (float), plus the development offset when ``use_dev_clock`` was called."""
    if _path is None:
        return time.time()
    return time.time() + offset()


def use_dev_clock(path: Path) -> None:
    """Make ``now()`` add the offset kept in ``path`` (created as 0 if missing); development only."""
    global _path, _seen
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps({"offset_seconds": 0.0}))
    try:
        os.link(tmp, path)  # atomic create-if-missing: workers starting together never reset an advance
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    _path, _seen = path, None


def offset() -> float:
    """The current development offset in seconds (0 with the wall clock)."""
    global _seen, _offset
    if _path is None:
        return 0.0
    st = os.stat(_path)
    key = (st.st_ino, st.st_mtime_ns, st.st_size)
    if key != _seen:
        _offset, _seen = float(json.loads(_path.read_text())["offset_seconds"]), key
    return _offset


def advance(seconds: float) -> float:
    """Move the development clock on by ``seconds`` (>= 0) for every worker; returns the new offset."""
    if _path is None:
        raise RuntimeError("the development clock is off (MSGFLEET_DEV_CLOCK)")
    if seconds < 0:
        raise ValueError("the clock only moves forward")
    with open(_path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two workers advancing at once must not lose a step
        current = float(json.loads(_path.read_text())["offset_seconds"])
        tmp = _path.with_name(f".{_path.name}.{os.getpid()}")
        tmp.write_text(json.dumps({"offset_seconds": current + seconds}))
        os.replace(tmp, _path)  # atomic (a new inode): readers never see half a write
    return offset()
