"""H* annotation loader and procedural panoramas (docs/humanoid360.md §3, §2.4, §7 item 15)."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from scanpath.errors import ScanpathDataError
from scanpath.io.hstar import load_hstar
from scanpath.stimuli.panoramas import (
    direction,
    generate_scene,
    level_from_fraction,
    pixel_directions,
    scene_episodes,
    write_hstar,
)


def test_procedural_scene_is_deterministic_per_seed():
    a, b, c = generate_scene(7, size=(256, 128)), generate_scene(7, size=(256, 128)), generate_scene(8, size=(256, 128))
    assert np.array_equal(a.image, b.image) and a.instruction == b.instruction
    assert not np.array_equal(a.image, c.image)
    # target is unique: no other object shares its colour and shape
    t = a.objects[a.target]
    assert sum((o.colour, o.shape) == (t.colour, t.shape) for o in a.objects) == 1
    assert 3 <= len(a.objects) <= 6 and all(8 <= o.size <= 20 and abs(o.pitch) <= 40 for o in a.objects)


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_levels_match_visible_fraction_from_mask_samples(seed):
    sc = generate_scene(seed, size=(512, 256))
    h, w = sc.mask.shape
    yaw, pitch = pixel_directions(w, h)
    rng = np.random.default_rng(100 + seed)
    idx = rng.choice(int(sc.mask.sum()), size=2000)
    ty, tp = yaw[sc.mask][idx], pitch[sc.mask][idx]
    tan_h, tan_v = np.tan(np.radians(50)), np.tan(np.radians(50)) * 9 / 16
    for ep in scene_episodes(sc):
        # independent visibility test: rotate into the start camera by the inverse yaw rotation
        a = np.radians(-ep.start_yaw)
        v = direction(ty, tp)
        x = np.cos(a) * v[:, 0] + np.sin(a) * v[:, 2]
        z = -np.sin(a) * v[:, 0] + np.cos(a) * v[:, 2]
        vis = (z > 0) & (np.abs(x) <= tan_h * z) & (np.abs(v[:, 1]) <= tan_v * z)
        d = vis.mean()
        if abs(d - 0.5) > 0.05 and not (0 < d < 0.01):
            assert ep.level == level_from_fraction(d), (ep.start_yaw, d, ep.extra)


def test_toy_preset_target_and_levels():
    sc = generate_scene(0, preset="toy", size=(512, 256))
    eps = scene_episodes(sc)
    assert eps[0].instruction == "find the red cube"
    assert [e.level for e in eps] == [2, 0, 2, 2]  # visible only from start yaw 90
    lo, hi = eps[0].yaw_window
    assert abs((lo + hi) / 2 - 90) < 1 and 23 <= hi - lo <= 26


def test_hstar_roundtrip_missing_initial_yaw_and_upstream_order(tmp_path):
    scenes = [generate_scene(s, size=(128, 64)) for s in range(3)]
    write_hstar(scenes, tmp_path / "hos")
    eps = load_hstar(tmp_path / "hos")
    assert len(eps) == 12 and all(e.task == "HOS" for e in eps)
    assert [e.start_yaw for e in eps[:4]] == [0, 90, 180, 270]
    assert eps[0].level == scene_episodes(scenes[0])[0].level
    # an HPS folder without "initial yaw": defaults and a scalar level
    d = tmp_path / "hps" / "scene_b"
    d.mkdir(parents=True)
    (d / "b.jpg").write_bytes((tmp_path / "hos" / scenes[0].name / "panorama.png").read_bytes())
    (d / "a.png").write_bytes((tmp_path / "hos" / scenes[0].name / "panorama.png").read_bytes())
    (d / "annotation.json").write_text(json.dumps([{"task": "go to the door", "yaw": [350, 20], "level": 3},
                                                   {"task": "go left", "yaw": [10, 20]}]))
    hps = load_hstar(tmp_path / "hps")
    assert [e.start_yaw for e in hps] == [0, 90, 180, 270] * 2
    assert [e.level for e in hps] == [3] * 4 + ["unknown"] * 4
    assert hps[0].task == "HPS" and hps[0].pitch_window is None and str(hps[0].panorama).endswith("a.png")
    shuffled = load_hstar(tmp_path / "hos", upstream_order=True)
    expect = list(eps)
    random.seed(42)
    random.shuffle(expect)
    assert [e.key for e in shuffled] == [e.key for e in expect]


def test_hstar_bad_field_names_file_record_field(tmp_path):
    d = tmp_path / "s"
    d.mkdir()
    (d / "p.png").write_bytes(b"")
    (d / "annotation.json").write_text(json.dumps([{"task": "a", "yaw": [1, 2], "pitch": [0, 1]},
                                                   {"task": "b", "yaw": [1], "pitch": [0, 1]}]))
    with pytest.raises(ScanpathDataError) as e:
        load_hstar(tmp_path)
    assert e.value.record == 1 and e.value.field == "yaw" and "annotation.json" in e.value.file
