"""Hydra glue shared by train.py and evaluate.py: build the baselines and the protocol from the
composed config and run the evaluation layer on built objects (the lightning-hydra-template's
``instantiators`` role; :mod:`scanpath.evaluation` itself never sees a config)."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)


def display_name(model: Any, fallback: str) -> str:
    """The model's table name, or ``fallback`` for the generic defaults."""
    name = getattr(model, "display_name", None)
    return name if name and name not in ("model", "baseline") else fallback


def model_display_name(cfg: DictConfig, model: Any) -> str:
    return display_name(model, str(cfg.model.get("_target_", "model")).rsplit(".", 1)[-1])


def instantiate_baselines(cfg: DictConfig, model_name: str, skip_identical: bool = True) -> tuple[list[Any], dict[str, str]]:
    """Baseline entries from ``cfg.baselines``; one equal to the evaluated untrained model is skipped
    (``skip_identical``; a leaderboard has no single evaluated model and keeps them all)."""
    from hydra.utils import instantiate

    from scanpath.evaluation import Entry

    entries: list[Entry] = []
    skipped: dict[str, str] = {}
    model_plain = OmegaConf.to_container(cfg.model, resolve=True)
    for key, bcfg in (cfg.get("baselines") or {}).items():
        if bcfg is None:
            continue
        if skip_identical and OmegaConf.to_container(bcfg, resolve=True) == model_plain and not cfg.get("ckpt_path"):
            skipped[str(key)] = "identical to the evaluated model"
            continue
        bmodel = instantiate(bcfg)
        name = display_name(bmodel, str(key))
        if (skip_identical and name == model_name) or name in {e.name for e in entries}:
            name = f"{name} [{key}]"
        entries.append(Entry(name, bmodel, "baseline", None, f"baselines.{key}"))
    return entries, skipped


def instantiate_protocol(cfg: DictConfig) -> Any:
    """``cfg.protocol`` (conf/protocol/), or the plain predict-then-score protocol."""
    from hydra.utils import instantiate

    from scanpath.evaluation.protocols import PlainProtocol

    return instantiate(cfg.protocol) if cfg.get("protocol") else PlainProtocol()


def evaluation_loggers(cfg: DictConfig) -> list[Any]:
    """The loggers of ``logger=`` (``conf/logger/``, the ones training uses) for evaluate.py; none under
    ``debug=fdr`` (``trainer.fast_dev_run``), which is said instead of silently logging nothing."""
    from scanpath.utils.hydra import instantiate_loggers, print_banner

    node = cfg.get("logger")
    if not node:
        return []
    if OmegaConf.select(cfg, "trainer.fast_dev_run", default=False):
        names = ", ".join(str(k) for k in node.keys())
        print_banner(f"loggers disabled (debug=fdr / trainer.fast_dev_run): nothing is logged to {names}; "
                     "the outputs are in the run dir", style="bold black on yellow")
        return []
    return instantiate_loggers(node)


def serve_sample_keys(datamodule: Any, models: list[Any]) -> frozenset[str] | None:
    """Tell ``datamodule`` the union of the sample keys ``models`` read
    (:func:`scanpath.models.base.sample_keys_union`), so it renders and loads nothing else; returns it."""
    from scanpath.models.base import sample_keys_union

    keys = sample_keys_union(models)
    if callable(getattr(datamodule, "require_sample_keys", None)):
        datamodule.require_sample_keys(keys)
        left_out = getattr(datamodule, "excluded_keys", lambda: ())()
        if left_out:
            log.info("data loaders leave out %s: no model of this run reads them", ", ".join(left_out))
    return keys


def run_evaluation(cfg: DictConfig, model: Any, datamodule: Any, out_dir: str | Path,
                   checkpoint: str | None = None, loggers: list[Any] | None = None,
                   untrained: bool | None = None) -> dict[str, Any]:
    """Run the configured protocol on built objects, write the report and log it to ``loggers``
    (None: the ``logger=`` of the config, :func:`evaluation_loggers`); returns the metrics.json payload.
    ``untrained`` labels the model's row and figures (None: :func:`is_untrained_config`; train.py: False)."""
    from scanpath.evaluation import write_report
    from scanpath.evaluation.manifest import prepare_run_dir, write_manifest

    started = (time.perf_counter(), time.process_time())
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    prepare_run_dir(out)
    name = model_display_name(cfg, model)
    protocol = instantiate_protocol(cfg)
    leaderboard = getattr(protocol, "name", "") == "leaderboard"
    baselines, skipped = instantiate_baselines(cfg, name, skip_identical=not leaderboard)
    models: list[Any] = []
    if leaderboard:
        models, more = instantiate_leaderboard_models(cfg)
        skipped.update(more)
        taken = {m.name for m in models}
        for b in baselines:  # a listed model and a baseline of the same name both keep their row
            if b.name in taken:
                b.name = f"{b.name} [{b.config_key}]"
    serve_sample_keys(datamodule, [model, *(e.model for e in baselines), *(e.model for e in models)])
    log.info("evaluation protocol: %s (conf/protocol/; protocol=plain for predict-then-score) → %s", protocol.name, out)
    if untrained is None:
        untrained = getattr(model, "baseline", None) is None and is_untrained_config(cfg.model, checkpoint)
    if untrained:
        log.warning("%s runs with random weights (no checkpoint, or pretrained weights switched off): its row and "
                    "figures are labelled untrained", name)
    result = protocol.run(model=model, model_name=name, datamodule=datamodule, out_dir=out, models=models,
                          untrained=untrained,
                          metrics=cfg.get("metrics"), checkpoint=checkpoint, baselines=baselines, skipped=skipped,
                          human_consistency=bool(cfg.get("human_consistency", True)),
                          n_figures=int(cfg.get("n_figures") or 0), seed=cfg.get("seed"),
                          device=str(cfg.get("device") or "cpu"),
                          n_stimuli=int(OmegaConf.select(cfg, "report.n_stimuli", default=6) or 0))
    payload = write_report(result, out)
    own = loggers is None
    loggers = evaluation_loggers(cfg) if own else list(loggers or [])
    if loggers:
        from scanpath.evaluation.loggers import log_evaluation
        from scanpath.utils.hydra import close_loggers

        log_evaluation(result, out, loggers)
        if own:  # finished before the manifest, so the files it lists are final
            for lg in loggers:
                lg.finalize("success")
            close_loggers()
    write_manifest(out, {"protocol": protocol.name})
    log.info("evaluation took %.1f s wall, %.1f s CPU%s", time.perf_counter() - started[0],
             time.process_time() - started[1], _peak_rss_note())
    return payload


def _peak_rss_note() -> str:
    """``"; process peak RSS 1.23 GB"`` where the platform reports it (Linux), else ``""``."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return ""
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux
    return f"; process peak RSS {kb / 2**20:.2f} GB" if sys.platform.startswith("linux") else ""


#: weight switches set to their offline value for untrained leaderboard entries
OFFLINE_WEIGHTS = {"weights": "random", "pretrained": None, "pretrained_weights": None}


def is_untrained_config(node: Any, checkpoint: str | None) -> bool:
    """A model config that runs with random weights: a weight switch at its random value
    (:data:`OFFLINE_WEIGHTS`), or a trainable network without a checkpoint. Baselines never are."""
    from scanpath.models.baselines import BaselineModel

    if checkpoint:
        return False
    cls = _target_class(node)
    if isinstance(cls, type) and issubclass(cls, BaselineModel):
        return False
    return _random_switch(node) or bool(getattr(cls, "trainable", False))


def _random_switch(node: Any) -> bool:
    """True when a weight switch under ``node`` is set to random initialisation."""
    if not OmegaConf.is_dict(node):
        return False
    for k in node.keys():
        v = node[k]
        if OmegaConf.is_config(v):
            if _random_switch(v):
                return True
        elif k == "weights":  # eccNET / IVSN: random or null without a local weights file
            if v in ("random", "none", None) and not node.get("weights_path"):
                return True
        elif k in OFFLINE_WEIGHTS and v == OFFLINE_WEIGHTS[k]:
            return True
    return False


def _offline(node: Any) -> bool:
    """Set every pretrained-weight switch under ``node`` to random init; True when one was changed."""
    changed = False
    if OmegaConf.is_dict(node):
        for k in list(node.keys()):
            v = node[k]
            if k in OFFLINE_WEIGHTS and not OmegaConf.is_config(v) and v != OFFLINE_WEIGHTS[k]:
                node[k] = OFFLINE_WEIGHTS[k]
                changed = True
            elif OmegaConf.is_config(v):
                changed = _offline(v) or changed
    return changed


def instantiate_leaderboard_models(cfg: DictConfig) -> tuple[list[Any], dict[str, str]]:
    """Entries for ``leaderboard.models`` (null = every model config that is not a baseline).

    Without ``leaderboard.pretrained`` weight switches are set to random init (no download at run
    time) and the row says ``untrained``; ``leaderboard.checkpoints.<model>`` loads trained weights (oat, neva and humanoid360_grpo are listed in the preset; other names need a leading ``+``).
    Models that cannot be built are skipped with the reason; ``leaderboard.exclude`` skips by name;
    ``leaderboard.overrides.<model>.<key>=…`` sets a model's own config keys.
    """
    from hydra.utils import instantiate

    from scanpath.evaluation import Entry, load_weights
    from scanpath.resources import config_dir

    lb = cfg.get("leaderboard") or {}
    conf_dir = config_dir() / "model"  # the shipped model configs (inside the package when installed)
    baseline_names = set((cfg.get("baselines") or {}).keys())
    names = list(lb.get("models") or sorted(p.stem for p in conf_dir.glob("*.yaml") if p.stem not in baseline_names))
    checkpoints = dict(lb.get("checkpoints") or {})
    exclude = dict(lb.get("exclude") or {})
    entries, skipped = [], {}
    for name in names:
        if name in exclude and name not in (lb.get("models") or []):
            skipped[name] = str(exclude[name])
            continue
        path = conf_dir / f"{name}.yaml"
        if not path.is_file():
            raise FileNotFoundError(f"leaderboard.models: no model config {path}")
        over = (lb.get("overrides") or {}).get(name) or {}
        node = OmegaConf.merge(OmegaConf.load(path), over)
        ckpt = checkpoints.get(name)
        untrained = False
        if not ckpt and not lb.get("pretrained", False):
            untrained = _offline(node) or bool(getattr(_target_class(node), "trainable", False))
        try:
            model = instantiate(node)
            if ckpt:
                load_weights(model, str(ckpt))
        except Exception as exc:  # a model that cannot be built here is reported, never dropped silently
            root = exc.__cause__ or exc
            skipped[name] = f"cannot be built here: {type(root).__name__}: {str(root).strip().splitlines()[-1][:240]}"
            log.warning("leaderboard: skipping %s: %s", name, skipped[name])
            continue
        label = display_name(model, name) + (" (untrained)" if untrained else "")
        extra: dict[str, Any] = {"untrained": untrained, "model_config": name}
        changed = _flat_items(OmegaConf.to_container(over, resolve=True) if OmegaConf.is_config(over) else over)
        if changed:  # never silent: the row is marked and lists what differs from conf/model/<name>.yaml
            extra["settings_note"] = (f"run with leaderboard.overrides.{name} (conf/model/{name}.yaml changed): "
                                      + ", ".join(f"{k}={v}" for k, v in changed))
        entries.append(Entry(label, model, "model", str(ckpt) if ckpt else None, f"leaderboard.models.{name}",
                             extra=extra))
    return entries, skipped


def _flat_items(node: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """``{"a": {"b": 1}}`` -> ``[("a.b", 1)]`` (dotted keys, as on the command line)."""
    if not isinstance(node, dict):
        return [(prefix, node)] if prefix else []
    out: list[tuple[str, Any]] = []
    for k, v in node.items():
        out += _flat_items(v, f"{prefix}.{k}" if prefix else str(k))
    return out


def _target_class(node: Any) -> Any:
    from hydra.utils import get_class

    try:
        return get_class(str(node.get("_target_")))
    except Exception:  # noqa: BLE001 - only used for the trainable flag
        return None


def model_choice(cfg: DictConfig) -> str:
    """The ``model=`` choice of this run (for the printed next commands)."""
    try:
        from hydra.core.hydra_config import HydraConfig

        return str(HydraConfig.get().runtime.choices.get("model"))
    except Exception:  # noqa: BLE001 - outside a Hydra app (tests): fall back to the class name
        return str(cfg.model.get("_target_", "model")).rsplit(".", 1)[-1]


def training_outputs(cfg: DictConfig, trainer: Any, out_dir: str | Path, checkpoint: str | None) -> list[str]:
    """After train.py: the learning curve figure, then where the results are and the next commands."""
    from scanpath.viz import save_learning_curve

    out = Path(out_dir)
    lines = []
    for lg in getattr(trainer, "loggers", []) or []:
        csv = Path(getattr(lg, "log_dir", "") or "") / "metrics.csv"
        if csv.is_file():
            from scanpath.evaluation.report import run_labels

            synthetic = bool(getattr(getattr(trainer, "datamodule", None), "synthetic", False))
            path = save_learning_curve(out / "evaluation" / "figures" / "learning_curve.png", csv,
                                       labels=run_labels(synthetic),
                                       monitor=str(cfg.get("optimized_metric") or ""),
                                       title=f"{model_choice(cfg)}: learning curve")
            lines.append(f"learning curve:  {path}")
            break
    ev = out / "evaluation"
    name = model_choice(cfg)
    ckpt = checkpoint or "<checkpoint>"
    plus = "" if name in ("oat", "neva", "humanoid360_grpo") else "+"  # listed in conf/experiment/leaderboard.yaml
    lines += [f"results table:   {ev / 'metrics.md'}   (metrics.json: every value with n, params)",
              f"report:          {ev / 'report.html'}   (open in a browser: animated scanpaths)",
              "next:",
              f"  python evaluate.py model={name} ckpt_path={ckpt}            # evaluate again (any data=…)",
              f"  python evaluate.py experiment=leaderboard {plus}leaderboard.checkpoints.{name}={ckpt}   # all families, one table"]
    if name == "oat":
        lines += [f"  python evaluate.py model=oat ckpt_path={ckpt} data=amazon_covers data.annotations=/path/Amazon.json",
                  "  python train.py experiment=oat_paper        # the paper's training budget (hours on a GPU)"]
    return lines
