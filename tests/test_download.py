"""``python -m scanpath download`` (docs/datasets.md), offline: a local HTTP server on 127.0.0.1 (with
``Range`` support and knobs to cut a transfer short) serves small archives written by the tests.

Covers success (zip, tar.gz, plain file), resume after a truncated transfer (next call and in-call
retry), servers without range support, a corrupt archive, a checksum mismatch, unsafe archive members
(each failing with ScanpathDataError and leaving no dataset folder, staging folder or bad file), the
licence (refused, declined, accepted and remembered, asked again when the terms change), the SHA-256
policy (unknown checksum refused unless --no-verify / --sha256; third-party MD5 still checked),
re-runs, the Hydra override composing against conf/ and the registry's own consistency.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import io
import json
import re
import tarfile
import threading
import time
import zipfile
from pathlib import Path

import pytest

from scanpath.download import REGISTRY, DataConfig, DatasetSpec, DownloadError, LicenceNotAccepted, RemoteFile
from scanpath.download import transfer as fetch_mod
from scanpath.download.install import CONFIG_FILE, LICENCES_FILE, MARKER, hydra_value, install
from scanpath.errors import ScanpathDataError
from scanpath.io.atomic import current_umask

AMAZON = {"1.jpg": {"fixations": {"1": [[10, 20], [300, 200]], "2": [[50, 60]]},
                    "ground_truth": [{"xmin": 0, "xmax": 100, "ymin": 0, "ymax": 80}],
                    "size": {"width": 640, "height": 400}, "target": "target_0.jpg"}}


# ----------------------------------------------------------------------------- the local server
class _State:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.truncate: dict[str, int] = {}  # path -> bytes sent by the next response before it hangs up
        self.no_range = False
        self.stall: dict[str, int] = {}  # path -> bytes sent before the response stalls for 1 s
        self.requests: list[tuple[str, str | None]] = []


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        st: _State = self.server.state  # type: ignore[attr-defined]
        rng = self.headers.get("Range")
        st.requests.append((self.path, rng))
        data = st.files.get(self.path)
        if data is None:
            self.send_error(404)
            return
        start = 0
        m = re.fullmatch(r"bytes=(\d+)-", rng or "")
        if m and not st.no_range:
            start = int(m.group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cut = st.truncate.pop(self.path, None)
        stall = st.stall.pop(self.path, None)
        if stall is not None:
            self.wfile.write(body[:stall])
            self.wfile.flush()
            time.sleep(1.0)
            return
        self.wfile.write(body if cut is None else body[:cut])
        self.close_connection = True

    def log_message(self, *args) -> None:  # quiet
        pass


@pytest.fixture
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.state = _State()  # type: ignore[attr-defined]
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    srv.state.base = f"http://127.0.0.1:{srv.server_address[1]}"  # type: ignore[attr-defined]
    yield srv.state  # type: ignore[attr-defined]
    srv.shutdown()
    srv.server_close()
    t.join(5)


# ----------------------------------------------------------------------------- fixtures
def _zip(members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _members() -> dict[str, bytes]:
    # a padding file first, so a corrupt second member comes after a member that was already written
    return {"toy/README.txt": b"toy dataset\n" * 200, "toy/AmazonCovers/Amazon.json": json.dumps(AMAZON).encode()}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _spec(base: str, name: str = "toy.zip", data: bytes | None = None, *, sha256: str | None = "auto",
          md5: str | None = None, licence: str = "CC BY 4.0 (toy)", locate: dict | None = None) -> DatasetSpec:
    if sha256 == "auto":
        sha256 = _sha(data) if data is not None else None
    return DatasetSpec(
        name="toy", title="Toy dataset", source=f"{base}/", licence=licence, licence_url=None, citation="nobody, 2024",
        files=(RemoteFile(name, f"{base}/{name}", sha256=sha256, md5=md5, md5_source="a test" if md5 else None,
                          note="test file"),),
        locate=locate if locate is not None else {"annotations": "**/AmazonCovers/Amazon.json"},
        configs=(DataConfig("toy", ("data=amazon_covers", "data.root={annotations_dir}",
                                    "data.annotations={annotations}")),),
    )


def _run(spec: DatasetSpec, root: Path, **kw):
    kw.setdefault("accept_licence", True)
    kw.setdefault("sleep", lambda s: None)
    kw.setdefault("out", io.StringIO())
    kw.setdefault("err", io.StringIO())
    return install(spec, root, **kw)


def _assert_clean(root: Path, *, archive_kept: bool = False) -> None:
    """Nothing half-done: no dataset folder, no staging folder, no bad archive."""
    assert not (root / "toy").exists()
    assert not (root / ".staging").exists() or not any((root / ".staging").iterdir())
    if not archive_kept:
        assert not (root / ".downloads" / "toy" / "toy.zip").exists()


# ----------------------------------------------------------------------------- success
def test_success_zip_installs_and_points_the_config(server, tmp_path: Path) -> None:
    data = _zip(_members(), zipfile.ZIP_DEFLATED)
    server.files["/toy.zip"] = data
    root = tmp_path / "my data"  # a space: the printed override must quote it
    out = io.StringIO()
    inst = _run(_spec(server.base, data=data), root, out=out)
    target = root / "toy"
    assert inst.path == target and (target / "toy" / "AmazonCovers" / "Amazon.json").is_file()
    assert inst.located["annotations"] == target / "toy" / "AmazonCovers" / "Amazon.json"
    assert inst.digests["toy.zip"]["sha256"] == _sha(data) and inst.digests["toy.zip"]["verified"] == "sha256"
    assert not (root / ".downloads" / "toy").exists() and not (root / ".staging").exists()  # archives removed
    assert (target / "LICENCE-NOTE.txt").read_text().startswith("Toy dataset")
    marker = json.loads((target / MARKER).read_text())
    assert marker["files"]["toy.zip"]["sha256"] == _sha(data)
    # the data the config points at is readable by our reader
    from scanpath.io.amazon import read_amazon_json

    assert [c.key for c in read_amazon_json(inst.located["annotations"])] == ["1.jpg"]
    label, overrides, ready = inst.commands[0]
    assert ready and overrides[0] == "data=amazon_covers"
    assert overrides[2] == f'data.annotations="{inst.located["annotations"]}"'
    assert (target.stat().st_mode & 0o777) == (0o777 & ~current_umask())
    cfg_text = (target / CONFIG_FILE).read_text()
    assert "python evaluate.py data=amazon_covers" in cfg_text and str(inst.located["annotations"]) in cfg_text
    assert "Toy dataset" in out.getvalue() and "installed in" in out.getvalue()


def test_printed_override_composes_against_the_data_config(server, tmp_path: Path) -> None:
    from conftest import compose_config

    data = _zip(_members())
    server.files["/toy.zip"] = data
    inst = _run(_spec(server.base, data=data), tmp_path / "dir with space, comma")
    cfg = compose_config("evaluate", inst.commands[0][1])
    assert Path(cfg.data.annotations) == inst.located["annotations"]
    assert Path(cfg.data.root) == inst.located["annotations"].parent


def test_tar_gz_and_plain_file(server, tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, payload in _members().items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tf.addfile(info, io.BytesIO(payload))
    tgz = buf.getvalue()
    server.files["/toy.tar.gz"] = tgz
    inst = _run(_spec(server.base, "toy.tar.gz", tgz), tmp_path)
    assert inst.located["annotations"].is_file()
    plain = json.dumps(AMAZON).encode()
    server.files["/Amazon.json"] = plain
    spec = _spec(server.base, "Amazon.json", plain, locate={"annotations": "Amazon.json"})
    inst = _run(spec, tmp_path / "r2")
    assert inst.located["annotations"] == tmp_path / "r2" / "toy" / "Amazon.json"
    assert inst.located["annotations"].read_bytes() == plain


# ----------------------------------------------------------------------------- resume
def test_resume_after_a_truncated_transfer(server, tmp_path: Path) -> None:
    data = _zip(_members())
    server.files["/toy.zip"] = data
    server.truncate["/toy.zip"] = 700
    spec = _spec(server.base, data=data)
    with pytest.raises(DownloadError) as ei:
        _run(spec, tmp_path, retries=0)
    part = tmp_path / ".downloads" / "toy" / "toy.zip.part"
    assert ei.value.file == str(part) and "resumes" in str(ei.value)
    assert part.stat().st_size == 700
    _assert_clean(tmp_path, archive_kept=False)
    err = io.StringIO()
    inst = _run(spec, tmp_path, err=err)
    assert server.requests[-1] == ("/toy.zip", "bytes=700-")
    assert "resuming at" in err.getvalue()
    assert inst.digests["toy.zip"]["sha256"] == _sha(data) and not part.exists()


def test_in_call_retry_resumes(server, tmp_path: Path) -> None:
    data = _zip(_members())
    server.files["/toy.zip"] = data
    server.truncate["/toy.zip"] = 1000
    waits: list[float] = []
    inst = _run(_spec(server.base, data=data), tmp_path, retries=2, sleep=waits.append)
    assert [r for _, r in server.requests] == [None, "bytes=1000-"] and len(waits) == 1
    assert inst.digests["toy.zip"]["verified"] == "sha256"


def test_a_stalled_transfer_times_out_and_resumes(server, tmp_path: Path) -> None:
    data = _zip(_members())
    server.files["/toy.zip"] = data
    server.stall["/toy.zip"] = 300
    err = io.StringIO()
    inst = _run(_spec(server.base, data=data), tmp_path, timeout=0.2, retries=1, err=err)
    assert "retry 1/1" in err.getvalue() and server.requests[-1] == ("/toy.zip", "bytes=300-")
    assert inst.digests["toy.zip"]["sha256"] == _sha(data)


def test_server_without_range_support_restarts(server, tmp_path: Path) -> None:
    data = _zip(_members())
    server.files["/toy.zip"] = data
    server.truncate["/toy.zip"] = 500
    server.no_range = True
    spec = _spec(server.base, data=data)
    with pytest.raises(DownloadError):
        _run(spec, tmp_path, retries=0)
    err = io.StringIO()
    inst = _run(spec, tmp_path, err=err)
    assert "does not resume" in err.getvalue() and inst.digests["toy.zip"]["sha256"] == _sha(data)


def test_complete_part_file_answered_416_is_used(server, tmp_path: Path) -> None:
    data = _zip(_members())
    server.files["/toy.zip"] = data
    part = tmp_path / ".downloads" / "toy" / "toy.zip.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(data)
    inst = _run(_spec(server.base, data=data), tmp_path)
    assert server.requests == [("/toy.zip", f"bytes={len(data)}-")]
    assert inst.located["annotations"].is_file()


def test_url_override_installs_a_local_copy(tmp_path: Path) -> None:
    data = _zip(_members())
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "toy.zip").write_bytes(data)
    spec = _spec("unused", data=data)
    spec = dataclasses.replace(spec, files=(dataclasses.replace(spec.files[0], url=None, note="pass --url"),))
    with pytest.raises(ScanpathDataError, match="no download URL") as ei:
        _run(spec, tmp_path / "root")
    assert ei.value.field == "url" and not (tmp_path / "root").exists()
    inst = _run(spec, tmp_path / "root", urls={"toy.zip": (tmp_path / "src" / "toy.zip").as_uri()})
    assert inst.located["annotations"].is_file() and inst.digests["toy.zip"]["url"].startswith("file://")


# ----------------------------------------------------------------------------- clean failures
def _corrupt_crc(data: bytes) -> bytes:
    i = data.index(b'"fixations"')  # inside the stored (uncompressed) JSON member
    return data[:i] + b"X" + data[i + 1:]


@pytest.mark.parametrize("how", ["bad_crc", "truncated", "not_a_zip"])
def test_corrupt_archive_fails_cleanly(server, tmp_path: Path, how: str) -> None:
    good = _zip(_members())
    data = {"bad_crc": _corrupt_crc(good), "truncated": good[: len(good) // 2], "not_a_zip": b"<html>oops</html>"}[how]
    server.files["/toy.zip"] = data
    with pytest.raises(ScanpathDataError) as ei:
        _run(_spec(server.base, data=data), tmp_path)  # the checksum matches: the archive itself is bad
    assert "corrupt" in str(ei.value) and ei.value.file.endswith("toy.zip")
    _assert_clean(tmp_path)


def test_checksum_mismatch_fails_cleanly(server, tmp_path: Path) -> None:
    data = _zip(_members())
    server.files["/toy.zip"] = data
    with pytest.raises(ScanpathDataError) as ei:
        _run(_spec(server.base, data=data, sha256=_sha(b"something else")), tmp_path)
    assert ei.value.field == "sha256" and _sha(data) in str(ei.value)
    _assert_clean(tmp_path)
    assert not (tmp_path / ".downloads" / "toy" / "toy.zip.part").exists()


def test_third_party_md5_mismatch_fails_even_unverified(server, tmp_path: Path) -> None:
    data = _zip(_members())
    server.files["/toy.zip"] = data
    with pytest.raises(ScanpathDataError) as ei:
        _run(_spec(server.base, data=data, sha256=None, md5="0" * 32), tmp_path, no_verify=True)
    assert ei.value.field == "md5"
    _assert_clean(tmp_path)
    inst = _run(_spec(server.base, data=data, sha256=None, md5=hashlib.md5(data).hexdigest()), tmp_path,
                no_verify=True)
    assert inst.digests["toy.zip"]["verified"] == "md5"


def test_unsafe_member_is_refused(server, tmp_path: Path) -> None:
    data = _zip({"ok.txt": b"1", "../../escaped.txt": b"2"})
    server.files["/toy.zip"] = data
    root = tmp_path / "root"
    with pytest.raises(ScanpathDataError, match="outside the extraction folder"):
        _run(_spec(server.base, data=data, locate={}), root)
    _assert_clean(root)
    assert not list(tmp_path.rglob("escaped.txt"))


def test_layout_mismatch_rolls_back(server, tmp_path: Path) -> None:
    data = _zip({"other.json": b"{}"})
    server.files["/toy.zip"] = data
    with pytest.raises(ScanpathDataError, match="hold no"):
        _run(_spec(server.base, data=data), tmp_path, keep_archives=True)
    _assert_clean(tmp_path, archive_kept=True)  # a verified archive is kept for inspection


def test_http_404_is_a_named_error(server, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="HTTP 404"):
        _run(_spec(server.base, data=b"x"), tmp_path)
    _assert_clean(tmp_path)


# ----------------------------------------------------------------------------- licence
def test_licence_not_accepted_downloads_nothing(server, tmp_path: Path) -> None:
    data = _zip(_members())
    server.files["/toy.zip"] = data
    spec = _spec(server.base, data=data)
    out = io.StringIO()
    with pytest.raises(LicenceNotAccepted, match="--accept-licence"):
        _run(spec, tmp_path, accept_licence=False, interactive=False, out=out)
    assert "CC BY 4.0 (toy)" in out.getvalue()  # the terms were printed
    with pytest.raises(LicenceNotAccepted, match="declined"):
        _run(spec, tmp_path, accept_licence=False, interactive=True, input_fn=lambda prompt: "n")
    assert server.requests == [] and not (tmp_path / "toy").exists() and not (tmp_path / LICENCES_FILE).exists()
    _run(spec, tmp_path, accept_licence=False, interactive=True, input_fn=lambda prompt: "yes")
    assert json.loads((tmp_path / LICENCES_FILE).read_text())["toy"]["licence"] == "CC BY 4.0 (toy)"
    # remembered: a re-install asks nothing
    _run(spec, tmp_path, accept_licence=False, interactive=False, force=True)
    # changed terms are asked again
    with pytest.raises(LicenceNotAccepted):
        _run(dataclasses.replace(spec, licence="CC BY-NC 4.0 (toy v2)"), tmp_path, accept_licence=False,
             interactive=False, force=True)


# ----------------------------------------------------------------------------- verification policy
def test_unknown_sha256_is_refused_unless_no_verify_or_given(server, tmp_path: Path) -> None:
    data = _zip(_members())
    server.files["/toy.zip"] = data
    spec = _spec(server.base, data=data, sha256=None)
    with pytest.raises(ScanpathDataError, match="--no-verify") as ei:
        _run(spec, tmp_path)
    assert ei.value.field == "sha256" and server.requests == []
    with pytest.raises(ScanpathDataError, match="64 hex"):
        _run(spec, tmp_path, sha256={"toy.zip": "abc"})
    inst = _run(spec, tmp_path / "a", sha256={"toy.zip": _sha(data).upper()})
    assert inst.digests["toy.zip"]["verified"] == "sha256"
    out = io.StringIO()
    inst = _run(spec, tmp_path / "b", no_verify=True, out=out)
    assert inst.digests["toy.zip"]["verified"] == "none"
    assert _sha(data) in out.getvalue() and "NOT verified" in out.getvalue()


def test_existing_install_is_reused_and_force_reinstalls(server, tmp_path: Path) -> None:
    data = _zip(_members())
    server.files["/toy.zip"] = data
    spec = _spec(server.base, data=data)
    first = _run(spec, tmp_path)
    n = len(server.requests)
    again = _run(spec, tmp_path)
    assert again.reused and len(server.requests) == n and again.commands == first.commands
    forced = _run(spec, tmp_path, force=True)
    assert not forced.reused and len(server.requests) == n + 1 and forced.located["annotations"].is_file()
    assert not (tmp_path / ".staging").exists()


def test_foreign_folder_is_not_overwritten(server, tmp_path: Path) -> None:
    (tmp_path / "toy").mkdir()
    (tmp_path / "toy" / "mine.txt").write_text("user data")
    with pytest.raises(ScanpathDataError, match="not written by"):
        _run(_spec(server.base, data=b"x"), tmp_path, force=True)
    assert (tmp_path / "toy" / "mine.txt").read_text() == "user data" and server.requests == []


# ----------------------------------------------------------------------------- progress
def test_progress_lines_every_interval_in_logs() -> None:
    t = [0.0]
    buf = io.StringIO()  # not a TTY: 30 s default
    prog = fetch_mod.ByteProgress("toy/x.zip", 10_000_000, stream=buf, clock=lambda: t[0])
    assert prog.interval_s == 30.0
    for i in range(1, 11):
        t[0] = 10.0 * i
        prog.update(i * 1_000_000)
    lines = buf.getvalue().splitlines()
    assert len(lines) == 3  # at 30, 60, 90 s
    assert lines[0].startswith("[download toy/x.zip] 3.0/10.0 MB (30%)") and "ETA" in lines[0]


def test_fetch_prints_progress_with_a_fast_clock(server, tmp_path: Path) -> None:
    data = bytes(range(256)) * 20_000  # 5 MB: several chunks
    server.files["/big.bin"] = data
    t = [0.0]

    def clock() -> float:
        t[0] += 31.0
        return t[0]

    err = io.StringIO()
    dest = fetch_mod.fetch(f"{server.base}/big.bin", tmp_path / "big.bin", stream=err, clock=clock)
    assert dest.read_bytes() == data
    assert len([ln for ln in err.getvalue().splitlines() if "MB/s" in ln]) >= 4


# ----------------------------------------------------------------------------- CLI and registry
def test_cli_download(server, tmp_path: Path, monkeypatch, capsys) -> None:
    from scanpath.__main__ import main

    data = _zip(_members())
    server.files["/toy.zip"] = data
    monkeypatch.setitem(REGISTRY, "toy", _spec(server.base, data=data, sha256=None))
    root = tmp_path / "data"
    assert main(["download", "toy", "--root", str(root), "--sha256", f"toy.zip={_sha(data)}"]) == 2
    assert "not accepted" in capsys.readouterr().err and not (root / "toy").exists()
    assert main(["download", "toy", "--root", str(root), "--accept-licence", "--sha256", f"other.zip={_sha(data)}"]) == 2
    assert "FILE=VALUE" in capsys.readouterr().err
    assert main(["download", "toy", "--root", str(root), "--accept-licence", "--sha256", _sha(data)]) == 0  # one file
    out = capsys.readouterr().out
    assert "python evaluate.py data=amazon_covers data.root=" in out and (root / "toy" / CONFIG_FILE).is_file()
    assert main(["download", "--list"]) == 0
    listing = capsys.readouterr().out
    assert all(name in listing for name in ("coco_search18", "amazon_covers", "mit1003", "capmit1003",
                                            "salient360", "hstar"))
    assert main(["download", "nope", "--root", str(root)]) == 2
    assert "unknown dataset" in capsys.readouterr().err


def test_cli_refuses_registry_entries_without_checksum_or_url(tmp_path: Path, capsys) -> None:
    from scanpath.__main__ import main

    assert main(["download", "hstar", "--root", str(tmp_path), "--accept-licence"]) == 2
    assert "--no-verify" in capsys.readouterr().err
    assert main(["download", "capmit1003", "--root", str(tmp_path), "--accept-licence"]) == 2
    assert "--url" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # nothing fetched, nothing written


@pytest.mark.parametrize("path", ["/a/b_c-1.json", "/tmp/a b/c.json", "/tmp/it's/x", '/tmp/q"uote/x',
                                  "/tmp/a,b/[c]=d", "/tmp/back\\slash x", "/tmp/ünï code"])
def test_hydra_value_round_trips_through_hydras_parser(path: str) -> None:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    v = hydra_value(path)
    parser = OverridesParser.create()
    assert parser.parse_override(f"data.annotations={v}").value() == path
    assert parser.parse_override(f"data.annotations=[{v},{v}]").value() == [path, path]
    assert (v == path) == (path == "/a/b_c-1.json")  # plain paths stay unquoted


_HEX64, _HEX32 = re.compile(r"[0-9a-f]{64}"), re.compile(r"[0-9a-f]{32}")


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_registry_entry_is_consistent(name: str, repo_root: Path) -> None:
    spec = REGISTRY[name]
    assert spec.licence and spec.citation and spec.source.startswith("http")
    for f in spec.files:
        assert f.url is None or f.url.startswith(("https://", "http://"))
        assert f.url is not None or "--url" in f.note  # the user is told what to do
        assert f.sha256 is None or _HEX64.fullmatch(f.sha256)
        assert f.sha256 is not None or f.note  # an unknown checksum is said out loud
        assert f.md5 is None or (_HEX32.fullmatch(f.md5) and f.md5_source)
    keys = set(spec.locate) | {f"{k}_dir" for k in spec.locate} | {"dataset_dir", "root"}
    for cfg in spec.configs:
        for template in cfg.overrides:
            for field in re.findall(r"\{([^{}]+)\}", template):
                assert field in keys or field.startswith("root/"), (template, field)
            if template.startswith("data="):
                assert (repo_root / "conf" / "data" / f"{template[5:]}.yaml").is_file(), template
    if any(f.kind == "7z" for f in spec.files) or any(not c.ready for c in spec.configs):
        assert spec.after  # a manual step is spelled out
