"""CapMIT1003 reader: captions and click paths from the ``capmit1003.db`` SQLite file.

Schema (upstream Readme and ``capmit1003.py``; see docs/nevaclip.md §3):

* ``captions(obs_uid, usr_uid, start_time, caption, img_uid)``
* ``images(img_uid, img_path)`` — ``img_path`` is the MIT1003 file name
* ``clicks(click_id, obs_uid, x, y, click_time)`` — ``x``, ``y`` int pixels of the original image

Loading rules: one record per ``obs_uid`` from ``captions LEFT JOIN images USING(img_uid)``; clicks
``ORDER BY click_id`` (Q12 fixed: upstream had no ORDER BY); click times in seconds since the
observation's ``start_time`` (ISO-8601 strings or epoch numbers; epoch values above 1e11 are taken
as milliseconds); pseudo-durations are the gaps between consecutive clicks (the last one is NaN).
Clicks carry no real fixation durations, so the :class:`Scanpath` has ``duration=None`` and the
click times / pseudo-durations ride along in ``fixation_extra`` (``"time_s"``,
``"pseudo_duration_ms"``). Image files live at ``<mit1003_root>/ALLSTIMULI/<img_path>``.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from scanpath.errors import ScanpathDataError
from scanpath.io.paths import resolve_under
from scanpath.types import Scanpath

#: Clicks farther than this from the origin are corrupt values, not pixels (MIT1003 images are ≤ 1024 px).
MAX_PIXEL = 100_000
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "captions": ("obs_uid", "usr_uid", "start_time", "caption", "img_uid"),
    "images": ("img_uid", "img_path"),
    "clicks": ("click_id", "obs_uid", "x", "y", "click_time"),
}


@dataclass
class CaptionRecord:
    """One captioning observation (one ``obs_uid``) with its click path."""

    obs_uid: str
    usr_uid: str
    img_uid: str
    img_path: str
    caption: str
    start_time: float | None  # epoch seconds (None when missing)
    x: np.ndarray
    y: np.ndarray
    time_s: np.ndarray  # seconds since start_time (or since the first click when start_time is NULL)
    click_ids: np.ndarray
    image_size: tuple[int, int] | None = None
    image_file: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def stimulus(self) -> str:
        """MIT1003 stimulus id: the image file stem (shared with the MIT1003 reader)."""
        return Path(self.img_path).stem

    @property
    def pseudo_duration_ms(self) -> np.ndarray:
        """Gaps between consecutive clicks in ms; the last click has NaN."""
        d = np.full(len(self.time_s), np.nan)
        if len(self.time_s) > 1:
            d[:-1] = np.diff(self.time_s) * 1000.0
        return d

    def to_scanpath(self) -> Scanpath:
        return Scanpath(
            x=self.x,
            y=self.y,
            duration=None,
            stimulus=self.stimulus,
            subject=self.usr_uid,
            task="captioning",
            image_size=self.image_size,
            extra={"obs_uid": self.obs_uid, "caption": self.caption, "img_uid": self.img_uid},
            fixation_extra={"time_s": self.time_s, "pseudo_duration_ms": self.pseudo_duration_ms},
        )


def parse_time(value: Any, *, file: str, record: Any, field: str) -> float | None:
    """A timestamp as epoch seconds: ISO-8601 text, or an epoch number (> 1e11 → milliseconds)."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        v = float(value)
    else:
        text = str(value).strip()
        try:
            v = float(text)
        except ValueError:
            try:
                ts = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError as exc:
                raise ScanpathDataError(
                    f"cannot parse timestamp {text!r} (expected ISO-8601 or epoch seconds)",
                    file=file, record=record, field=field,
                ) from exc
            if ts.tzinfo is None:
                ts = ts.replace(tzinfo=_dt.timezone.utc)
            return ts.timestamp()
    if not math.isfinite(v):
        raise ScanpathDataError(f"non-finite timestamp {value!r}", file=file, record=record, field=field)
    return v / 1000.0 if abs(v) > 1e11 else v


def _check_schema(con: sqlite3.Connection, file: str) -> None:
    for table, cols in REQUIRED_COLUMNS.items():
        have = {r[1] for r in con.execute(f"PRAGMA table_info({table})")}
        if not have:
            raise ScanpathDataError(f"missing table {table!r}", file=file, field=table)
        for c in cols:
            if c not in have:
                raise ScanpathDataError(f"table {table!r} has no column {c!r}", file=file, field=f"{table}.{c}")


def _number(value: Any, *, file: str, record: Any, field: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ScanpathDataError(f"expected a number, got {value!r}", file=file, record=record, field=field) from None
    if not math.isfinite(v):
        raise ScanpathDataError(f"non-finite value {value!r}", file=file, record=record, field=field)
    return v


def sqlite_ro_uri(db_path: str | Path) -> str:
    """Read-only SQLite URI of a file path, percent-quoted (``#``, ``?``, ``%``, spaces are path characters).

    An f-string ``file:{path}?mode=ro`` lets a ``#`` or ``?`` in the path cut it (dropping ``mode=ro`` and
    creating a stray file) and decodes ``%41``; :meth:`pathlib.Path.as_uri` quotes every such character.
    """
    return Path(os.path.abspath(db_path)).as_uri() + "?mode=ro"


def _pixel(value: Any, *, file: str, record: Any, field: str) -> float:
    v = _number(value, file=file, record=record, field=field)
    if abs(v) > MAX_PIXEL:
        raise ScanpathDataError(f"click at {v:g} px is not a pixel of any image (|v| > {MAX_PIXEL})", file=file,
                                record=record, field=field)
    return v


def is_synthetic(db_path: str | Path) -> bool:
    """True for files written by :func:`write_synthetic_capmit1003` (a ``scanpath_synthetic`` table)."""
    con = sqlite3.connect(sqlite_ro_uri(db_path), uri=True)
    try:
        return bool(con.execute("SELECT name FROM sqlite_master WHERE name = 'scanpath_synthetic'").fetchall())
    except sqlite3.DatabaseError:
        return False
    finally:
        con.close()


def image_size_of(path: Path, *, record: Any = None, source: str | Path | None = None) -> tuple[int, int]:
    """(W, H) from the image header (no full decode); an unreadable or corrupt image is a named error."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            w, h = int(im.size[0]), int(im.size[1])
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as exc:
        where = f" (listed in {source})" if source is not None else ""
        raise ScanpathDataError(f"cannot read image header{where}: {exc}", file=path, record=record,
                                field="image") from None
    if w < 1 or h < 1:
        raise ScanpathDataError(f"image has size {w}×{h}", file=path, record=record, field="image")
    return w, h


def _click_id(value: Any, *, file: str, record: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (
        isinstance(value, float) and not value.is_integer()
    ):
        raise ScanpathDataError(f"click_id must be an integer, got {value!r}", file=file, record=record,
                                field="clicks.click_id")
    return int(value)


def read_capmit1003(
    db_path: str | Path,
    mit1003_root: str | Path | None = None,
    *,
    require_images: bool = False,
    invalid_policy: str = "error",
    allow_outside: bool = False,
) -> list[CaptionRecord]:
    """Read every ``obs_uid`` of ``capmit1003.db`` (sorted by ``obs_uid``), clicks by ``click_id``.

    With ``mit1003_root`` the image file ``<root>/ALLSTIMULI/<img_path>`` is located and its size
    read; ``require_images=True`` makes a missing file an error; an ``img_path`` leaving
    ``ALLSTIMULI`` (absolute, ``..``) is an error unless ``allow_outside``. Clicks outside the image
    follow ``invalid_policy`` (see :meth:`Scanpath.validated`); clicks beyond ±:data:`MAX_PIXEL`, a
    non-integer ``click_id`` and click times going backwards are always errors.
    """
    db = Path(db_path)
    file = str(db)
    if not db.is_file():
        raise ScanpathDataError("CapMIT1003 database not found" if not db.exists() else "not a file", file=file)
    if mit1003_root is not None and not Path(mit1003_root).is_dir():
        raise ScanpathDataError("MIT1003 image root folder not found", file=mit1003_root, field="mit1003_root")
    con = sqlite3.connect(sqlite_ro_uri(db), uri=True)
    try:
        try:
            _check_schema(con, file)
            caps = con.execute(
                "SELECT c.obs_uid, c.usr_uid, c.start_time, c.caption, c.img_uid, i.img_path "
                "FROM captions AS c LEFT JOIN images AS i USING(img_uid) ORDER BY c.obs_uid"
            ).fetchall()
            clicks = con.execute(
                "SELECT obs_uid, click_id, x, y, click_time FROM clicks ORDER BY obs_uid, click_id"
            ).fetchall()
        except sqlite3.DatabaseError as exc:
            raise ScanpathDataError(f"not a readable CapMIT1003 SQLite file ({exc})", file=file) from exc
    finally:
        con.close()

    by_obs: dict[str, list[tuple]] = {}
    for row in clicks:
        by_obs.setdefault(str(row[0]), []).append(row)
    seen: set[str] = set()
    root = Path(mit1003_root) if mit1003_root is not None else None
    sizes: dict[str, tuple[int, int] | None] = {}
    out: list[CaptionRecord] = []
    for obs_uid, usr_uid, start_time, caption, img_uid, img_path in caps:
        rec = str(obs_uid)
        if rec in seen:
            raise ScanpathDataError("duplicate obs_uid in captions", file=file, record=rec, field="captions.obs_uid")
        seen.add(rec)
        if img_path is None or str(img_path).strip() == "":
            raise ScanpathDataError(
                f"img_uid {img_uid!r} has no row in table images", file=file, record=rec, field="images.img_path"
            )
        if caption is None:
            raise ScanpathDataError("caption is NULL", file=file, record=rec, field="captions.caption")
        t0 = parse_time(start_time, file=file, record=rec, field="captions.start_time")
        rows = by_obs.get(rec, [])
        ids_list = [_click_id(r[1], file=file, record=f"{rec}/click {r[1]!r}") for r in rows]
        rows = [r for _, r in sorted(zip(ids_list, rows), key=lambda p: p[0])]  # mixed TEXT/INTEGER ids sort apart
        ids = np.array(sorted(ids_list), dtype=np.int64)
        if len(ids) != len(set(ids.tolist())):
            raise ScanpathDataError("duplicate click_id", file=file, record=rec, field="clicks.click_id")
        x = np.array([_pixel(r[2], file=file, record=f"{rec}/click {r[1]}", field="clicks.x") for r in rows])
        y = np.array([_pixel(r[3], file=file, record=f"{rec}/click {r[1]}", field="clicks.y") for r in rows])
        times = [parse_time(r[4], file=file, record=f"{rec}/click {r[1]}", field="clicks.click_time") for r in rows]
        if any(t is None for t in times):
            bad = next(r[1] for r, t in zip(rows, times) if t is None)
            raise ScanpathDataError("click_time is NULL", file=file, record=f"{rec}/click {bad}", field="clicks.click_time")
        tarr = np.asarray(times, dtype=np.float64)
        back = np.flatnonzero(np.diff(tarr) < 0)
        if len(back):
            j = int(back[0]) + 1
            raise ScanpathDataError(
                f"click_time goes backwards ({times[j]:.3f} s after {times[j - 1]:.3f} s of click {rows[j - 1][1]})",
                file=file, record=f"{rec}/click {rows[j][1]}", field="clicks.click_time",
            )
        origin = t0 if t0 is not None else (float(tarr[0]) if len(tarr) else 0.0)
        image_file, size = None, None
        if root is not None:
            image_file = resolve_under(root / "ALLSTIMULI", str(img_path), allow_outside=allow_outside, file=file,
                                       record=rec, field="images.img_path")
            key = str(image_file)
            if key not in sizes:
                sizes[key] = image_size_of(image_file, record=rec, source=file) if image_file.is_file() else None
            size = sizes[key]
            if size is None and require_images:
                raise ScanpathDataError(
                    f"image file not found: {image_file}", file=file, record=rec, field="images.img_path"
                )
        record = CaptionRecord(
            obs_uid=rec,
            usr_uid=str(usr_uid),
            img_uid=str(img_uid),
            img_path=str(img_path),
            caption=str(caption),
            start_time=t0,
            x=x.astype(np.float64),
            y=y.astype(np.float64),
            time_s=tarr - origin,
            click_ids=ids,
            image_size=size,
            image_file=image_file,
            extra={"time_origin": "start_time" if t0 is not None else "first_click"},
        )
        sp = record.to_scanpath().validated(invalid_policy, file=file, record=rec)  # type: ignore[arg-type]
        if invalid_policy == "drop" and size is not None and len(sp) != len(record.x):
            keep = (record.x >= 0) & (record.x <= size[0]) & (record.y >= 0) & (record.y <= size[1])
            record.x, record.y = record.x[keep], record.y[keep]
            record.time_s, record.click_ids = record.time_s[keep], record.click_ids[keep]
        elif invalid_policy == "clip":
            record.x, record.y = sp.x, sp.y
        out.append(record)
    return out


# ----------------------------------------------------------------------------- synthetic example
def write_synthetic_capmit1003(
    root: str | Path,
    n_images: int = 3,
    captions_per_image: int = 2,
    clicks: int = 6,
    seed: int = 0,
    sizes: tuple[tuple[int, int], ...] = ((320, 240), (200, 300), (256, 256)),
    time_format: str = "iso",
) -> Path:
    """Write a SYNTHETIC CapMIT1003-shaped folder (``capmit1003.db`` + ``ALLSTIMULI/*.jpeg``).

    For tests and offline smoke runs only — NOT human data. Each image is a flat background with a
    few coloured rectangles; clicks are inserted into the table in shuffled order (the reader must
    sort by ``click_id``); ``time_format`` ``iso`` or ``epoch`` for the timestamps.
    """
    from PIL import Image

    root = Path(root)
    (root / "ALLSTIMULI").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    db = root / "capmit1003.db"
    if db.exists():
        db.unlink()
    con = sqlite3.connect(db)
    con.executescript(
        "CREATE TABLE scanpath_synthetic (note TEXT);"
        "INSERT INTO scanpath_synthetic VALUES ('SYNTHETIC fixture written by scanpath; not human data');"
        "CREATE TABLE images (img_uid TEXT PRIMARY KEY, img_path TEXT);"
        "CREATE TABLE captions (obs_uid TEXT PRIMARY KEY, usr_uid TEXT, start_time TEXT, caption TEXT, img_uid TEXT);"
        "CREATE TABLE clicks (click_id INTEGER, obs_uid TEXT, x INTEGER, y INTEGER, click_time TEXT);"
    )
    words = ["red", "blue", "green", "box", "square", "left", "right", "top", "bottom", "a", "the", "large"]
    click_rows = []
    cid = 0
    t_base = _dt.datetime(2023, 5, 1, 12, 0, 0, tzinfo=_dt.timezone.utc).timestamp()
    for i in range(n_images):
        w, h = sizes[i % len(sizes)]
        arr = np.full((h, w, 3), 110, dtype=np.uint8)
        for _ in range(3):
            x0, y0 = int(rng.integers(0, w - 40)), int(rng.integers(0, h - 40))
            arr[y0 : y0 + 30, x0 : x0 + 30] = rng.integers(0, 256, 3)
        name = f"synthetic_{i:03d}.jpeg"
        Image.fromarray(arr).save(root / "ALLSTIMULI" / name, quality=95)
        con.execute("INSERT INTO images VALUES (?, ?)", (f"img{i}", name))
        for j in range(captions_per_image):
            obs = f"obs{i}_{j}"
            t0 = t_base + 100 * (i * captions_per_image + j)
            start = _dt.datetime.fromtimestamp(t0, _dt.timezone.utc).isoformat() if time_format == "iso" else t0
            cap = " ".join(rng.choice(words, 5))
            con.execute("INSERT INTO captions VALUES (?, ?, ?, ?, ?)", (obs, f"user{j}", start, cap, f"img{i}"))
            t = t0
            for _ in range(clicks):
                t += float(rng.uniform(0.2, 1.5))
                ct = _dt.datetime.fromtimestamp(t, _dt.timezone.utc).isoformat() if time_format == "iso" else t
                click_rows.append((cid, obs, int(rng.integers(0, w)), int(rng.integers(0, h)), ct))
                cid += 1
    order = rng.permutation(len(click_rows))
    con.executemany("INSERT INTO clicks VALUES (?, ?, ?, ?, ?)", [click_rows[k] for k in order])
    con.commit()
    con.close()
    return root
