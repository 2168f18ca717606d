"""The GPU suite's wheel list is complete: `pytest -m gpu` collects on a simulated bare GPU image.

benchmarks/image_sim refuses every import whose distribution is neither on the H200 image's package
list nor in benchmarks/gpu_wheels.txt (docs/gpu_suite.md §3). A dependency added to the project without
its wheel would stop the whole suite on the GPU machine at collection; this test sees it on the CPU.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _collect(allow: list[Path], target: Path = ROOT / "tests") -> subprocess.CompletedProcess:
    env = dict(os.environ, ALLOW_FILES=":".join(map(str, allow)), PYTHONPATH=str(ROOT / "benchmarks" / "image_sim"))
    return subprocess.run([sys.executable, "-m", "pytest", "-m", "gpu", "--collect-only", "-q", "-p", "no:cacheprovider",
                           "-p", "no:hydra_pytest", "-p", "no:xdist", str(target)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def test_gpu_tests_collect_with_only_the_image_and_the_wheel_list():
    res = _collect([ROOT / "benchmarks" / "gpu_image_h200.txt", ROOT / "benchmarks" / "gpu_wheels.txt"])
    blocked = [ln for ln in (res.stdout + res.stderr).splitlines() if "simulated image" in ln or "[image_sim]" in ln]
    assert res.returncode == 0, (blocked, res.stdout[-2000:])
    assert "error" not in res.stdout.splitlines()[-1].lower()


def test_the_simulator_refuses_a_distribution_missing_from_the_list(tmp_path):
    wheels = [ln for ln in (ROOT / "benchmarks" / "gpu_wheels.txt").read_text().splitlines()
              if not ln.startswith(("hydra-core", "omegaconf", "antlr4"))]
    short = tmp_path / "wheels.txt"
    short.write_text("\n".join(wheels) + "\n")
    res = _collect([ROOT / "benchmarks" / "gpu_image_h200.txt", short], ROOT / "tests" / "test_configs.py")
    assert res.returncode != 0
    assert "is not on the simulated image" in res.stdout + res.stderr
