"""great_circle and ior_mask."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from scanpath.core import cell_index, great_circle, ior_mask


def test_great_circle_known_values():
    assert float(great_circle([179.0, 0.0], [-179.0, 0.0])) == pytest.approx(2.0, abs=1e-12)
    assert float(great_circle([0.0, 90.0], [123.0, 90.0])) == pytest.approx(0.0, abs=1e-9)
    assert float(great_circle([0.0, 0.0], [180.0, 0.0])) == pytest.approx(180.0, abs=1e-12)
    assert float(great_circle([10.0, -90.0], [70.0, 90.0])) == pytest.approx(180.0, abs=1e-12)
    assert float(great_circle([0.0, 0.0], [0.0, 45.0])) == pytest.approx(45.0, abs=1e-12)
    assert float(great_circle([0.0, 0.0], [1e-7, 0.0])) == pytest.approx(1e-7, rel=1e-6)


def test_great_circle_batched_matches_vector_formula():
    g = torch.Generator().manual_seed(0)
    a = torch.stack([torch.rand(40, 3, generator=g) * 720 - 360, torch.rand(40, 3, generator=g) * 180 - 90], -1).double()
    b = torch.stack([torch.rand(3, generator=g) * 360 - 180, torch.rand(3, generator=g) * 180 - 90], -1).double()
    d = great_circle(a, b)  # broadcast [40,3,2] x [3,2]
    assert d.shape == (40, 3) and d.dtype == torch.float64

    def unit(x):
        lo, la = torch.deg2rad(x[..., 0]), torch.deg2rad(x[..., 1])
        return torch.stack([la.cos() * lo.cos(), la.cos() * lo.sin(), la.sin()], -1)

    ref = torch.rad2deg(torch.acos((unit(a) * unit(b)).sum(-1).clamp(-1, 1)))
    assert torch.allclose(d, ref, atol=1e-6)
    assert great_circle(a.float(), b.float()).dtype == torch.float32
    with pytest.raises(ValueError, match="yaw, pitch"):
        great_circle(torch.zeros(3), torch.zeros(3))


def _brute(hw, fn):
    H, W = hw
    return torch.tensor([[fn(c + 0.5, r + 0.5) for c in range(W)] for r in range(H)])


def test_ior_disc_and_square():
    hw = (20, 30)
    centers = torch.tensor([[[5.0, 5.0], [20.0, 12.0]], [[29.5, 0.0], [float("nan"), float("nan")]]])
    m = ior_mask(hw, "disc", centers=centers, radius=4.0)
    assert m.shape == (2, 20, 30) and m.dtype == torch.bool
    ref0 = _brute(hw, lambda x, y: (x - 5) ** 2 + (y - 5) ** 2 <= 16 or (x - 20) ** 2 + (y - 12) ** 2 <= 16)
    ref1 = _brute(hw, lambda x, y: (x - 29.5) ** 2 + y ** 2 <= 16)
    assert torch.equal(m[0], ref0) and torch.equal(m[1], ref1)
    s = ior_mask(hw, "square", centers=centers, radius=torch.tensor([2.0, 3.0]))
    ref0 = _brute(hw, lambda x, y: (abs(x - 5) <= 2 and abs(y - 5) <= 2) or (abs(x - 20) <= 2 and abs(y - 12) <= 2))
    ref1 = _brute(hw, lambda x, y: abs(x - 29.5) <= 3 and abs(y) <= 3)
    assert torch.equal(s[0], ref0) and torch.equal(s[1], ref1)
    # valid mask drops entries
    v = ior_mask(hw, "disc", centers=centers, radius=4.0, valid=torch.tensor([[True, False], [False, False]]))
    assert v[1].sum() == 0 and v[0, 12, 20] == False and v[0, 5, 5] == True  # noqa: E712


def test_ior_box_and_cell():
    hw = (10, 12)
    boxes = torch.tensor([[[0.0, 0.0, 4.0, 5.0], [6.0, 2.0, 12.0, 4.0]]])
    m = ior_mask(hw, "box", boxes=boxes, visited=torch.tensor([[False, True]]))
    ref = _brute(hw, lambda x, y: 6 <= x < 12 and 2 <= y < 4)
    assert torch.equal(m[0], ref)
    assert ior_mask(hw, "box", boxes=boxes)[0].sum() == 4 * 5 + 6 * 2
    grid = (2, 3)  # cells 5x4 px
    vis = torch.tensor([[True, False, False, False, False, True]])
    c = ior_mask(hw, "cell", visited=vis, grid=grid)
    ref = _brute(hw, lambda x, y: (y < 5 and x < 4) or (y >= 5 and x >= 8))
    assert torch.equal(c[0], ref)
    c2 = ior_mask(hw, "cell", centers=torch.tensor([[[1.0, 1.0], [11.9, 9.9]]]), grid=grid)
    assert torch.equal(c2, c)
    assert cell_index(torch.tensor([[5.0, 6.0]]), hw, grid).tolist() == [4]
    with pytest.raises(ValueError, match="grid"):
        ior_mask(hw, "cell", visited=vis)
