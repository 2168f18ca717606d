"""Fault sweep (issue 16): feed every reader, datamodule and the CLI bad inputs and faults, and count
how each ends. Not collected by pytest (no ``test_`` prefix); run from a checkout's root:

    python tests/fault_sweep.py [--no-cli] [--verbose]

Each case is an input that must be rejected (or a fault whose outcome is checked). Outcomes:

* **clear** — a :class:`scanpath.errors.ScanpathDataError`, or another error whose message names the
  offending path / key; for fault cases, the correct outcome (e.g. no partial file left behind);
* **raw** — any other exception (a traceback the user has to decode);
* **silent** — accepted without complaint (or, for fault cases, the wrong outcome silently).

Only public entry points that exist since ada5ef7 are called, so the same script measures the code
before and after the issue-16 changes. Cases run in-process (fast); ``--no-cli`` skips the few that
start ``train.py`` / ``evaluate.py`` in a subprocess.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import logging
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path

ROOT = Path.cwd()
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("WANDB_MODE", "offline")
logging.disable(logging.CRITICAL)
warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402

from scanpath.errors import ScanpathDataError  # noqa: E402

CASES: list[tuple[str, str, Callable[[Path], object], str | None]] = []


def case(group: str, name: str, token: str | None = None):
    """Register a case. ``token``: a non-ScanpathDataError counts as clear only if its message holds it."""

    def deco(fn):
        CASES.append((group, name, fn, token))
        return fn

    return deco


NON_UTF8 = b"\xff\xfe\x81\x00garbage\xc3\x28" * 16
BINARY = bytes(range(256)) * 8


# =========================================================================================== COCO
def coco_rec(**kw):
    rec = {"name": "a.jpg", "subject": 1, "task": "cup", "condition": "present", "bbox": [10, 10, 20, 20],
           "X": [100.0, 200.0, 300.0], "Y": [100.0, 200.0, 300.0], "T": [100.0, 200.0, 300.0], "length": 3}
    rec.update(kw)
    return rec


def coco_text(rec_text: str) -> str:
    return "[" + rec_text + "]"


def rec_with(field: str, literal: str, index: int = 1) -> str:
    """A record JSON text with entry ``index`` of list ``field`` replaced by a raw JSON literal."""
    rec = coco_rec()
    vals = [json.dumps(v) for v in rec[field]]
    vals[index] = literal
    body = json.dumps({k: v for k, v in rec.items() if k != field})[:-1]
    return body + f', "{field}": [{", ".join(vals)}]}}'


def read_coco(tmp: Path, text: str | bytes, **kw):
    from scanpath.io.coco import read_coco_json

    p = tmp / "fix.json"
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return read_coco_json(p, **kw)


BAD_NUMBERS = ["NaN", "Infinity", "-Infinity", "1e400", "1" + "0" * 400, '"abc"', "null", "true", "[]", "{}"]
for _field in ("X", "Y", "T"):
    for _lit in BAD_NUMBERS:
        case("coco", f"{_field} entry {_lit[:12]}")(lambda t, f=_field, v=_lit: read_coco(t, coco_text(rec_with(f, v))))
case("coco", "T negative")(lambda t: read_coco(t, coco_text(rec_with("T", "-5"))))
case("coco", "X outside frame")(lambda t: read_coco(t, coco_text(rec_with("X", "5000"))))
case("coco", "Y negative")(lambda t: read_coco(t, coco_text(rec_with("Y", "-3"))))
for _lit in ["[NaN, 1, 2, 3]", "[1, 1, Infinity, 3]", "[1, 2, 3]", '"abc"', "[1, 2, -3, 4]", "[true, 1, 2, 3]",
             "[1, 1, 1e400, 3]"]:
    case("coco", f"bbox {_lit}")(lambda t, v=_lit: read_coco(
        t, coco_text(json.dumps({k: x for k, x in coco_rec().items() if k != "bbox"})[:-1] + f', "bbox": {v}}}')))
for _k, _v in [("length", -1), ("length", "3"), ("length", 2), ("length", True), ("length", 3.5),
               ("name", ""), ("name", 5), ("name", None), ("subject", None), ("subject", []), ("subject", 1.5),
               ("subject", True), ("condition", "maybe"), ("condition", 5), ("task", 5),
               ("image_size", [0, 5]), ("image_size", "x"), ("image_size", [1]),
               ("fixation_extra", {"o": [[1, 2], [3], [4, 5]]}), ("fixation_extra", {"o": [1, 2]}),
               ("fixation_extra", [1, 2, 3]), ("fixation_extra", {"o": [1, "a", [2]]})]:
    case("coco", f"{_k}={json.dumps(_v)[:20]}")(lambda t, k=_k, v=_v: read_coco(t, json.dumps([coco_rec(**{k: v})])))
case("coco", "image_size [Infinity, 5]")(lambda t: read_coco(
    t, coco_text(json.dumps(coco_rec())[:-1] + ', "image_size": [Infinity, 5]}')))
for _k in ("name", "subject", "X", "Y", "T", "length"):
    case("coco", f"missing key {_k}")(lambda t, k=_k: read_coco(
        t, json.dumps([{a: b for a, b in coco_rec().items() if a != k}])))
case("coco", "top level object")(lambda t: read_coco(t, "{}"))
case("coco", "record not an object")(lambda t: read_coco(t, "[1, 2]"))
case("coco", "missing file", "nope.json")(lambda t: __import__("scanpath.io.coco", fromlist=["x"]).read_coco_json(
    t / "nope.json"))
case("coco", "directory", "fix.json")(lambda t: (t / "fix.json").mkdir() or __import__(
    "scanpath.io.coco", fromlist=["x"]).read_coco_json(t / "fix.json"))
case("coco", "empty file")(lambda t: read_coco(t, ""))
case("coco", "binary file")(lambda t: read_coco(t, BINARY))
case("coco", "non-UTF-8 file")(lambda t: read_coco(t, NON_UTF8))
case("coco", "truncated JSON")(lambda t: read_coco(t, json.dumps([coco_rec()])[:-7]))
case("coco", "deeply nested JSON")(lambda t: read_coco(t, "[" * 100000 + "]" * 100000))


def with_sidecar(t: Path, side: str | bytes):
    from scanpath.io.coco import read_coco_json

    p = t / "fix.json"
    p.write_text(json.dumps([coco_rec()]))
    (t / "fix.json.meta.json").write_bytes(side if isinstance(side, bytes) else side.encode())
    return read_coco_json(p)


for _s in ['{"frame": [Infinity, 1050]}', '{"frame": [1e400, 1050]}', '{"frame": [' + "9" * 400 + ', 1]}',
           '{"frame": "x"}', '{"frame": [0, 5]}', '{"no_duration_records": "x"}', "[1, 2]", "{bad json"]:
    case("coco", f"sidecar {_s[:24]}")(lambda t, s=_s: with_sidecar(t, s))
case("coco", "sidecar non-UTF-8")(lambda t: with_sidecar(t, NON_UTF8))


@case("coco", "drop policy keeps no infinite duration")
def _coco_drop_inf(t):
    (sp,) = read_coco(t, coco_text(rec_with("T", "Infinity")), invalid_policy="drop")
    return bool(np.isfinite(sp.duration).all())


@case("coco", "clip policy on infinite duration")
def _coco_clip_inf(t):
    (sp,) = read_coco(t, coco_text(rec_with("T", "Infinity")), invalid_policy="clip")
    return bool(np.isfinite(sp.duration).all())


# ========================================================================================= Amazon
def amazon_entry(**kw):
    e = {"fixations": {"1": [[100, 100], [500, 400]], "2": [[50, 60]]},
         "ground_truth": [{"xmin": 0, "xmax": 182, "ymin": 0, "ymax": 266}],
         "size": {"width": 2548, "height": 1600}, "target": "target_0.jpg"}
    e.update(kw)
    return e


def load_amazon_text(t: Path, text: str | bytes):
    from scanpath.io.amazon import load_amazon

    p = t / "Amazon.json"
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return load_amazon(p, filter_sd=None)


for _f in ("width", "height"):
    for _v in ("0", "0.3", "1e300", "-1", '"x"', "NaN", "true", "1e400"):
        _size = {"width": "2548", "height": "1600", _f: _v}
        case("amazon", f"size.{_f}={_v}")(lambda t, s=_size: load_amazon_text(
            t, '{"1.jpg": ' + json.dumps(amazon_entry())[:-1].rsplit('"size"', 1)[0]
            + '"size": {"width": %s, "height": %s}, "target": "target_0.jpg"}}' % (s["width"], s["height"])))
for _gt in ([{"xmin": 5000, "xmax": 5100, "ymin": 10, "ymax": 100}], [{"xmin": 10, "xmax": 5, "ymin": 0, "ymax": 9}],
            [{"xmin": 0, "xmax": 5, "ymin": 0}], "box", [], [{"xmin": -500, "xmax": -100, "ymin": 0, "ymax": 10}]):
    case("amazon", f"ground_truth {json.dumps(_gt)[:30]}")(
        lambda t, g=_gt: load_amazon_text(t, json.dumps({"1.jpg": amazon_entry(ground_truth=g)})))
for _pts in ([["a", 1]], [[1]], "x", [[1, True]]):
    case("amazon", f"fixation {json.dumps(_pts)[:20]}")(
        lambda t, p=_pts: load_amazon_text(t, json.dumps({"1.jpg": amazon_entry(fixations={"1": p})})))
case("amazon", "fixation NaN")(lambda t: load_amazon_text(
    t, json.dumps({"1.jpg": amazon_entry()}).replace("[100, 100]", "[NaN, 100]")))
case("amazon", "fixation 1e400")(lambda t: load_amazon_text(
    t, json.dumps({"1.jpg": amazon_entry()}).replace("[100, 100]", "[1" + "0" * 400 + ", 100]")))
for _tg in ("", 5, None):
    case("amazon", f"target {_tg!r}")(lambda t, g=_tg: load_amazon_text(t, json.dumps({"1.jpg": amazon_entry(target=g)})))
case("amazon", "collage key ../x.jpg")(lambda t: load_amazon_text(t, json.dumps({"../x.jpg": amazon_entry()})))
case("amazon", "missing file", "nope.json")(lambda t: __import__("scanpath.io.amazon", fromlist=["x"]).load_amazon(
    t / "nope.json"))
case("amazon", "directory", "Amazon.json")(lambda t: (t / "Amazon.json").mkdir() or __import__(
    "scanpath.io.amazon", fromlist=["x"]).load_amazon(t / "Amazon.json"))
case("amazon", "binary file")(lambda t: load_amazon_text(t, BINARY))
case("amazon", "non-UTF-8 file")(lambda t: load_amazon_text(t, NON_UTF8))
case("amazon", "invalid JSON")(lambda t: load_amazon_text(t, "{oops"))
case("amazon", "top level list")(lambda t: load_amazon_text(t, "[]"))
case("amazon", "no collages")(lambda t: load_amazon_text(t, "{}"))


# ========================================================================================== shelf
SHELF_HEADER = ["ID", "Target", "Question", "Choice", "X", "Y", "T_Package", "Sub_ID"]


def shelf(t: Path, second_row: dict | None = None, header=SHELF_HEADER, raw: bytes | None = None, name="s.csv"):
    from scanpath.io.shelf import load_shelf

    p = t / name
    if raw is not None:
        p.write_bytes(raw)
    else:
        rows = [dict(zip(SHELF_HEADER, [1, "T1_1", "Q1_1", 1, 10, 300, 2, 5]))]
        rows.append({**rows[0], "Choice": 2, "X": 40, **(second_row or {})})
        with open(p, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(header)
            for r in rows:
                w.writerow([r.get(h, "") for h in header])
    return load_shelf(p)


for _k, _v in [("X", 1e300), ("X", -5), ("X", 1681), ("Y", 1051), ("X", "nan"), ("X", "abc"), ("Y", "inf"),
               ("X", "1e400"), ("Choice", 0), ("Choice", 99), ("Choice", 1.5), ("Choice", "x"), ("T_Package", 0),
               ("T_Package", 99), ("T_Package", 3), ("ID", ""), ("Question", "Q1_2"), ("Question", "Z9_1"),
               ("Sub_ID", "")]:
    case("shelf", f"{_k}={_v!r}")(lambda t, k=_k, v=_v: shelf(t, {k: v}))
case("shelf", "missing column")(lambda t: shelf(t, header=SHELF_HEADER[:-1]))
case("shelf", "missing file", "nope.csv")(lambda t: __import__("scanpath.io.shelf", fromlist=["x"]).load_shelf(
    t / "nope.csv"))
case("shelf", "binary file")(lambda t: shelf(t, raw=BINARY))
case("shelf", "non-UTF-8 file")(lambda t: shelf(t, raw=NON_UTF8))
case("shelf", "corrupt xlsx")(lambda t: shelf(t, raw=BINARY, name="s.xlsx"))
case("shelf", "unsupported suffix")(lambda t: shelf(t, raw=b"a,b\n", name="s.txt"))


# ===================================================================================== CapMIT1003
def make_capmit(root: Path, *, clicks=None, img_path="a.jpeg", image_bytes=None, caption="a cup", images=True,
                db_name="capmit1003.db", skip_table=None) -> Path:
    from PIL import Image

    (root / "ALLSTIMULI").mkdir(parents=True, exist_ok=True)
    if image_bytes is None:
        Image.fromarray(np.full((40, 50, 3), 100, np.uint8)).save(root / "ALLSTIMULI" / "a.jpeg")
    else:
        (root / "ALLSTIMULI" / "a.jpeg").write_bytes(image_bytes)
    db = root / db_name
    con = sqlite3.connect(db)
    tables = {"images": "CREATE TABLE images (img_uid TEXT, img_path TEXT);",
              "captions": "CREATE TABLE captions (obs_uid TEXT, usr_uid TEXT, start_time TEXT, caption TEXT, "
                          "img_uid TEXT);",
              "clicks": "CREATE TABLE clicks (click_id, obs_uid TEXT, x, y, click_time);"}
    con.executescript("".join(v for k, v in tables.items() if k != skip_table))
    if skip_table != "images" and images:
        con.execute("INSERT INTO images VALUES ('i0', ?)", (img_path,))
    if skip_table != "captions":
        con.execute("INSERT INTO captions VALUES ('o0', 'u0', '100', ?, 'i0')", (caption,))
    if skip_table != "clicks":
        rows = clicks if clicks is not None else [(0, 10, 10, 101.0), (1, 20, 20, 102.0)]
        con.executemany("INSERT INTO clicks VALUES (?, 'o0', ?, ?, ?)", rows)
    con.commit()
    con.close()
    return db


def capmit(t: Path, with_root: bool = True, **kw):
    from scanpath.io.capmit1003 import read_capmit1003

    db = make_capmit(t, **kw)
    return read_capmit1003(db, t if with_root else None, require_images=with_root)


for _name, _clicks, _root in [
    ("x 1e300 (no image folder)", [(0, 1e300, 10, 101.0)], False),
    ("x 1e300", [(0, 1e300, 10, 101.0)], True),
    ("x NULL", [(0, None, 10, 101.0)], True),
    ("y 'abc'", [(0, 10, "abc", 101.0)], True),
    ("x outside image", [(0, 500, 10, 101.0)], True),
    ("click_id NULL", [(None, 10, 10, 101.0)], True),
    ("click_id 'abc'", [("abc", 10, 10, 101.0)], True),
    ("click_id 1.5", [(1.5, 10, 10, 101.0)], True),
    ("duplicate click_id", [(0, 10, 10, 101.0), (0, 20, 20, 102.0)], True),
    ("time backwards", [(0, 10, 10, 105.0), (1, 20, 20, 102.0)], False),
    ("time NULL", [(0, 10, 10, None)], True),
    ("time unparseable", [(0, 10, 10, "yesterday")], True),
    ("time inf", [(0, 10, 10, "inf")], True),
]:
    case("capmit1003", _name)(lambda t, c=_clicks, r=_root: capmit(t, with_root=r, clicks=c))
case("capmit1003", "img_path ../../../etc/hostname")(lambda t: capmit(t, img_path="../../../etc/hostname"))
case("capmit1003", "img_path absolute")(lambda t: capmit(t, img_path="/etc/hostname"))
case("capmit1003", "caption NULL")(lambda t: capmit(t, caption=None))
case("capmit1003", "no images row")(lambda t: capmit(t, images=False))
case("capmit1003", "missing table clicks")(lambda t: capmit(t, skip_table="clicks"))
case("capmit1003", "corrupt image")(lambda t: capmit(t, image_bytes=b"\xff\xd8\xff broken"))


@case("capmit1003", "db not SQLite")
def _cap_binary(t):
    from scanpath.io.capmit1003 import read_capmit1003

    (t / "capmit1003.db").write_bytes(BINARY)
    return read_capmit1003(t / "capmit1003.db")


case("capmit1003", "db missing", "nope.db")(lambda t: __import__(
    "scanpath.io.capmit1003", fromlist=["x"]).read_capmit1003(t / "nope.db"))
case("capmit1003", "db is a directory", "d.db")(lambda t: (t / "d.db").mkdir() or __import__(
    "scanpath.io.capmit1003", fromlist=["x"]).read_capmit1003(t / "d.db"))


def _uri_case(dirname: str):
    def run(t):
        from scanpath.io.capmit1003 import read_capmit1003

        root = t / dirname
        db = make_capmit(root)
        before = sorted(str(p) for p in t.rglob("*"))
        try:
            recs = read_capmit1003(db, root)
        except Exception:
            recs = None
        after = sorted(str(p) for p in t.rglob("*"))
        return recs is not None and len(recs) == 1 and before == after  # read, and no stray file created

    return run


for _d in ("a#b", "q?mode=rwc", "pct%41x", "sp ace", "x#y/sub?z"):
    case("capmit1003", f"db path with {_d!r}")(_uri_case(_d))


# ======================================================================================== MIT1003
def mit(t: Path, line: str | None = None, raw: bytes | None = None, image: bytes | None = None, drop_image=False):
    from scanpath.io.mit1003 import read_mit1003, write_synthetic_mit1003

    root = write_synthetic_mit1003(t / "m", stems=["s0"], subjects=1, fixations=4)
    f = root / "SCANPATHS" / "s0" / "subj00"
    if line is not None:
        f.write_text(f.read_text() + line + "\n")
    if raw is not None:
        f.write_bytes(raw)
    if image is not None:
        (root / "STIMULI" / "s0.jpeg").write_bytes(image)
    if drop_image:
        (root / "STIMULI" / "s0.jpeg").unlink()
    return read_mit1003(root)


for _l in ("1 2 3", "abc 2 0.1 0.2", "nan 2 0.1 0.2", "1 inf 0.1 0.2", "1 2 0.5 0.2", "1e400 2 0.1 0.2",
           "5000 10 0.1 0.2", "1 2 3 4 5"):
    case("mit1003", f"row {_l!r}")(lambda t, x=_l: mit(t, line=x))
case("mit1003", "binary fixation file")(lambda t: mit(t, raw=BINARY))
case("mit1003", "non-UTF-8 fixation file")(lambda t: mit(t, raw=NON_UTF8))
case("mit1003", "corrupt image")(lambda t: mit(t, image=b"GIF89a broken"))
case("mit1003", "missing image")(lambda t: mit(t, drop_image=True))
case("mit1003", "no SCANPATHS folder", "SCANPATHS")(lambda t: __import__(
    "scanpath.io.mit1003", fromlist=["x"]).read_mit1003(t))


# ===================================================================================== Salient360
RAW_HEADER = ("OcutimeStamp,cameraRotation.x,cameraRotation.y,cameraRotation.z,cameraRotation.w,leftEyeDirection.x,"
              "leftEyeDirection.y,leftEyeDirection.z,rightEyeDirection.x,rightEyeDirection.y,rightEyeDirection.z,"
              "valL,valR\n")
RAW_ROW = "{t},0,0,0,1,0,0,1,0,0,1,1,1\n"


def raw_gaze(t: Path, text: str | bytes | None, mkdir=False):
    from scanpath.io.salient360 import load_raw_gaze

    p = t / "raw.csv"
    if mkdir:
        p.mkdir()
    elif text is not None:
        p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return load_raw_gaze(p)


case("salient360", "raw: missing file", "raw.csv")(lambda t: raw_gaze(t, None))
case("salient360", "raw: directory", "raw.csv")(lambda t: raw_gaze(t, None, mkdir=True))
case("salient360", "raw: empty file")(lambda t: raw_gaze(t, ""))
case("salient360", "raw: header only")(lambda t: raw_gaze(t, RAW_HEADER))
case("salient360", "raw: timestamps decrease")(lambda t: raw_gaze(
    t, RAW_HEADER + "".join(RAW_ROW.format(t=v) for v in (1000, 900, 800))))
case("salient360", "raw: timestamp NaN")(lambda t: raw_gaze(
    t, RAW_HEADER + "".join(RAW_ROW.format(t=v) for v in (1000, "NaN", 3000))))
case("salient360", "raw: binary")(lambda t: raw_gaze(t, BINARY))
case("salient360", "raw: non-UTF-8")(lambda t: raw_gaze(t, RAW_HEADER.encode() + NON_UTF8))
case("salient360", "raw: short row")(lambda t: raw_gaze(t, RAW_HEADER + "1,2,3\n"))
case("salient360", "raw: unparseable value")(lambda t: raw_gaze(t, RAW_HEADER + RAW_ROW.format(t="abc")))
case("salient360", "raw: no eye columns")(lambda t: raw_gaze(t, "OcutimeStamp,a\n1,2\n2,3\n"))


def fixlist(t: Path, text: str | bytes | None, mkdir=False):
    from scanpath.io.salient360 import load_fixation_list

    p = t / "fix.csv"
    if mkdir:
        p.mkdir()
    elif text is not None:
        p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return load_fixation_list(p)


for _n, _txt in [("NaN index", "0, 0.5, 0.5, 0\nNaN, 0.6, 0.5, 100\n"),
                 ("negative duration", "0, 0.5, 0.5, 0, 0.2\n1, 0.6, 0.5, 0.3, -0.1\n"),
                 ("longitude 1.5", "0, 1.5, 0.5, 0\n"), ("latitude -0.1", "0, 0.5, -0.1, 0\n"),
                 ("two columns", "0, 0.5\n"), ("start inf", "0, 0.5, 0.5, inf\n"),
                 ("text mid-file", "0, 0.5, 0.5, 0\n1, abc, 0.5, 100\n"), ("index -1", "-1, 0.5, 0.5, 0\n"),
                 ("header only", "Idx, longitude, latitude, start\n"), ("index 0.5", "0.5, 0.5, 0.5, 0\n")]:
    case("salient360", f"fixations: {_n}")(lambda t, x=_txt: fixlist(t, x))
case("salient360", "fixations: missing file", "fix.csv")(lambda t: fixlist(t, None))
case("salient360", "fixations: directory", "fix.csv")(lambda t: fixlist(t, None, mkdir=True))
case("salient360", "fixations: binary")(lambda t: fixlist(t, BINARY))
case("salient360", "fixations: non-UTF-8")(lambda t: fixlist(t, b"0, 0.5, 0.5, 0\n" + NON_UTF8))


# ============================================================================================= H*
def hstar(t: Path, items: str | bytes | None, pano=True, as_dir=False, task=None):
    from PIL import Image

    from scanpath.io.hstar import load_hstar

    scene = t / "hs" / "scene1"
    scene.mkdir(parents=True)
    if pano:
        Image.fromarray(np.zeros((8, 16, 3), np.uint8)).save(scene / "pano.png")
    if as_dir:
        (scene / "annotation.json").mkdir()
    elif items is not None:
        (scene / "annotation.json").write_bytes(items if isinstance(items, bytes) else items.encode())
    return load_hstar(t / "hs", task)


for _n, _it in [("yaw NaN", '[{"task": "find", "yaw": [NaN, 10], "pitch": [0, 10]}]'),
                ("yaw true", '[{"task": "find", "yaw": [true, 10], "pitch": [0, 10]}]'),
                ("pitch -100", '[{"task": "find", "yaw": [0, 10], "pitch": [-100, 10]}]'),
                ("pitch 95", '[{"task": "find", "yaw": [0, 10], "pitch": [0, 95]}]'),
                ("yaw Infinity", '[{"task": "find", "yaw": [0, Infinity], "pitch": [0, 10]}]'),
                ("yaw 1e400", '[{"task": "find", "yaw": [0, 1e400], "pitch": [0, 10]}]'),
                ("initial yaw [true, 90]", '[{"task": "find", "yaw": [0, 10], "initial yaw": [true, 90]}]'),
                ("initial yaw 'x'", '[{"task": "find", "yaw": [0, 10], "initial yaw": "x"}]'),
                ("levels mismatch", '[{"task": "find", "yaw": [0, 10], "initial yaw": [0, 90], "level": [1]}]'),
                ("empty instruction", '[{"task": "", "yaw": [0, 10]}]'),
                ("item not an object", "[5]"), ("not a list", '{"task": "x"}'), ("invalid JSON", "[{"),
                ("yaw one value", '[{"task": "find", "yaw": [0]}]')]:
    case("hstar", _n)(lambda t, x=_it: hstar(t, x))
case("hstar", "annotation.json is a directory")(lambda t: hstar(t, None, as_dir=True))
case("hstar", "binary annotation.json")(lambda t: hstar(t, BINARY))
case("hstar", "no panorama")(lambda t: hstar(t, '[{"task": "find", "yaw": [0, 10]}]', pano=False))
case("hstar", "HOS item without pitch")(lambda t: hstar(t, '[{"task": "find", "yaw": [0, 10]}]', task="HOS"))
case("hstar", "root missing", "nope")(lambda t: __import__("scanpath.io.hstar", fromlist=["x"]).load_hstar(t / "nope"))


# ====================================================================================== asymmetry
ASYM_HEADER = ["condition", "description", "set_size", "human_rt_ms", "human_slope_ms_per_item"]


def human_rt(t: Path, rows=None, header=ASYM_HEADER, raw: bytes | None = None):
    from scanpath.analysis.asymmetry import read_human_rt

    p = t / "h.csv"
    if raw is not None:
        p.write_bytes(raw)
    else:
        with open(p, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(header)
            w.writerows(rows or [])
    return read_human_rt(p)


for _n, _row in [("negative RT", ["Ts", "x", 3, -500, 10]), ("set_size 1e400", ["Ts", "x", "1e400", 500, 10]),
                 ("set_size inf", ["Ts", "x", "inf", 500, 10]), ("set_size 0", ["Ts", "x", 0, 500, 10]),
                 ("set_size 2.5", ["Ts", "x", 2.5, 500, 10]), ("RT 'x'", ["Ts", "x", 3, "x", 10]),
                 ("RT NaN", ["Ts", "x", 3, "nan", 10]), ("empty condition", ["", "x", 3, 500, 10]),
                 ("slope inf", ["Ts", "x", 3, 500, "inf"])]:
    case("asymmetry", _n)(lambda t, r=_row: human_rt(t, [r]))
case("asymmetry", "duplicate set size")(lambda t: human_rt(t, [["Ts", "x", 3, 500, 10], ["Ts", "x", 3, 600, 10]]))
case("asymmetry", "missing column")(lambda t: human_rt(t, [["Ts", "x", 3, 500]], header=ASYM_HEADER[:-1]))
case("asymmetry", "no rows")(lambda t: human_rt(t, []))
case("asymmetry", "binary file")(lambda t: human_rt(t, raw=BINARY))
case("asymmetry", "missing file", "nope.csv")(lambda t: __import__(
    "scanpath.analysis.asymmetry", fromlist=["x"]).read_human_rt(t / "nope.csv"))


def found_at(t: Path, raw: bytes | None):
    from scanpath.analysis.asymmetry import read_found_at

    p = t / "found.csv"
    if raw is not None:
        p.write_bytes(raw)
    return read_found_at(p)


for _n, _raw in [("text values", b"0,x,0\n"), ("two hits", b"0,1,1\n"), ("value 2", b"0,2,0\n"),
                 ("NaN value", b"0,nan,0\n"), ("binary", BINARY)]:
    case("asymmetry", f"found_at {_n}")(lambda t, r=_raw: found_at(t, r))
case("asymmetry", "found_at missing file", "found.csv")(lambda t: found_at(t, None))


# ==================================================================================== datamodules
def tiny_amazon_root(t: Path) -> Path:
    (t / "shared").mkdir(parents=True)
    p = t / "shared" / "Amazon.json"
    p.write_text(json.dumps({"1.png": amazon_entry(size={"width": 280, "height": 120},
                                                      ground_truth=[{"xmin": 0, "xmax": 20, "ymin": 0, "ymax": 20}],
                                                      fixations={"1": [[10, 10]], "2": [[20, 20]]})}))
    return p


def dm_setup(dm) -> object:
    dm.setup()
    return dm.samples("all")


@case("datamodule", "amazon: data.annotations typo with a valid root (issue headline)")
def _dm_amazon_typo(t):
    from scanpath.datamodules.amazon_covers import AmazonCoversDataModule

    good = tiny_amazon_root(t)
    return dm_setup(AmazonCoversDataModule(root=str(good.parent), annotations=str(t / "nope.json"), filter_sd=None))


for _key in ("image_dir", "mask_dir"):
    @case("datamodule", f"amazon: data.{_key} missing")
    def _dm_amazon_dir(t, key=_key):
        from scanpath.datamodules.amazon_covers import AmazonCoversDataModule

        good = tiny_amazon_root(t)
        return dm_setup(AmazonCoversDataModule(annotations=str(good), filter_sd=None, **{key: str(t / "nope")}))


@case("datamodule", "amazon: data.root missing", "nope")
def _dm_amazon_root(t):
    from scanpath.datamodules.amazon_covers import AmazonCoversDataModule

    return dm_setup(AmazonCoversDataModule(root=str(t / "nope"), annotations=None, filter_sd=None))


def _shelf_file(t: Path) -> Path:
    f = t / "s.csv"
    f.write_text("ID,Target,Question,Choice,X,Y,T_Package,Sub_ID\n1,T1_1,Q1_1,1,10,300,2,5\n")
    return f


case("datamodule", "shelf: data.image_dir missing")(lambda t: dm_setup(
    __import__("scanpath.datamodules.shelf", fromlist=["x"]).ShelfDataModule(str(_shelf_file(t)), image_dir=str(t / "nope"))))
case("datamodule", "shelf: data_files missing", "nope.csv")(lambda t: dm_setup(
    __import__("scanpath.datamodules.shelf", fromlist=["x"]).ShelfDataModule([str(_shelf_file(t)), str(t / "nope.csv")])))


def _coco_file(t: Path, **kw) -> Path:
    p = t / "a.json"
    p.write_text(json.dumps([coco_rec(X=[10.0], Y=[10.0], T=[100.0], length=1, **kw)]))
    return p


case("datamodule", "coco: data.image_dir missing")(lambda t: dm_setup(
    __import__("scanpath.datamodules.coco_search18", fromlist=["x"]).CocoSearch18DataModule(
        str(_coco_file(t)), image_dir=str(t / "nope"))))


@case("datamodule", "coco: absolute name outside image_dir")
def _dm_coco_abs(t):
    from scanpath.datamodules.coco_search18 import CocoSearch18DataModule

    (t / "secret.jpg").write_bytes(b"x")
    (t / "img").mkdir()
    return dm_setup(CocoSearch18DataModule(str(_coco_file(t, name=str(t / "secret.jpg"))), image_dir=str(t / "img")))


@case("datamodule", "coco: ../ name outside image_dir")
def _dm_coco_dotdot(t):
    from scanpath.datamodules.coco_search18 import CocoSearch18DataModule

    (t / "secret.jpg").write_bytes(b"x")
    (t / "img").mkdir()
    return dm_setup(CocoSearch18DataModule(str(_coco_file(t, name="../secret.jpg")), image_dir=str(t / "img")))


for _key, _src in (("target_dir", "target_source"), ("gt_dir", "gt_source")):
    @case("datamodule", f"natural_search: data.{_key} missing")
    def _dm_nat(t, key=_key, src=_src):
        from scanpath.datamodules.natural_search import NaturalSearchDataModule

        (t / "img").mkdir()
        return dm_setup(NaturalSearchDataModule(str(_coco_file(t)), image_dir=str(t / "img"),
                                                **{key: str(t / "nope"), src: "dir"}))


for _key in ("root", "db_path", "mit1003_root"):
    @case("datamodule", f"capmit1003: data.{_key} missing", "nope")
    def _dm_cap(t, key=_key):
        from scanpath.datamodules.capmit1003 import CapMIT1003DataModule
        from scanpath.io.capmit1003 import write_synthetic_capmit1003

        root = write_synthetic_capmit1003(t / "cap", n_images=1, captions_per_image=1, clicks=2)
        kw = {"db_path": str(root / "capmit1003.db"), "mit1003_root": str(root)}
        kw = {"root": str(t / "nope")} if key == "root" else {**kw, key: str(t / "nope")}
        return dm_setup(CapMIT1003DataModule(**kw))


case("datamodule", "mit1003: data.root missing", "nope")(lambda t: dm_setup(
    __import__("scanpath.datamodules.mit1003", fromlist=["x"]).MIT1003DataModule(root=str(t / "nope"))))


@case("datamodule", "mit1003: data.captions_db missing", "nope.db")
def _dm_mit_cap(t):
    from scanpath.datamodules.mit1003 import MIT1003DataModule
    from scanpath.io.mit1003 import write_synthetic_mit1003

    root = write_synthetic_mit1003(t / "m", stems=["s0"])
    dm = MIT1003DataModule(root=str(root), captions_db=str(t / "nope.db"))
    dm.setup()
    return dm.query_samples("test")


case("datamodule", "hstar: data.root missing", "nope")(lambda t: dm_setup(
    __import__("scanpath.datamodules.hstar", fromlist=["x"]).HstarDataModule(root=str(t / "nope"))))
case("datamodule", "split_file missing", "nope.txt")(lambda t: dm_setup(
    __import__("scanpath.datamodules.search_arrays", fromlist=["x"]).SearchArraysDataModule(
        num_layouts=3, split="split_file", split_file=str(t / "nope.txt"))))


# ============================================================================= outputs and faults
def _umask_case(umask: int, mode: int):
    def run(t):
        from scanpath.io.atomic import atomic_write_text

        old = os.umask(umask)
        try:
            atomic_write_text(t / "out.txt", "x")
        finally:
            os.umask(old)
        return (t / "out.txt").stat().st_mode & 0o777 == mode

    return run


case("outputs", "atomic write, umask 022 -> 644")(_umask_case(0o022, 0o644))
case("outputs", "atomic write, umask 002 -> 664")(_umask_case(0o002, 0o664))


@case("outputs", "atomic rewrite keeps the file's mode")
def _keep_mode(t):
    from scanpath.io.atomic import atomic_write_text

    p = t / "out.txt"
    p.write_text("old")
    p.chmod(0o640)
    atomic_write_text(p, "new")
    return p.stat().st_mode & 0o777 == 0o640


def _run_dir(root: Path, name: str, model: str, ckpt_bytes: bytes | None = None, age: float = 0.0) -> Path:
    import torch

    rd = root / "train" / "runs" / name
    (rd / ".hydra").mkdir(parents=True)
    (rd / ".hydra" / "config.yaml").write_text(f"model:\n  _target_: {model}\n")
    (rd / "checkpoints").mkdir()
    p = rd / "checkpoints" / "last.ckpt"
    if ckpt_bytes is None:
        torch.save({"state_dict": {}}, p)
    else:
        p.write_bytes(ckpt_bytes)
    os.utime(p, (time.time() - age, time.time() - age))
    return rd


def _ckpt_cfg(root: Path, out: Path, model: str, ckpt):
    from omegaconf import OmegaConf

    return OmegaConf.create({"ckpt_path": ckpt, "resume_from_last": True, "task_name": "train",
                             "paths": {"output_dir": str(out), "log_dir": str(root)}, "model": {"_target_": model}})


@case("checkpoints", "ckpt_path=last must not pick another model's newer run")
def _last_other_model(t):
    from scanpath.utils.hydra import resolve_ckpt_path

    a = _run_dir(t, "a", "pkg.OAT", age=100)
    _run_dir(t, "b", "pkg.Chance", age=1)
    got = resolve_ckpt_path(_ckpt_cfg(t, t / "train" / "runs" / "now", "pkg.OAT", "last"))
    return Path(got).parent.parent == a


@case("checkpoints", "ckpt_path=last with only other models' runs", "pkg.NeVA")
def _last_none(t):
    from scanpath.utils.hydra import resolve_ckpt_path

    _run_dir(t, "b", "pkg.Chance")
    return resolve_ckpt_path(_ckpt_cfg(t, t / "train" / "runs" / "now", "pkg.NeVA", "last"))


@case("checkpoints", "resume skips a 0-byte last.ckpt")
def _resume_zero(t):
    from scanpath.utils.hydra import resolve_ckpt_path

    rd = _run_dir(t, "a", "pkg.OAT", ckpt_bytes=b"")
    got = resolve_ckpt_path(_ckpt_cfg(t, rd, "pkg.OAT", None))
    return got is None or Path(got).stat().st_size > 0


@case("checkpoints", "explicit truncated checkpoint", "last.ckpt")
def _explicit_truncated(t):
    from scanpath.utils.hydra import resolve_ckpt_path

    rd = _run_dir(t, "a", "pkg.OAT", ckpt_bytes=b"PK\x03\x04trunc")
    return resolve_ckpt_path(_ckpt_cfg(t, t / "x", "pkg.OAT", str(rd / "checkpoints" / "last.ckpt")))


@case("checkpoints", "explicit checkpoint of another model", "pkg.Chance")
def _explicit_other(t):
    from scanpath.utils.hydra import resolve_ckpt_path

    rd = _run_dir(t, "b", "pkg.Chance")
    return resolve_ckpt_path(_ckpt_cfg(t, t / "x", "pkg.OAT", str(rd / "checkpoints" / "last.ckpt")))


@case("checkpoints", "ckpt_path is a directory", "ckdir")
def _ckpt_dir(t):
    from scanpath.utils.hydra import resolve_ckpt_path

    (t / "ckdir").mkdir()
    return resolve_ckpt_path(_ckpt_cfg(t, t / "x", "pkg.OAT", str(t / "ckdir")))


@case("checkpoints", "full disk during training leaves no partial checkpoint")
def _full_disk(t):
    import errno

    import pytorch_lightning as pl
    import torch
    from hydra.utils import instantiate
    from lightning_fabric.plugins.io import torch_io
    from omegaconf import OmegaConf

    class Tiny(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(2, 1)

        def training_step(self, batch, _):
            loss = self.lin(batch[0]).pow(2).mean()
            self.log("train_loss", loss, on_step=False, on_epoch=True)
            return loss

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    cbs = []
    for name in ("last_checkpoint", "model_checkpoint"):
        conf = OmegaConf.load(ROOT / "conf" / "callbacks" / f"{name}.yaml")[name]
        conf.dirpath = str(t / "ck")
        if name == "model_checkpoint":
            conf.monitor, conf.mode, conf.save_top_k = "train_loss", "min", -1
        cbs.append(instantiate(conf))
    real, calls = torch_io._atomic_save, {"n": 0}

    def full(checkpoint, filepath):
        calls["n"] += 1
        if calls["n"] <= 2:
            return real(checkpoint, filepath)
        with open(filepath, "wb") as fh:
            fh.write(b"PK\x03\x04")
        raise OSError(errno.ENOSPC, "No space left on device")

    torch_io._atomic_save = full
    try:
        data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(4, 2)), batch_size=2)
        trainer = pl.Trainer(max_epochs=3, callbacks=cbs, logger=False, enable_progress_bar=False,
                             enable_model_summary=False, accelerator="cpu", default_root_dir=str(t))
        with contextlib.suppress(OSError):
            trainer.fit(Tiny(), data)
    finally:
        torch_io._atomic_save = real
    from zipfile import is_zipfile

    files = list((t / "ck").iterdir())
    return all(is_zipfile(p) for p in files) and not any(p.name.startswith(".") for p in files)


@case("metrics", "n_nan counts a NaN MultiMatch dimension")
def _n_nan(t):
    from scanpath.metrics.evaluation import score_scanpaths
    from scanpath.types import Scanpath

    rng = np.random.default_rng(0)

    def sp(s):
        return Scanpath(rng.uniform(0, 200, 5), rng.uniform(0, 100, 5), np.zeros(5), stimulus="a", subject=s,
                        image_size=(200, 100))

    res = score_scanpaths([sp(1)], [sp(2), sp(3)], {"multimatch": None})["multimatch"]
    return not (np.isnan(res["values"]["duration"]) and res["n_nan"] == 0)


@case("metrics", "infinite duration scored")
def _inf_dur(t):
    from scanpath.metrics.evaluation import score_scanpaths
    from scanpath.types import Scanpath

    rng = np.random.default_rng(0)
    pred = [Scanpath(rng.uniform(0, 200, 5), rng.uniform(0, 100, 5), [100, np.inf, 100, 100, 100], stimulus="a",
                     subject=1, image_size=(200, 100))]
    hum = [Scanpath(rng.uniform(0, 200, 5), rng.uniform(0, 100, 5), [100] * 5, stimulus="a", subject=s,
                    image_size=(200, 100)) for s in (2, 3)]
    return score_scanpaths(pred, hum, {"multimatch": None})


# =========================================================================================== CLI
#: a folder holding a real Amazon.json (the shared 80-collage file where present, else a tiny one per case)
_SHARED_AMAZON = Path(os.environ.get("SWEEP_SHARED_DATA", ROOT.parent / "shared" / "data")) / "amazon_covers"
AMAZON_ROOT = str(_SHARED_AMAZON) if (_SHARED_AMAZON / "Amazon.json").is_file() else "{t}/amazon/shared"
_ERROR_LINE = re.compile(r"^(Error: .*|[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b.*)$")
_NAMED = ("ScanpathDataError", "OutputDirError", "CheckpointMismatchError")


def cli(args: list[str], tokens: list[str], script: str = "train.py", timeout: int = 300):
    """Run an entry point. clear = non-zero exit and a final error line that is one of the named errors or
    names every token (Hydra's "Error executing job with overrides" echo of the command does not count)."""

    def run(t):
        env = {**os.environ, "OMP_NUM_THREADS": "1", "HYDRA_FULL_ERROR": "0", "PYTHONPATH": str(ROOT)}
        if any("{t}" in a for a in args):  # a valid Amazon.json under {t}/amazon for the fallback case
            tiny_amazon_root(t / "amazon")
        args_t = [a.replace("{t}", str(t)) for a in args]
        r = subprocess.run([sys.executable, script, f"paths.log_dir={t}/logs", *args_t], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=timeout)
        out = r.stdout + r.stderr
        if r.returncode == 0:
            return None  # accepted: silent
        lines = [ln for ln in out.splitlines() if _ERROR_LINE.match(ln.strip())
                 and not ln.startswith("Error executing job")]
        last = lines[-1].strip() if lines else out.strip().splitlines()[-1]
        if any(n in last.split(":")[0] for n in _NAMED) or all(tok in last for tok in tokens):
            return True
        raise RuntimeError("raw: " + last[:200])

    return run


CLI_CASES = [
    ("train.py into a read-only run dir", ["hydra.run.dir=/sys/scanpath_ro_run", "data.num_layouts=4"],
     ["/sys", "not writable"], "train.py"),
    ("evaluate.py into a read-only run dir", ["hydra.run.dir=/sys/scanpath_ro_run", "model=chance",
                                              "data.num_layouts=4"], ["/sys", "not writable"], "evaluate.py"),
    ("run dir below a file", ["hydra.run.dir=/etc/hostname/run", "data.num_layouts=4"], ["/etc/hostname"], "train.py"),
    ("evaluate data=amazon_covers data.annotations=/nope.json (valid data.root)",
     ["model=random", "data=amazon_covers", f"data.root={AMAZON_ROOT}", "data.annotations=/nope.json"],
     ["/nope.json"], "evaluate.py"),
    ("evaluate data=coco_search18 data.annotations=/nope.json", ["model=chance", "data=coco_search18",
                                                                 "data.annotations=/nope.json"], ["/nope.json"],
     "evaluate.py"),
    ("train trainer.max_epochs=abc", ["trainer.max_epochs=abc", "data.num_layouts=4"], ["max_epochs", "abc"],
     "train.py"),
    ("train seed=abc", ["seed=abc", "data.num_layouts=4"], ["seed", "abc"], "train.py"),
]


# ========================================================================================= runner
def classify(fn, token: str | None, tmp: Path) -> tuple[str, str]:
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            out = fn(tmp)
    except ScanpathDataError as e:
        return "clear", f"ScanpathDataError: {e}"[:160]
    except Exception as e:  # noqa: BLE001 - classifying every other failure is the point
        msg = f"{type(e).__name__}: {e}"
        named = token is not None and token in str(e)
        if type(e).__name__ in ("OutputDirError", "CheckpointMismatchError") or named:
            return "clear", msg[:160]
        return "raw", msg[:160] + " @ " + traceback.extract_tb(e.__traceback__)[-1].filename.split("/")[-1]
    if out is True:
        return "clear", "correct outcome"
    return "silent", "accepted" if out is not False else "wrong outcome"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--no-cli", action="store_true", help="skip the subprocess CLI cases")
    ap.add_argument("--only-cli", action="store_true", help="run only the subprocess CLI cases")
    ap.add_argument("--match", default=None, help="run only cases whose name contains this text")
    ap.add_argument("--verbose", action="store_true", help="print every case")
    args = ap.parse_args()
    cases = [] if args.only_cli else list(CASES)
    if not args.no_cli:
        for name, a, tokens, script in CLI_CASES:
            cases.append(("cli", name, cli(a, tokens, script), None))
    if args.match:
        cases = [c for c in cases if args.match in c[1]]
    totals = {"clear": 0, "raw": 0, "silent": 0}
    by_group: dict[str, dict[str, int]] = {}
    t0 = time.time()
    for group, name, fn, token in cases:
        with tempfile.TemporaryDirectory(prefix="sweep-") as d:
            outcome, detail = classify(fn, token, Path(d))
        totals[outcome] += 1
        by_group.setdefault(group, {"clear": 0, "raw": 0, "silent": 0})[outcome] += 1
        if args.verbose or outcome != "clear":
            print(f"[{outcome:6s}] {group:12s} {name}: {detail}")
    print()
    print(f"{'group':14s} {'tried':>5s} {'clear':>5s} {'raw':>5s} {'silent':>6s}")
    for g, c in by_group.items():
        print(f"{g:14s} {sum(c.values()):5d} {c['clear']:5d} {c['raw']:5d} {c['silent']:6d}")
    print(f"{'TOTAL':14s} {len(cases):5d} {totals['clear']:5d} {totals['raw']:5d} {totals['silent']:6d}"
          f"   ({time.time() - t0:.0f} s, code under {ROOT})")


if __name__ == "__main__":
    main()
