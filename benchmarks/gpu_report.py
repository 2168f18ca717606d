"""Write the ``## GPU`` section of benchmarks/RESULTS.md from a ``gpu_suite.sh`` results folder.

The folder holds ``steps.tsv`` (one line per step: name, status, exit code, seconds, command),
``<step>.log`` (each step's output), ``env.txt`` (device, driver and versions) and ``kernels.json``
(from bench_gpu_kernels.py), optionally ``notes.md`` (inserted under the step table). The section lists every step with its status, the kernel bandwidth
table (achieved bytes/s as a fraction of the measured device-to-device copy bandwidth) and the
markdown tables each benchmark printed (OAT 100-rollout evaluation, NevaClip batch 32 RN50, eccNET
s/trial, 360 env steps/s, core ops, metrics), copied verbatim.

    python benchmarks/gpu_report.py RESULTS_DIR [--record]    # --record: replace ## GPU in RESULTS.md
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

TITLES = {
    "pytest_gpu": "pytest -m gpu",
    "kernels": "Core kernels: achieved bandwidth",
    "bench_core": "Core ops vs references (bench_core.py)",
    "bench_env360": "360 environment steps/s (bench_env360.py, 64 envs)",
    "bench_env360_large": "360 environment steps/s (bench_env360.py, 1024 envs)",
    "bench_oat": "OAT 100-rollout evaluation (bench_oat.py)",
    "bench_nevaclip": "NevaClip batch 32, RN50 random init (bench_nevaclip.py)",
    "bench_eccnet": "eccNET s/trial (bench_eccnet.py)",
    "bench_metrics": "Metrics (bench_metrics.py)",
}


def _steps(d: Path) -> list[dict]:
    out = []
    p = d / "steps.tsv"
    if p.exists():
        for line in p.read_text().splitlines():
            parts = line.split("\t")
            if len(parts) >= 5:
                out.append(dict(name=parts[0], status=parts[1], rc=parts[2], seconds=parts[3], command=parts[4]))
    return out


def _tables(text: str) -> str:
    """Markdown table lines and the one-line headers printed around them."""
    keep, seen = [], set()
    for ln in text.splitlines():
        s = ln.strip()
        if s in seen:  # scripts that print each table group and then the whole table again
            continue
        seen.add(s)
        if s.startswith("|") or s.startswith(("device:", "panorama:", "NevaClip", "# bench_metrics", "measured",
                                              "Triton self-checks", "OAT", "rollouts", "training")):
            keep.append(s)
    return "\n".join(keep)


def _pytest_summary(text: str) -> str:
    lines = [ln for ln in text.splitlines() if ln.startswith(("FAILED", "ERROR")) or " passed" in ln
             or " failed" in ln or "skipped" in ln.lower() and "==" in ln]
    return "\n".join(lines[-30:])


def section(d: Path) -> str:
    d = Path(d)
    env = (d / "env.txt").read_text().strip() if (d / "env.txt").exists() else "(no env.txt)"
    steps = _steps(d)
    dry = any("--quick" in s["command"] for s in steps)
    head = ["## GPU", ""]
    if dry:
        head += ["**DRY RUN** (`gpu_suite.sh --device cpu --quick`): plumbing check on the CPU with tiny sizes; "
                 "these numbers say nothing about a GPU.", ""]
    head += ["Written by `benchmarks/gpu_suite.sh` (`benchmarks/gpu_report.py`); each benchmark's ratios are "
             "measured in one process against the reference named in its table.", "", "```", env, "```", "",
             "| step | status | exit code | seconds | command |", "|---|---|---|---|---|"]
    for s in steps:
        head.append(f"| {s['name']} | {s['status']} | {s['rc']} | {s['seconds']} | `{s['command']}` |")
    notes = d / "notes.md"  # optional, written by whoever ran the suite (e.g. steps re-run after a fix)
    if notes.exists():
        head += ["", notes.read_text().strip()]
    body = []
    kj = d / "kernels.json"
    if kj.exists():
        k = json.loads(kj.read_text())
        bw = k["copy_bytes_per_s"]
        body += ["", f"### {TITLES['kernels']}", "",
                 f"Device-to-device copy (bytes read + written): **{bw / 1e9:.1f} GB/s** on {k['device']}.", "",
                 "| kernel | case | time (ms) | bytes moved (lower bound) | achieved GB/s | fraction of copy BW |",
                 "|---|---|---|---|---|---|"]
        for r in k["rows"]:
            if r["seconds"] is None:
                body.append(f"| {r['kernel']} | {r['case']} | - | {r['bytes'] / 1e6:.1f} MB | - | {r['note']} |")
            else:
                body.append(f"| {r['kernel']} | {r['case']} | {r['seconds'] * 1e3:.3f} | {r['bytes'] / 1e6:.1f} MB | "
                            f"{r['bytes_per_s'] / 1e9:.1f} | {r['bytes_per_s'] / bw:.2f} |")
        if k.get("self_checks"):
            body += ["", "Triton self-checks (what `SCANPATH_BACKEND=auto` selects on this device): " + "; ".join(
                f"{n}: {'passed' if v['passed'] else 'FAILED'} ({v['detail']})" for n, v in k["self_checks"].items())]
    for s in steps:
        log = d / f"{s['name']}.log"
        if s["name"] == "kernels" or not log.exists():
            continue
        text = log.read_text(errors="replace")
        extract = _pytest_summary(text) if s["name"] == "pytest_gpu" else _tables(text)
        if s["name"] != "pytest_gpu" and s["status"] == "passed" and "\n|" not in "\n" + extract:
            # a plain-text table (bench_nevaclip, bench_metrics): the whole output but library warnings
            extract = "\n".join(ln for ln in text.splitlines() if not ln.startswith("WARNING"))[-6000:]
        if not extract:
            extract = "\n".join(text.splitlines()[-15:])
        title = TITLES.get(s["name"], s["name"])
        fence = s["name"] in ("pytest_gpu", "wheels") or "\n|" not in "\n" + extract
        body += ["", f"### {title}", "", f"Status: {s['status']} (exit {s['rc']}, {s['seconds']} s).", ""]
        body += ["```", extract, "```"] if fence else [extract.replace("\n|", "\n\n|", 1) if not
                                                        extract.startswith("|") else extract]
    return "\n".join(head + body) + "\n"


def record(text: str, results_md: Path) -> None:
    """Replace (or append) the ``## GPU`` section of ``results_md`` atomically."""
    from scanpath.io.atomic import atomic_write_text

    old = results_md.read_text() if results_md.exists() else "# Benchmark results\n"
    out, skip, done = [], False, False
    for ln in old.splitlines(keepends=True):
        if ln.startswith("## "):
            if ln.strip() == "## GPU":
                skip, done = True, True
                out.append(text if text.endswith("\n") else text + "\n")
                continue
            skip = False
        if not skip:
            out.append(ln)
    if not done:
        out.append("\n" + text)
    atomic_write_text(results_md, "".join(out))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("results_dir")
    ap.add_argument("--record", action="store_true", help="replace the ## GPU section of benchmarks/RESULTS.md")
    ap.add_argument("--results-md", default=str(Path(__file__).with_name("RESULTS.md")))
    a = ap.parse_args()
    text = section(Path(a.results_dir))
    (Path(a.results_dir) / "GPU_SECTION.md").write_text(text)
    print(text)
    if a.record:
        record(text, Path(a.results_md))


if __name__ == "__main__":
    main()
