"""Install a registered dataset under a root folder (docs/datasets.md §3).

Steps, each failing with :class:`~scanpath.errors.ScanpathDataError` before anything is left
half-done:

1. **checks** — every file has a URL and a way to be verified (a SHA-256 from the registry or
   ``--sha256``; otherwise the user must pass ``no_verify=True``). Nothing is fetched otherwise.
2. **licence** — the terms are printed and must be accepted once per root (``accept_licence=True``
   or a ``yes`` at the interactive prompt); the acceptance and the hash of the terms are remembered
   in ``<root>/.scanpath-licences.json`` (changed terms ask again).
3. **download** — into ``<root>/.downloads/<dataset>/`` with resume (:func:`fetch`), then the
   SHA-256 (and a third-party MD5 when the registry has one) is checked. A mismatch deletes the file.
4. **extract** — archives are unpacked into a staging folder ``<root>/.staging/…`` (unsafe member
   paths refused), plain files copied; the files the data config needs are located; the staging
   folder is renamed onto ``<root>/<dataset>`` in one step. A corrupt archive deletes the staging
   folder and the archive.
5. **config** — ``<root>/<dataset>/scanpath-data.yaml`` lists the Hydra overrides, also printed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import json
import lzma
import re
import shlex
import shutil
import sys
import tarfile
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any, TextIO

from scanpath.download.transfer import fetch, file_digests
from scanpath.download.registry import DatasetSpec, RemoteFile
from scanpath.errors import ScanpathDataError
from scanpath.io.atomic import atomic_write_json, atomic_write_text, current_umask

LICENCES_FILE = ".scanpath-licences.json"
MARKER = ".scanpath-download.json"
CONFIG_FILE = "scanpath-data.yaml"
_SAFE_VALUE = re.compile(r"^[A-Za-z0-9_./@+-]+$")
_FIELD = re.compile(r"\{([^{}]+)\}")
_JUNK = ("__MACOSX/",)


class LicenceNotAccepted(ScanpathDataError):
    """The dataset's terms were shown and not accepted."""


@dataclasses.dataclass
class Installed:
    """Where a dataset ended up and how to point a data config at it."""

    name: str
    path: Path
    located: dict[str, Path]
    commands: list[tuple[str, list[str], bool]]  # (label, overrides, ready)
    digests: dict[str, dict[str, Any]]
    reused: bool = False


# --------------------------------------------------------------------------- checks
def _resolve_files(spec: DatasetSpec, urls: Mapping[str, str], sha256: Mapping[str, str],
                   no_verify: bool) -> list[tuple[RemoteFile, str, str | None]]:
    """(file, url, expected sha256) per file, or an error saying what the user must add."""
    out = []
    for f in spec.files:
        url = urls.get(f.name, f.url)
        if not url:
            raise ScanpathDataError(f"no download URL for {f.name}: {f.note}", record=spec.name, field="url")
        expected = sha256.get(f.name, f.sha256)
        if expected is not None:
            expected = expected.strip().lower()
            if not re.fullmatch(r"[0-9a-f]{64}", expected):
                raise ScanpathDataError(f"--sha256 for {f.name} is not 64 hex digits: {expected!r}",
                                        record=spec.name, field="sha256")
        elif not no_verify:
            raise ScanpathDataError(
                f"the registry has no SHA-256 for {f.name} (none is published); pass --sha256 "
                f"{f.name}=<64 hex digits> if you have one, or --no-verify to download it unverified "
                "(its SHA-256 is then printed so that you can pin it"
                + (f"; the {f.md5_source} MD5 is still checked)" if f.md5 else ")"),
                record=spec.name, field="sha256")
        out.append((f, url, expected))
    return out


def parse_file_values(values: list[str] | None, spec: DatasetSpec, what: str) -> dict[str, str]:
    """``--sha256 NAME=HEX`` / ``--url NAME=URL`` (a bare value when the dataset has one file)."""
    out: dict[str, str] = {}
    names = [f.name for f in spec.files]
    for v in values or []:
        name, sep, val = v.partition("=")
        if sep and name in names:
            out[name] = val
        elif len(names) == 1 and not (sep and what == "sha256"):
            out[names[0]] = v
        else:
            raise ScanpathDataError(f"--{what} {v!r}: expected FILE=VALUE with FILE one of {names}",
                                    record=spec.name, field=what)
    return out


# --------------------------------------------------------------------------- licence
def _read_licences(root: Path) -> dict[str, Any]:
    p = root / LICENCES_FILE
    if not p.is_file():
        return {}
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ScanpathDataError(f"cannot read the licence record ({e}); delete it to be asked again", file=p) from None
    return data if isinstance(data, dict) else {}


def ensure_licence(spec: DatasetSpec, root: Path, *, accept: bool, interactive: bool | None = None,
                   input_fn: Callable[[str], str] = input, out: TextIO | None = None) -> None:
    """Print the terms; go on only if they were accepted now or before (for these exact terms)."""
    out = out if out is not None else sys.stdout
    record = _read_licences(root)
    prev = record.get(spec.name)
    if isinstance(prev, dict) and prev.get("terms_sha256") == spec.terms_sha256():
        print(f"licence of {spec.name}: {spec.licence} (accepted {prev.get('accepted_utc')}, "
              f"recorded in {root / LICENCES_FILE})", file=out)
        return
    print(spec.terms_text(), file=out)
    if not accept:
        if interactive is None:
            interactive = bool(getattr(sys.stdin, "isatty", lambda: False)())
        if not interactive:
            raise LicenceNotAccepted(f"the terms of {spec.name} above were not accepted: read them and run again "
                                     "with --accept-licence", record=spec.name, field="licence")
        answer = input_fn(f"Accept the terms of {spec.name}? [y/N] ").strip().lower()
        if answer not in {"y", "yes"}:
            raise LicenceNotAccepted(f"the terms of {spec.name} were declined; nothing was downloaded",
                                     record=spec.name, field="licence")
    record[spec.name] = {"licence": spec.licence, "terms_sha256": spec.terms_sha256(),
                         "accepted_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    atomic_write_json(root / LICENCES_FILE, record)
    print(f"terms of {spec.name} accepted (recorded in {root / LICENCES_FILE})", file=out)


# --------------------------------------------------------------------------- verify
def verify(path: Path, f: RemoteFile, expected: str | None) -> dict[str, Any]:
    """Check the downloaded file; a mismatch deletes it (a resumed download must not build on it)."""
    sha, md5 = file_digests(path)
    info: dict[str, Any] = {"sha256": sha, "bytes": path.stat().st_size}
    if expected is not None and sha != expected:
        path.unlink(missing_ok=True)
        raise ScanpathDataError(f"SHA-256 mismatch: expected {expected}, got {sha}; the file was deleted",
                                file=path, field="sha256")
    if f.md5 is not None and md5 != f.md5:
        path.unlink(missing_ok=True)
        raise ScanpathDataError(f"MD5 mismatch against {f.md5_source}: expected {f.md5}, got {md5}; the file "
                                "was deleted", file=path, field="md5")
    info["verified"] = "sha256" if expected is not None else ("md5" if f.md5 is not None else "none")
    return info


# --------------------------------------------------------------------------- extract
def _member_target(dest: Path, name: str, archive: Path) -> Path | None:
    if name.startswith(_JUNK) or not name.strip("/"):
        return None
    pure = PurePosixPath(name.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts or re.match(r"^[A-Za-z]:", name):
        raise ScanpathDataError(f"archive member {name!r} points outside the extraction folder; refused",
                                file=archive, field="member")
    return dest.joinpath(*pure.parts)


def extract(archive: Path, dest: Path, kind: str) -> None:
    """Unpack a zip or tar archive into ``dest`` (CRC / format errors are a named error)."""
    dest.mkdir(parents=True, exist_ok=True)
    try:
        if kind == "zip":
            with zipfile.ZipFile(archive) as zf:
                for info in zf.infolist():
                    target = _member_target(dest, info.filename, archive)
                    if target is None:
                        continue
                    if info.is_dir():
                        target.mkdir(parents=True, exist_ok=True)
                        continue
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with zf.open(info) as src, open(target, "wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
        elif kind == "tar":
            with tarfile.open(archive, "r:*") as tf:
                tf.extractall(dest, filter="data")
        else:
            raise ValueError(kind)
    except ScanpathDataError:
        raise
    except (zipfile.BadZipFile, tarfile.TarError, zlib.error, lzma.LZMAError, EOFError, OSError) as e:
        raise ScanpathDataError(f"corrupt or unreadable {kind} archive: {e}", file=archive) from None


def _locate(spec: DatasetSpec, folder: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for key, pattern in spec.locate.items():
        hits = sorted(folder.glob(pattern))
        if not hits:
            raise ScanpathDataError(f"the downloaded files hold no {pattern!r}, which the data config needs "
                                    "(the upstream layout may have changed)", record=spec.name, field=key)
        found[key] = hits[0]
    return found


# --------------------------------------------------------------------------- config pointer
def hydra_value(path: Path | str) -> str:
    """A path as a Hydra override value (quoted when it holds characters Hydra's grammar reserves)."""
    s = str(path)
    if _SAFE_VALUE.match(s):
        return s
    return '"' + s.replace('"', '\\"') + '"'  # double quotes: the shell line then needs only one pair of '…'


def fill(template: str, values: Mapping[str, Path], root: Path) -> str:
    def one(m: re.Match) -> str:
        key = m.group(1)
        if key.startswith("root/"):
            return hydra_value(root / key[5:])
        if key not in values:
            raise KeyError(f"override template {template!r} names unknown field {key!r}")
        return hydra_value(values[key])
    return _FIELD.sub(one, template)


def commands_for(spec: DatasetSpec, located: Mapping[str, Path], dataset_dir: Path, root: Path
                 ) -> list[tuple[str, list[str], bool]]:
    values: dict[str, Path] = {"dataset_dir": dataset_dir, "root": root}
    for k, p in located.items():
        final = dataset_dir / p
        values[k] = final
        values[f"{k}_dir"] = final.parent
    return [(c.label, [fill(t, values, root) for t in c.overrides], c.ready) for c in spec.configs]


def shell_line(overrides: list[str]) -> str:
    return " ".join(shlex.quote(o) for o in overrides)


def _config_yaml(spec: DatasetSpec, inst: Installed) -> str:
    import yaml

    doc = {
        "dataset": spec.name,
        "title": spec.title,
        "source": spec.source,
        "licence": spec.licence,
        "files": {k: str(v) for k, v in inst.located.items()},
        "configs": [{"label": label, "ready": ready, "overrides": ov,
                     "command": "python evaluate.py " + shell_line(ov)} for label, ov, ready in inst.commands],
    }
    if spec.after:
        doc["manual_step"] = spec.after
    head = (f"# Written by `python -m scanpath download {spec.name}`: Hydra overrides that point the data "
            "config at this folder (docs/datasets.md §4).\n")
    return head + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=110)


def _licence_note(spec: DatasetSpec) -> str:
    return spec.terms_text() + "\n\nKeep this note with any file derived from this dataset.\n"


# --------------------------------------------------------------------------- install
def _read_marker(target: Path) -> dict[str, Any] | None:
    p = target / MARKER
    if not p.is_file():
        return None
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _swap_in(staging: Path, target: Path) -> None:
    """Rename ``staging`` onto ``target`` (an old install is moved aside first and then removed)."""
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f"old-{target.name}-", dir=staging.parent))
        old.rmdir()
        target.rename(old)
    try:
        staging.rename(target)
    except BaseException:
        if old is not None:
            old.rename(target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def install(spec: DatasetSpec, root: str | Path, *, accept_licence: bool = False, no_verify: bool = False,
            sha256: Mapping[str, str] | None = None, urls: Mapping[str, str] | None = None, force: bool = False,
            keep_archives: bool = False, retries: int = 3, timeout: float = 30.0, interactive: bool | None = None,
            input_fn: Callable[[str], str] = input, out: TextIO | None = None, err: TextIO | None = None,
            clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
            progress_interval_s: float | None = None) -> Installed:
    """Download, verify, extract and point the data config at ``spec`` under ``root`` (module docstring)."""
    out = out if out is not None else sys.stdout
    root = Path(root).expanduser().absolute()
    if root.exists() and not root.is_dir():
        raise ScanpathDataError("download root is not a folder", file=root)
    target = root / spec.name
    marker = _read_marker(target) if target.is_dir() else None
    if target.exists() and marker is None:
        raise ScanpathDataError("exists and was not written by `scanpath download`: pick another --root or move it",
                                file=target)
    if marker is not None and not force:
        located = {k: Path(v) for k, v in marker.get("located", {}).items()}
        inst = Installed(spec.name, target, {k: target / v for k, v in located.items()},
                         commands_for(spec, located, target, root), marker.get("files", {}), reused=True)
        print(f"{spec.name} is already installed in {target} (use --force to download it again)", file=out)
        return inst

    files = _resolve_files(spec, urls or {}, sha256 or {}, no_verify)
    root.mkdir(parents=True, exist_ok=True)
    ensure_licence(spec, root, accept=accept_licence, interactive=interactive, input_fn=input_fn, out=out)

    cache = root / ".downloads" / spec.name
    digests: dict[str, dict[str, Any]] = {}
    paths: dict[str, Path] = {}
    for f, url, expected in files:
        dest = cache / f.name
        if not dest.is_file():
            print(f"downloading {url}\n  -> {dest}", file=out)
            fetch(url, dest, label=f"{spec.name}/{f.name}", retries=retries, timeout=timeout, stream=err,
                  clock=clock, sleep=sleep, interval_s=progress_interval_s)
        info = verify(dest, f, expected)
        info["url"] = url
        digests[f.name] = info
        paths[f.name] = dest
        how = {"sha256": "SHA-256 verified", "md5": f"MD5 matches {f.md5_source}; SHA-256 not published",
               "none": "NOT verified: --no-verify"}[info["verified"]]
        print(f"  {f.name}: {info['bytes']} bytes, sha256 {info['sha256']} ({how})", file=out)

    staging_root = root / ".staging"
    staging_root.mkdir(exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{spec.name}-", dir=staging_root))
    staging.chmod(0o777 & ~current_umask())  # mkdtemp makes 0700: the dataset folder gets a plain mkdir's mode
    try:
        for f, _, _ in files:
            sub = staging / f.extract_to if f.extract_to else staging
            if f.kind in ("zip", "tar"):
                try:
                    extract(paths[f.name], sub, f.kind)
                except ScanpathDataError:
                    paths[f.name].unlink(missing_ok=True)  # a corrupt archive is fetched anew next time
                    raise
            else:
                sub.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(paths[f.name], sub / f.name)
        located = {k: p.relative_to(staging) for k, p in _locate(spec, staging).items()}
        inst = Installed(spec.name, target, {k: target / v for k, v in located.items()},
                         commands_for(spec, located, target, root), digests)
        atomic_write_text(staging / "LICENCE-NOTE.txt", _licence_note(spec))
        atomic_write_text(staging / CONFIG_FILE, _config_yaml(spec, inst))
        atomic_write_json(staging / MARKER, {
            "dataset": spec.name, "files": digests, "located": {k: str(v) for k, v in located.items()},
            "installed_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "terms_sha256": spec.terms_sha256()})
        _swap_in(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        with contextlib.suppress(OSError):
            staging_root.rmdir()  # only when empty
    if not keep_archives:
        for f, _, _ in files:
            paths[f.name].unlink(missing_ok=True)
        for d in (cache, cache.parent):
            with contextlib.suppress(OSError):
                d.rmdir()
    print(f"{spec.name} installed in {target}", file=out)
    return inst


def report(spec: DatasetSpec, inst: Installed, out: TextIO | None = None) -> None:
    """Print how to use the installed data (the lines of ``scanpath-data.yaml``)."""
    out = out if out is not None else sys.stdout
    for label, overrides, ready in inst.commands:
        prefix = "" if ready else "after the manual step below: "
        print(f"{prefix}{label}:\n  python evaluate.py {shell_line(overrides)}", file=out)
    if spec.after:
        print(f"manual step: {spec.after}", file=out)
    print(f"(also written to {inst.path / CONFIG_FILE})", file=out)

