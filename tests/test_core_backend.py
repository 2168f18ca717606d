"""``auto`` backend: Triton only on CUDA and only for kernels that passed their self-check there."""

from __future__ import annotations

import sys
import types

import pytest
import torch

from scanpath.core import backend


@pytest.fixture
def fake_kernels(monkeypatch):
    """A stand-in for scanpath.core.triton_kernels with scripted self-checks (no triton needed)."""
    calls: list[str] = []

    def passing(device):
        calls.append(f"ok@{device}")
        return 1e-7, 1e-5

    def failing(device):
        calls.append(f"bad@{device}")
        return 1e-2, 1e-5

    def raising(device):
        calls.append(f"raise@{device}")
        raise RuntimeError("PTX compile failed")

    mod = types.ModuleType("scanpath.core.triton_kernels")
    mod.SELF_CHECKS = {"good": passing, "bad": failing, "boom": raising}
    monkeypatch.setitem(sys.modules, "scanpath.core.triton_kernels", mod)
    monkeypatch.setattr(backend, "_CHECKED", {})
    return calls


def test_self_check_runs_once_per_device_and_records_why(fake_kernels):
    dev = torch.device("cuda", 0)
    assert backend.kernel_validated("good", dev) and backend.kernel_validated("good", dev)
    assert fake_kernels == ["ok@cuda:0"]  # cached after the first call
    with pytest.warns(RuntimeWarning, match="bad"):
        assert not backend.kernel_validated("bad", dev)
    with pytest.warns(RuntimeWarning, match="PTX compile failed"):
        assert not backend.kernel_validated("boom", dev)
    with pytest.warns(RuntimeWarning, match="no Triton kernel"):
        assert not backend.kernel_validated("missing", dev)
    st = backend.kernel_status()
    assert st["good@cuda:0"]["passed"] is True and "1.00e-07" in st["good@cuda:0"]["detail"]
    assert st["bad@cuda:0"]["passed"] is False and "1.00e-02" in st["bad@cuda:0"]["detail"]
    assert "RuntimeError" in st["boom@cuda:0"]["detail"]
    assert backend.kernel_validated("good", torch.device("cuda", 1)) and fake_kernels[-1] == "ok@cuda:1"


def test_auto_on_cpu_never_runs_a_check(fake_kernels, monkeypatch):
    monkeypatch.setenv("SCANPATH_BACKEND", "auto")
    assert backend.resolve_backend("good", torch.zeros(1)) == "torch"
    assert fake_kernels == [] and backend.kernel_status() == {}


def test_auto_switch_off(monkeypatch):
    monkeypatch.setenv("SCANPATH_TRITON_AUTO", "0")
    assert not backend.auto_triton_enabled()
    monkeypatch.setenv("SCANPATH_TRITON_AUTO", "1")
    assert backend.auto_triton_enabled()


def test_real_self_checks_pass_in_the_interpreter():
    """The two shipped self-checks pass on CPU tensors under Triton's interpreter (subprocess: the
    variable must be set before triton is imported)."""
    import os
    import subprocess

    if not backend.triton_available():
        pytest.skip("triton is not installed")
    code = ("from scanpath.core.triton_kernels import SELF_CHECKS\n"
            "for op, f in SELF_CHECKS.items():\n"
            "    err, tol = f('cpu'); assert err <= tol, (op, err, tol); print(op, err)\n")
    env = dict(os.environ, TRITON_INTERPRET="1", OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "foveate" in proc.stdout and "ecc_avg_pool" in proc.stdout
