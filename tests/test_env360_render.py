"""Rendering inside the 360° environments: py360convert parity, target at the view centre, twins agree."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from scanpath.envs import Episode, Rotate
from scanpath.envs.humanoid360 import Humanoid360Env
from scanpath.stimuli.panoramas import COLOURS, SceneObject, generate_scene, scene_episodes

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
P41 = DATA / "salient360" / "stimuli" / "P41_2000x1000.jpg"


@pytest.fixture(scope="module")
def p41():
    if not P41.exists():
        pytest.skip("shared data folder ../shared/data/salient360 is absent")
    import cv2

    return cv2.cvtColor(cv2.imread(str(P41)), cv2.COLOR_BGR2RGB)


def test_env_views_match_py360convert(p41):
    pytest.importorskip("py360convert", reason="py360convert is a test extra")
    hw = (180, 320)
    eps = [Episode("p41", p41, "x", "HOS", (0, 1), (0, 1), start_yaw=0)]
    ours = Humanoid360Env(eps, out_hw=hw, grid="py360", pole="flip", crosshair=False)
    ref = Humanoid360Env(eps, out_hw=hw, renderer="py360convert", crosshair=False)
    diffs = []
    for dyaw, dpitch in [(0, 0), (45, 10), (135, -45), (135, 85), (90, -175)]:  # seam at 180, both poles
        for env in (ours, ref):
            env.reset(options={"episode": 0})
        a = ours.step(Rotate(dyaw, dpitch))[0]["image"].astype(float)
        b = ref.step(Rotate(dyaw, dpitch))[0]["image"].astype(float)
        diffs.append(np.abs(a - b).ravel())
    d = np.concatenate(diffs)
    assert d.mean() <= 0.5 and np.percentile(d, 99) <= 2 and d.max() <= 8, (d.mean(), np.percentile(d, 99), d.max())


@pytest.mark.parametrize("yaw, pitch", [(137, 23), (-170, -35), (179, 0)])
def test_target_appears_at_view_centre_after_rotate(yaw, pitch):
    sc = generate_scene(1, objects=[SceneObject("purple", "sphere", yaw, pitch, 10.0)], size=(1024, 512))
    ep = scene_episodes(sc)[0]  # start yaw 0
    env = Humanoid360Env([ep], out_hw=(72, 128), crosshair=False)
    obs, _ = env.reset(options={"episode": 0})
    centre = obs["image"][36, 64].astype(int)
    assert np.abs(centre - COLOURS["purple"]).sum() > 30  # not looking at it yet (unless behind start view)
    obs, *_ = env.step(Rotate(yaw % 360, pitch))
    img = obs["image"].astype(int)
    assert np.abs(img[36, 64] - COLOURS["purple"]).max() <= 2
    # the 10° disc spans about ±6 px at 128 px / 100°; 20 px off-centre is background
    assert np.abs(img[36, 64 + 20] - COLOURS["purple"]).sum() > 30


def test_crosshair_drawn_green_at_centre():
    sc = generate_scene(2, preset="toy", size=(256, 128))
    env = Humanoid360Env(scene_episodes(sc)[:1], out_hw=(72, 128), crosshair=True)
    img = env.reset(options={"episode": 0})[0]["image"]
    assert (img[36, 54:75] == [0, 255, 0]).all() and (img[26:47, 64] == [0, 255, 0]).all()
    assert not (img[36, 53] == [0, 255, 0]).all()


def test_vector_env_views_equal_single_env_views():
    import gymnasium as gym

    from scanpath.envs import ENV_ID

    eps = scene_episodes(generate_scene(3, size=(512, 256)))
    venv = gym.make_vec(ENV_ID, num_envs=4, vectorization_mode="vector_entry_point", episodes=eps,
                        out_hw=(36, 64), max_steps=10)
    obs, info = venv.reset(options={"episodes": [0, 1, 2, 3]})
    acts = {"kind": np.zeros(4, dtype=np.int64), "angles": np.array([[30, 10], [-45, 0], [0, -30], [170, 5]])}
    obs, *_ = venv.step(acts)
    env = Humanoid360Env(eps, out_hw=(36, 64), crosshair=False)
    for i in range(4):
        env.reset(options={"episode": i})
        o = env.step(Rotate(*[int(a) for a in acts["angles"][i]]))[0]
        assert np.array_equal(o["image"], obs["image"][i])
        assert (int(o["yaw"]), int(o["pitch"])) == (int(obs["yaw"][i]), int(obs["pitch"][i]))
    assert list(info["instruction"]) == [e.instruction for e in eps]


@pytest.mark.gpu
def test_batched_env_on_cuda_matches_cpu():
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    from scanpath.envs.batched import BatchedHumanoid360Env

    sc = generate_scene(5, size=(1024, 512))
    stack = torch.from_numpy(sc.image).permute(2, 0, 1)[None].contiguous()
    n = 16
    args = (torch.zeros(n, dtype=torch.long), torch.tensor([[0.0, 10.0]] * n), torch.tensor([[0.0, 10.0]] * n),
            torch.zeros(n, dtype=torch.long), torch.arange(n) * 23 % 360)
    views = []
    for dev, impl in (("cpu", "torch"), ("cuda", "auto"), ("cpu", "auto")):
        env = BatchedHumanoid360Env(stack, out_hw=(72, 128), device=dev, render_impl=impl)
        env.reset(*args)
        obs, *_ = env.step(torch.zeros(n, dtype=torch.long), torch.tensor([[45, 30]] * n))
        views.append(obs["image"].cpu().int())
    assert (views[0] - views[1]).abs().max() <= 1  # rounding of a ≤ 2e-3 float difference
    # the CPU default (OpenCV, 1/32-px coordinates) against CUDA: py360convert-level agreement
    d = (views[2] - views[1]).abs().double()
    assert float(d.mean()) <= 0.5 and float(d.max()) <= 16
