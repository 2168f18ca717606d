"""Shared pytest fixtures and helpers (owned by the foundation engineer).

* ``shared_data`` — the read-only ``../shared/data`` folder (skips when absent, e.g. on a user's clone).
* ``make_scanpath`` — factory for small valid :class:`scanpath.types.Scanpath` objects.
* ``tiny_coco`` — writes a small COCO-Search18-style interchange JSON (several stimuli × subjects) into
  a temp dir and returns its path; used by the train/evaluate tests through ``data=coco_search18``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("WANDB_MODE", "offline")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared test data not found at {SHARED_DATA} (only present in the build sandbox)")
    return SHARED_DATA


@pytest.fixture
def make_scanpath():
    from scanpath.types import Scanpath

    def make(n: int = 5, *, seed: int = 0, size=(200, 100), durations: bool = True, **kw) -> Scanpath:
        rng = np.random.default_rng(seed)
        return Scanpath(
            x=rng.uniform(0, size[0], n),
            y=rng.uniform(0, size[1], n),
            duration=rng.uniform(50, 400, n) if durations else None,
            image_size=size,
            **{"stimulus": "img.jpg", "subject": 1, **kw},
        )

    return make


def write_tiny_coco(path: Path, n_stimuli: int = 10, n_subjects: int = 3, seed: int = 0, frame=(320, 200)) -> Path:
    """A small interchange JSON: ``n_stimuli`` × ``n_subjects`` target-present scanpaths in ``frame``
    (first 60 % of stimuli ``train``, next 20 % ``valid``, rest ``test``)."""
    from scanpath.io.coco import write_coco_json
    from scanpath.types import Scanpath

    rng = np.random.default_rng(seed)
    sps = []
    n_train = max(1, int(0.6 * n_stimuli))
    n_val = max(1, int(0.2 * n_stimuli))
    for i in range(n_stimuli):
        split = "train" if i < n_train else "valid" if i < n_train + n_val else "test"
        bbox = [float(rng.uniform(0, frame[0] - 60)), float(rng.uniform(0, frame[1] - 40)), 50.0, 30.0]
        for subj in range(1, n_subjects + 1):
            n = int(rng.integers(2, 9))
            sps.append(
                Scanpath(
                    x=rng.uniform(0, frame[0], n),
                    y=rng.uniform(0, frame[1], n),
                    duration=rng.uniform(80, 400, n),
                    stimulus=f"{i:03d}.jpg",
                    subject=subj,
                    task="cup",
                    condition="present",
                    image_size=frame,
                    extra={"bbox": bbox, "split": split, "correct": 1},
                )
            )
    write_coco_json(path, sps)
    return path


def write_tiny_natural(root: Path, n_stimuli: int = 5, seed: int = 0, frame=(320, 200)) -> tuple[Path, Path]:
    """:func:`write_tiny_coco` plus its images: seeded grey noise with a saturated red/blue checkerboard
    target filling each record's bbox. Returns (annotations, image_dir)."""
    import cv2

    from scanpath.io.coco import read_coco_json

    ann = write_tiny_coco(root / "natural.json", n_stimuli=n_stimuli, seed=seed, frame=frame)
    img_dir = root / "images"
    img_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    done = set()
    for sp in read_coco_json(ann):
        if sp.stimulus in done:
            continue
        done.add(sp.stimulus)
        img = rng.integers(60, 140, size=(frame[1], frame[0], 3)).astype(np.uint8)
        x, y, w, h = (int(round(v)) for v in sp.extra["bbox"])
        yy, xx = np.mgrid[0:h, 0:w]
        check = ((yy // 5 + xx // 5) % 2).astype(bool)
        img[y:y + h, x:x + w] = np.where(check[..., None], [255, 0, 0], [0, 0, 255]).astype(np.uint8)
        cv2.imwrite(str(img_dir / sp.stimulus), cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 100])
    return ann, img_dir


@pytest.fixture
def tiny_coco(tmp_path: Path) -> Path:
    return write_tiny_coco(tmp_path / "tiny_coco.json")


# ------------------------------------------------------------------------------ Hydra composition
CONF_DIR = REPO_ROOT / "conf"


def compose_config(config_name: str, overrides: list[str] | tuple[str, ...] = (), output_dir: Path | None = None):
    """Compose ``conf/<config_name>.yaml`` like the entry point would (Hydra config included), with
    ``paths.output_dir`` / ``paths.log_dir`` redirected to ``output_dir``; sets the HydraConfig
    singleton so ``${hydra:...}`` interpolations resolve. Returns the composed DictConfig."""
    os.environ.setdefault("PROJECT_ROOT", str(REPO_ROOT))
    import scanpath.utils  # noqa: F401  (registers resolvers)
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name=config_name, overrides=list(overrides), return_hydra_config=True)
    if output_dir is not None:
        output_dir = Path(output_dir)
        with open_dict(cfg):
            cfg.hydra.runtime.output_dir = str(output_dir)
            cfg.hydra.job.num = 0
            cfg.hydra.job.id = "0"
            if "paths" in cfg:
                cfg.paths.output_dir = str(output_dir)
                cfg.paths.log_dir = str(output_dir / "logs")
    HydraConfig.instance().set_config(cfg)
    return cfg


@pytest.fixture
def compose():
    """``compose(config_name, overrides, output_dir)`` — see :func:`compose_config`."""
    from hydra.core.global_hydra import GlobalHydra

    yield compose_config
    GlobalHydra.instance().clear()
