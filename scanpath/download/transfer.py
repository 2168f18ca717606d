"""HTTP download with resume (standard library only; docs/datasets.md §3).

Bytes go to ``<dest>.part``; an interrupted transfer leaves that file, and the next attempt asks the
server for the rest with an HTTP ``Range: bytes=<have>-`` request. A server that answers ``200``
instead of ``206`` (no range support, or a ``file://`` URL) restarts the file from byte 0. When the
transfer is complete the ``.part`` file is renamed onto ``dest``. Progress lines go to ``stream``: at
most every ``interval_s`` seconds (30 s when the stream is not a terminal, 2 s when it is) and once
at the end, so a log file shows a long download is alive.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import socket
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from scanpath.errors import ScanpathDataError

CHUNK = 1 << 20
USER_AGENT = "scanpath-download/0.1 (python urllib)"
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


class DownloadError(ScanpathDataError):
    """A download that could not complete (network, HTTP status, interrupted transfer)."""


class _Interrupted(Exception):
    """A transfer that stopped early: resumed by the next attempt, or restarted from byte 0 when
    ``restart`` (the server cannot continue the ``.part`` file)."""

    def __init__(self, message: str, restart: bool = False) -> None:
        super().__init__(message)
        self.restart = restart


def part_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def _mb(n: float) -> str:
    return f"{n / 1e6:.1f}"


def _clock_text(seconds: float) -> str:
    if seconds != seconds or seconds == float("inf"):  # NaN / unknown
        return "?"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s"


class ByteProgress:
    """Plain progress lines for a byte count (works in terminals and in log files)."""

    def __init__(self, label: str, total: int | None, *, start: int = 0, interval_s: float | None = None,
                 stream: TextIO | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.label, self.total, self.start = label, total, start
        self.stream = stream if stream is not None else sys.stderr
        try:
            tty = bool(self.stream.isatty())
        except (AttributeError, ValueError):
            tty = False
        self.interval_s = interval_s if interval_s is not None else (2.0 if tty else 30.0)
        self.clock = clock
        self.t0 = self.last = clock()
        self.done = start

    def line(self) -> str:
        elapsed = self.clock() - self.t0
        rate = (self.done - self.start) / elapsed if elapsed > 0 else 0.0
        if self.total:
            pct = f" ({100.0 * self.done / self.total:.0f}%)"
            eta = _clock_text((self.total - self.done) / rate) if rate > 0 else "?"
            size = f"{_mb(self.done)}/{_mb(self.total)} MB{pct}"
        else:
            eta, size = "?", f"{_mb(self.done)} MB"
        return f"[download {self.label}] {size} | {rate / 1e6:.2f} MB/s | elapsed {_clock_text(elapsed)} | ETA {eta}"

    def update(self, done: int) -> None:
        self.done = done
        now = self.clock()
        if now - self.last >= self.interval_s:
            self.last = now
            print(self.line(), file=self.stream, flush=True)

    def finish(self) -> None:
        print(self.line(), file=self.stream, flush=True)


def _total_from_416(err: urllib.error.HTTPError) -> int | None:
    m = re.search(r"\*/(\d+)", err.headers.get("Content-Range", "") if err.headers else "")
    return int(m.group(1)) if m else None


def _open(url: str, have: int, timeout: float) -> tuple[http.client.HTTPResponse | None, int, int | None]:
    """Open ``url`` asking for bytes from ``have``; returns (response, offset it starts at, total);
    no response when the ``.part`` file already holds every byte."""
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)  # noqa: S310
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:
            total = _total_from_416(e)
            if total == have:
                return None, have, total
            raise _Interrupted(f"server refused to resume at byte {have} (HTTP 416)", restart=True) from None
        if e.code >= 500 or e.code == 429:
            raise _Interrupted(f"HTTP {e.code} {e.reason}") from None
        raise DownloadError(f"HTTP {e.code} {e.reason} for {url}", field="url") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
        reason = getattr(e, "reason", e)
        raise _Interrupted(f"cannot reach {url}: {reason}") from None
    status = getattr(resp, "status", None)
    length = resp.headers.get("Content-Length")
    if have and status == 206:
        m = _CONTENT_RANGE.match(resp.headers.get("Content-Range", ""))
        if m and int(m.group(1)) == have:
            total = int(m.group(3)) if m.group(3) != "*" else (have + int(length) if length else None)
            return resp, have, total
        resp.close()
        raise _Interrupted(f"server answered another range ({resp.headers.get('Content-Range')!r})", restart=True)
    total = int(length) if length and length.isdigit() else None
    return resp, 0, total


def _transfer_once(url: str, part: Path, *, label: str, timeout: float, stream: TextIO | None,
                   clock: Callable[[], float], interval_s: float | None) -> None:
    have = part.stat().st_size if part.exists() else 0
    try:
        resp, offset, total = _open(url, have, timeout)
    except _Interrupted as e:
        if e.restart:
            part.unlink(missing_ok=True)
        raise
    if resp is None:
        return
    out = stream if stream is not None else sys.stderr
    if have and offset == 0:
        print(f"[download {label}] the server does not resume transfers: restarting from byte 0", file=out)
    elif offset:
        print(f"[download {label}] resuming at {_mb(offset)} MB", file=out)
    prog = ByteProgress(label, total, start=offset, interval_s=interval_s, stream=stream, clock=clock)
    done = offset
    read = getattr(resp, "read1", resp.read)  # what has arrived (<= 64 KiB): progress lines on slow links too
    with resp, open(part, "ab" if offset else "wb") as fh:
        try:
            while True:
                chunk = read(1 << 16)
                if not chunk:
                    break
                fh.write(chunk)
                done += len(chunk)
                prog.update(done)
        except http.client.IncompleteRead as e:
            fh.write(e.partial)
            done += len(e.partial)
            raise _Interrupted(f"connection closed at byte {done} of {total}") from None
        except (OSError, socket.timeout, http.client.HTTPException) as e:
            raise _Interrupted(f"transfer failed at byte {done}: {e}") from None
        finally:
            fh.flush()
            os.fsync(fh.fileno())
    if total is not None and done < total:
        raise _Interrupted(f"connection closed at byte {done} of {total}")
    prog.finish()


def fetch(url: str, dest: str | Path, *, label: str | None = None, retries: int = 3, timeout: float = 30.0,
          stream: TextIO | None = None, clock: Callable[[], float] = time.monotonic,
          sleep: Callable[[float], None] = time.sleep, interval_s: float | None = None) -> Path:
    """Download ``url`` to ``dest`` (resuming ``dest.part`` when present); retry an interrupted transfer
    ``retries`` times, each resuming where the last stopped. ``timeout`` bounds a stall (no byte for that
    long ends the attempt, with a line saying so). Raises :class:`DownloadError` naming the ``.part``
    file, which a later call resumes."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = part_path(dest)
    label = label or dest.name
    for attempt in range(retries + 1):
        try:
            _transfer_once(url, part, label=label, timeout=timeout, stream=stream, clock=clock, interval_s=interval_s)
            break
        except _Interrupted as e:
            if attempt == retries:
                have = part.stat().st_size if part.exists() else 0
                raise DownloadError(f"download of {url} did not complete ({e}); {have} bytes are kept in this "
                                    "file and the same command resumes from there", file=part) from None
            wait = min(2.0 * (attempt + 1), 30.0)
            print(f"[download {label}] {e}; retry {attempt + 1}/{retries} in {wait:.0f} s",
                  file=stream if stream is not None else sys.stderr)
            sleep(wait)
    os.replace(part, dest)
    return dest


def file_digests(path: str | Path) -> tuple[str, str]:
    """(sha256, md5) hex digests of a file, read once."""
    sha, md5 = hashlib.sha256(), hashlib.md5()  # noqa: S324  (md5 only to compare with a published digest)
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            sha.update(chunk)
            md5.update(chunk)
    return sha.hexdigest(), md5.hexdigest()
