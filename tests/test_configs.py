"""Every config in conf/ composes and instantiates.

Files are discovered at collection time, so configs added by any engineer are covered automatically.
Configs that need data the sandbox does not have, hardware it does not have, or an optional package
that is not installed are skipped with the reason spelled out.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from conftest import CONF_DIR, SHARED_DATA, compose_config, write_tiny_coco, write_tiny_natural
from hydra.utils import instantiate
from omegaconf import OmegaConf

GROUPS = ["data", "model", "trainer", "logger", "callbacks", "metrics", "paths", "debug", "hparams_search",
          "experiment", "hydra/launcher", "protocol"]


def _options(group: str) -> list[str]:
    d = CONF_DIR / group
    return sorted(p.stem for p in d.glob("*.yaml")) if d.is_dir() else []


def _params(group: str):
    opts = _options(group)
    return [pytest.param(o, id=f"{group}={o}") for o in opts] or [
        pytest.param(None, marks=pytest.mark.skip(reason=f"conf/{group}/ has no configs yet"))
    ]


def _data_overrides(name: str, tmp_path: Path) -> list[str]:
    """Fast / sandbox-local settings for data configs (others need user downloads and are skipped)."""
    if name == "coco_search18":
        return [f"data.annotations={write_tiny_coco(tmp_path / 'tiny.json')}", "data.frame=null"]
    if name == "search_arrays":
        return ["data.num_layouts=12"]
    if name == "natural_search":
        ann, img_dir = write_tiny_natural(tmp_path)
        return [f"data.annotations={ann}", f"data.image_dir={img_dir}"]
    return []


#: Offline replacements for pretrained-weight switches found anywhere under ``model`` (tests build
#: randomly initialised models: there is no network in CI or in the sandbox).
OFFLINE_VALUES = {"weights": "random", "pretrained": "null", "pretrained_weights": "null"}


#: Extra offline/test overrides for specific model configs (name -> overrides).
MODEL_TEST_OVERRIDES = {"humanoid360_vlm": ["model.tiny=true"]}


def offline_model_overrides(cfg, name: str | None = None) -> list[str]:
    """``model.<path>=<offline value>`` for every weight switch in the composed model config."""
    out = list(MODEL_TEST_OVERRIDES.get(name or "", []))

    def walk(node, prefix):
        if OmegaConf.is_dict(node):
            for k in node.keys():
                v = node._get_node(k)
                key = f"{prefix}.{k}"
                if k in OFFLINE_VALUES and not OmegaConf.is_config(v._value() if hasattr(v, "_value") else v):
                    out.append(f"{key}={OFFLINE_VALUES[k]}")
                elif OmegaConf.is_config(v):
                    walk(v, key)

    walk(cfg.model, "model")
    return out


def _base(group: str) -> list[str]:
    # train.yaml's default model (oat) and data may not have landed yet: pin known-present ones
    out = []
    if group != "model" and (CONF_DIR / "model" / "center_bias.yaml").is_file():
        out.append("model=center_bias")
    return out


def test_entry_configs_compose_with_their_defaults(tmp_path):
    for name in ("train", "evaluate"):
        missing = [f"conf/{g}/{o}.yaml" for g, o in (("data", "search_arrays"), ("model", "oat" if name == "train" else "center_bias"))
                   if not (CONF_DIR / g / f"{o}.yaml").is_file()]
        if missing:
            pytest.skip(f"default configs not landed yet: {missing}")
        cfg = compose_config(name, [], tmp_path)
        assert cfg.task_name == name
        assert "_target_" in cfg.data and "_target_" in cfg.model and "_target_" in cfg.trainer
        OmegaConf.to_container(cfg, resolve=True)  # every interpolation resolves


@pytest.mark.parametrize("name", _params("data"))
def test_data_config(name, tmp_path):
    cfg = compose_config("train", [*_base("data"), f"data={name}", *_data_overrides(name, tmp_path)], tmp_path)
    missing = sorted(OmegaConf.missing_keys(cfg.data))
    if missing:
        pytest.skip(f"data={name} needs user data paths (not in the sandbox): {missing}")
    root = cfg.data.get("root")
    if root and not Path(str(root)).exists():
        pytest.skip(f"data={name} needs user data at data.root={root} (not in the sandbox)")
    ann = cfg.data.get("annotations")
    if isinstance(ann, str) and not Path(ann).exists():
        pytest.skip(f"data={name} needs user data at data.annotations={ann} (not in the sandbox)")
    dm = instantiate(cfg.data)
    assert hasattr(dm, "setup") and hasattr(dm, "predict_dataloader")


@pytest.mark.parametrize("name", _params("model"))
def test_model_config(name, tmp_path):
    from scanpath.models.base import ScanpathModel

    cfg = compose_config("train", [f"model={name}"], tmp_path)
    cfg = compose_config("train", [f"model={name}", *offline_model_overrides(cfg, name)], tmp_path)
    OmegaConf.to_container(cfg.model, resolve=True)
    try:
        model = instantiate(cfg.model)
    except Exception as e:  # optional extras (e.g. transformers for the VLM adapter) may be absent
        missing = [m for m in ("transformers",) if m in repr(e) and importlib.util.find_spec(m) is None]
        if missing:
            pytest.skip(f"model={name} needs the optional package(s) {missing} (extra .[vlm]), not installed")
        raise
    assert "runner" not in cfg and "data" not in (OmegaConf.to_container(cfg.model) or {})  # @package model only
    if cfg.get("protocol") is not None:
        # protocol-driven evaluation (360° agents): the protocol consumes the model, which need not be
        # a ScanpathModel; the protocol itself must instantiate with a run() method
        assert callable(getattr(instantiate(cfg.protocol), "run", None)), f"model={name}: protocol has no run()"
        return
    assert isinstance(model, ScanpathModel), type(model)
    assert isinstance(model.display_name, str) and model.samples_per_stimulus >= 1


@pytest.mark.parametrize("name", _params("trainer"))
def test_trainer_config(name, tmp_path):
    cfg = compose_config("train", [*_base("trainer"), f"trainer={name}"], tmp_path)
    acc = cfg.trainer.get("accelerator")
    devices = cfg.trainer.get("devices") or 1
    if acc == "gpu" and (not torch.cuda.is_available() or torch.cuda.device_count() < int(devices)):
        pytest.skip(f"trainer={name} needs {devices} CUDA device(s); composed fine: {dict(cfg.trainer)}")
    trainer = instantiate(cfg.trainer, logger=False)
    if name == "ddp_sim":
        assert trainer.num_devices == 2 and type(trainer.strategy).__name__.startswith("DDP")
        assert trainer.strategy._get_process_group_backend() == "gloo"


@pytest.mark.parametrize("name", _params("logger"))
def test_logger_config(name, tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    cfg = compose_config("train", [*_base("logger"), f"logger={name}"], tmp_path)
    needs_tb = any("tensorboard" in str(v.get("_target_", "")).lower() for v in cfg.logger.values())
    if needs_tb and not (importlib.util.find_spec("tensorboard") or importlib.util.find_spec("tensorboardX")):
        pytest.skip(f"logger={name} needs the optional `tensorboard` package (extra .[tensorboard]), not installed")
    for key, lcfg in cfg.logger.items():
        if "wandb" in key:
            assert lcfg.offline is True  # no API key -> offline mode
        lg = instantiate(lcfg)
        assert hasattr(lg, "log_metrics")


def test_wandb_goes_online_with_an_api_key(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    cfg = compose_config("train", [*_base("logger"), "logger=wandb"], tmp_path)
    assert cfg.logger.wandb.offline is False


@pytest.mark.parametrize("name", _params("callbacks"))
def test_callbacks_config(name, tmp_path):
    from scanpath.utils import instantiate_callbacks

    cfg = compose_config("train", [*_base("callbacks"), f"callbacks={name}"], tmp_path)
    cbs = instantiate_callbacks(cfg.callbacks)
    assert len(cbs) == len([v for v in (cfg.callbacks or {}).values() if "_target_" in v])
    if name == "default":
        from pytorch_lightning.callbacks import ModelCheckpoint

        from scanpath.utils.atomic_checkpoint import AtomicModelCheckpoint

        ckpts = [c for c in cbs if isinstance(c, ModelCheckpoint)]
        assert all(isinstance(c, AtomicModelCheckpoint) for c in ckpts)  # written temp + rename (issue 16)
        assert ckpts[0].monitor == cfg.optimized_metric  # trainer.checkpoint_callback = the best one
        last = [c for c in ckpts if c.monitor is None and c.filename == "last"]
        assert len(last) == 1 and last[0].save_top_k == 1 and not last[0]._enable_version_counter


@pytest.mark.parametrize("name", _params("metrics"))
def test_metrics_config(name, tmp_path):
    from scanpath.metrics.registry import resolve

    cfg = compose_config("evaluate", [f"metrics={name}"], tmp_path)
    metrics = OmegaConf.to_container(cfg.metrics, resolve=True) or {}
    assert metrics, f"metrics={name} is empty"
    for entry, params in metrics.items():
        resolve(entry, params)  # unknown metric names / params raise here


@pytest.mark.parametrize("group", ["paths", "debug", "experiment"])
def test_compose_only_groups(group, tmp_path):
    opts = _options(group)
    if not opts:
        pytest.skip(f"conf/{group}/ has no configs yet")
    for name in opts:
        cfg = compose_config("train", [*_base(group), f"{group}={name}"], tmp_path)
        OmegaConf.to_container(cfg.paths, resolve=True)
        if group == "debug" and name == "fdr":
            assert cfg.trainer.fast_dev_run is True and cfg.trainer.accelerator == "cpu"


def test_hparams_search_configs(tmp_path):
    opts = _options("hparams_search")
    if importlib.util.find_spec("hydra_plugins.hydra_optuna_sweeper") is None:
        pytest.skip("hydra-optuna-sweeper not installed (extra .[optuna])")
    for name in opts:
        cfg = compose_config("train", [*_base("hparams_search"), f"hparams_search={name}"], tmp_path)
        assert cfg.hydra.sweeper.params, name
        for param in cfg.hydra.sweeper.params:
            assert OmegaConf.select(cfg, param) is not None, f"{name}: sweeps {param}, which is not in the config"


@pytest.mark.parametrize("name", _params("hydra/launcher"))
def test_launcher_config(name, tmp_path):
    cfg = compose_config("train", [*_base("launcher"), f"hydra/launcher={name}", "trainer.devices=2"], tmp_path)
    launcher = cfg.hydra.launcher
    assert "submitit" in launcher._target_ or "basic" in launcher._target_.lower() or name == "basic"
    if name == "submitit_slurm":
        assert launcher.tasks_per_node == 2 and launcher.gpus_per_node == 2
        assert launcher.max_num_timeout > 0
        assert cfg.resume_from_last is True


@pytest.mark.parametrize("name", _params("protocol"))
def test_protocol_config(name, tmp_path):
    cfg = compose_config("evaluate", [f"protocol={name}"], tmp_path)
    protocol = instantiate(cfg.protocol)
    assert callable(protocol.run) and isinstance(protocol.name, str)


def test_model_configs_are_package_model():
    """Model configs hold the model node only; cross-group needs live in conf/experiment/ presets."""
    for p in sorted((CONF_DIR / "model").glob("*.yaml")):
        first = p.read_text().splitlines()[0]
        assert first == "# @package model", (p.name, first)
        assert "override /" not in p.read_text(), p.name


def test_every_config_file_was_covered():
    """Guard: a new config group must be added to GROUPS (or to the compose-only tests)."""
    found = {str(p.parent.relative_to(CONF_DIR)) for p in CONF_DIR.rglob("*.yaml") if p.parent != CONF_DIR}
    assert found <= set(GROUPS) | {"hydra"}, sorted(found - set(GROUPS))


def test_shared_data_constant_points_outside_repo():
    assert SHARED_DATA.parent.name == "shared"
