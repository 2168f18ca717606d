"""The one evaluation layer: every model config and experiment preset goes through ``evaluate.py`` and
writes a ``metrics.json`` that validates against the one schema; the checkpoint loader's errors; the
import structure (``scanpath`` imports without ``scanpath.datamodules``)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from conftest import CONF_DIR, REPO_ROOT, SHARED_DATA, compose_config, write_tiny_natural
from omegaconf import OmegaConf
from test_configs import offline_model_overrides

sys.path.insert(0, str(REPO_ROOT))
import evaluate as evaluate_script  # noqa: E402

from scanpath.evaluation import CheckpointError, load_weights, validate_metrics  # noqa: E402
from scanpath.evaluation.schema import SchemaError, json_schema  # noqa: E402

HUMAN_CSV = SHARED_DATA / "asymmetry" / "human_rt_digitized.csv"
AMAZON = SHARED_DATA / "amazon_covers" / "Amazon.json"


# ------------------------------------------------------------------------------- data builders
def search_arrays(tmp: Path) -> list[str]:
    return ["data.num_layouts=12", "data.batch_size=8"]


def natural(tmp: Path) -> list[str]:
    ann, img_dir = write_tiny_natural(tmp)
    return ["data=natural_search", f"data.annotations={ann}", f"data.image_dir={img_dir}", "data.display_size=[64,40]",
            "data.target_size=8", "data.frame=null"]


def capmit(tmp: Path) -> list[str]:
    from scanpath.io.capmit1003 import write_synthetic_capmit1003

    root = write_synthetic_capmit1003(tmp / "cap", n_images=2, captions_per_image=2, seed=3)
    return [f"data.root={root}", "data.clip_size=64"]


def mit(tmp: Path) -> list[str]:
    from scanpath.io.mit1003 import write_synthetic_mit1003

    root = write_synthetic_mit1003(tmp / "mit", stems=[f"s{i}" for i in range(4)])
    return [f"data.root={root}", "data.clip_size=64"]


def panoramas(tmp: Path) -> list[str]:
    return ["data=panoramas", "data.n_scenes=3", "data.size=[256,128]", "protocol.resolution=36",
            "protocol.max_episodes=2", "protocol.progress=false"]


def hstar(tmp: Path) -> list[str]:
    from scanpath.stimuli.panoramas import generate_scene, write_hstar

    root = write_hstar([generate_scene(s, size=(256, 128)) for s in range(2)], tmp / "hos_bench")
    return [f"data.root={root}", "protocol.resolution=36", "protocol.max_episodes=2", "protocol.progress=false"]


TINY_OAT = ["model.d_model=32", "model.n_heads=2", "model.n_encoder_layers=1", "model.n_decoder_layers=1",
            "model.dim_feedforward=32", "model.pe_steps=50", "protocol.samples=2", "protocol.baseline_rollouts=3",
            "data.include_image=false"]
TINY_ECC = ["model.natural.num_fix=2", "model.natural.ior_size=8", "model.natural.oracle_size=8",
            "metrics.scanmatch.frame=[320,200]", "~baselines"]
TINY_CLIP = ["model.clip.model_name=NevaTiny-ViT", "model.clip.pretrained=null", "model.n_iter=2", "model.blur_k=9",
             "model.blur_sigma=3.0", "~baselines.saliency_ior", "~baselines.target_similarity"]
TINY_ASYM = ["protocol.conditions=[top_down,left_right]", "protocol.max_trials_per_size=1", "protocol.num_fix_cap=2",
             f"protocol.human_csv={HUMAN_CSV}", "protocol.progress=false", "model.weights=random"]

#: model config -> (choice, data builder, extra overrides). Every file in conf/model/ must be listed.
MODEL_CASES: dict[str, tuple[str, Callable[[Path], list[str]], list[str]]] = {
    "random": ("model=random", search_arrays, []),
    "center_bias": ("model=center_bias", search_arrays, []),
    "saliency_ior": ("model=saliency_ior", search_arrays, ["~baselines.target_similarity"]),
    "target_similarity": ("model=target_similarity", search_arrays, ["~baselines.saliency_ior"]),
    "chance": ("experiment=eccnet_asymmetry", lambda tmp: [], ["model=chance", *TINY_ASYM]),
    "pixel_match": ("experiment=eccnet_asymmetry", lambda tmp: [], ["model=pixel_match", *TINY_ASYM]),
    "eccnet": ("experiment=eccnet_natural", natural, TINY_ECC),
    "eccnet_noecc": ("experiment=eccnet_natural", natural, ["model=eccnet_noecc", *TINY_ECC]),
    "eccnet_noecc_avg": ("experiment=eccnet_natural", natural, ["model=eccnet_noecc_avg", *TINY_ECC]),
    "eccnet_top_only": ("experiment=eccnet_natural", natural, ["model=eccnet_top_only", *TINY_ECC]),
    "ivsn": ("experiment=eccnet_natural", natural, ["model=ivsn", *TINY_ECC]),
    "oat": ("model=oat", search_arrays, TINY_OAT),
    "nevaclip": ("experiment=nevaclip", capmit, TINY_CLIP),
    "neva_opt": ("experiment=neva_opt", mit, ["model.classifier.name=resnet18", "model.n_iter=2", "model.blur_k=9",
                                             "model.n_fixations=3",
                                             "~baselines.saliency_ior", "~baselines.target_similarity"]),
    "neva": ("model=neva", search_arrays, ["model.n_glimpses_eval=3", "~baselines.saliency_ior",
                                           "~baselines.target_similarity"]),
    "humanoid360_baseline": ("experiment=humanoid360_baseline", panoramas, []),
    "humanoid360_clip": ("experiment=humanoid360_clip", panoramas, ["model.model_name=scanpath-tiny-clip"]),
    "humanoid360_grpo": ("experiment=humanoid360_grpo", panoramas, []),
    "humanoid360_vlm": ("experiment=humanoid360_vlm", panoramas, ["model.tiny=true", "model.max_new_tokens=8",
                                                                            "model.resolution=36"]),
}

#: experiment presets that run offline here (the others need user data or weights: listed with the reason)
EXPERIMENT_CASES: dict[str, tuple[Callable[[Path], list[str]], list[str]]] = {
    "eccnet_asymmetry": (lambda tmp: [], ["model=pixel_match", *TINY_ASYM]),  # eccnet itself: the model cases
    "eccnet_natural": (natural, TINY_ECC),
    "eccnet_waldo": (natural, TINY_ECC),
    "nevaclip": (capmit, TINY_CLIP),
    "nevaclip_offline": (capmit, ["model.n_iter=2", "model.blur_k=9", "~baselines.saliency_ior",
                                  "~baselines.target_similarity"]),
    "nevaclip_upstream": (capmit, TINY_CLIP),
    "nevaclip_letterbox": (capmit, TINY_CLIP),
    "nevaclip_control_other_image": (capmit, TINY_CLIP),
    "nevaclip_control_other_observer": (capmit, TINY_CLIP),
    "nevaclip_freeview": (mit, TINY_CLIP),
    "humanoid360_hos": (hstar, ["model.model_name=scanpath-tiny-clip"]),
    "humanoid360_hps": (hstar, ["model.model_name=scanpath-tiny-clip", "data.task=HOS"]),
    "oat_paper": (search_arrays, TINY_OAT),
    "oat_amazon": (lambda tmp: [f"data.root={AMAZON.parent}", f"data.annotations={AMAZON}"], TINY_OAT),
    "oat_amazon_layout": (lambda tmp: [f"data.root={AMAZON.parent}", f"data.annotations={AMAZON}"], TINY_OAT),
    "leaderboard": (search_arrays, ["leaderboard.models=[oat,eccnet,humanoid360_baseline]", "data.include_image=false",
                                    *[o.replace("model.", "+leaderboard.overrides.oat.") for o in TINY_OAT
                                      if o.startswith("model.")],
                                    "~baselines.saliency_ior", "~baselines.target_similarity"]),
}
EXPERIMENT_NOT_OFFLINE = {
    "eccnet_objarr": "needs the user's ObjArr stimuli (cells and snap points of the upstream archive)",
    "nevaclip_neva_opt_cifar10": "needs the user's CIFAR-10 classifier checkpoint (model.classifier.checkpoint)",
    "humanoid360_grpo_toy": "a training preset (its evaluation is humanoid360_grpo's)",
    "neva": "a training preset (its evaluation is model=neva's)",
    "humanoid360_baseline": "covered by the model case", "humanoid360_clip": "covered by the model case",
    "humanoid360_grpo": "covered by the model case", "humanoid360_vlm": "covered by the model case",
    "neva_opt": "covered by the model case",
}


def _register_tiny_clip(tmp_path: Path) -> None:
    """A 1-layer random open_clip config (no weights, no network) for the CLIP head-rotation agent."""
    import open_clip

    cfg = {"embed_dim": 32, "vision_cfg": {"image_size": 224, "layers": 1, "width": 64, "patch_size": 32},
           "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}
    (tmp_path / "scanpath-tiny-clip.json").write_text(json.dumps(cfg))
    open_clip.add_model_config(tmp_path / "scanpath-tiny-clip.json")


def _run(choice: str, data: list[str], extra: list[str], tmp_path: Path, name: str) -> dict:
    base = [choice, *data, *extra, "n_figures=1"]
    if any("scanpath-tiny-clip" in o for o in base):
        _register_tiny_clip(tmp_path)
    cfg = compose_config("evaluate", base, tmp_path / "out")
    cfg = compose_config("evaluate", [*base, *offline_model_overrides(cfg, name)], tmp_path / "out")
    payload = evaluate_script.evaluate(cfg)
    written = json.loads((tmp_path / "out" / "metrics.json").read_text())
    validate_metrics(written)
    assert written == json.loads(json.dumps(payload))
    assert (tmp_path / "out" / "metrics.md").is_file() and "figures/metrics_table.png" in written["figures"]
    for fig in written["figures"]:
        assert (tmp_path / "out" / fig).is_file(), fig
    roles = {r["role"] for r in written["rows"].values()}
    assert "model" in roles, written["rows"].keys()
    return written


def test_every_model_config_has_a_case():
    assert sorted(p.stem for p in (CONF_DIR / "model").glob("*.yaml")) == sorted(MODEL_CASES)


def test_every_experiment_preset_has_a_case_or_a_reason():
    found = sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml"))
    assert found == sorted(set(EXPERIMENT_CASES) | set(EXPERIMENT_NOT_OFFLINE))


@pytest.mark.parametrize("name", sorted(MODEL_CASES))
def test_evaluate_writes_the_schema_for_every_model(name, tmp_path):
    choice, data, extra = MODEL_CASES[name]
    if name == "humanoid360_vlm":
        pytest.importorskip("transformers", reason="the VLM adapter needs the optional transformers package")
    written = _run(choice, data(tmp_path), extra, tmp_path, name)
    assert written["settings"]["protocol"] in {"plain", "oat", "success360", "asymmetry"}


@pytest.mark.parametrize("name", sorted(EXPERIMENT_CASES))
def test_evaluate_writes_the_schema_for_every_experiment(name, tmp_path):
    data, extra = EXPERIMENT_CASES[name]
    if name == "eccnet_asymmetry" and not HUMAN_CSV.is_file():
        pytest.skip(f"the digitised human RT CSV is not available at {HUMAN_CSV}")
    if name.startswith("oat_amazon") and not AMAZON.is_file():
        pytest.skip(f"the shared Amazon data is not available at {AMAZON}")
    written = _run(f"experiment={name}", data(tmp_path), extra, tmp_path, name)
    if name == "leaderboard":
        rows = written["rows"]
        assert written["settings"]["protocol"] == "leaderboard" and written["settings"]["rank_by"] == "ss"
        assert "OAT (greedy) (untrained)" in rows and rows["OAT (greedy) (untrained)"]["untrained"] is True
        assert {"Random", "Center bias"} <= set(rows) and rows["Human"]["role"] == "observer"
        ranked = [r for r in rows.values() if r["role"] in ("model", "baseline")]
        ss = [r["metrics"]["ss"]["value"] for r in ranked]
        assert ss == sorted(ss, reverse=True) and [r["rank"] for r in ranked] == list(range(1, len(ranked) + 1))
        assert any(k.startswith("eccnet") for k in written["skipped"])  # no gt_mask / image here: reason given
        assert any("360" in v for v in written["skipped"].values())
    if name == "eccnet_asymmetry":
        assert written["settings"]["protocol"] == "asymmetry" and "Human" in written["rows"]
        assert set(written["rows"]["pixel_match"]["metrics"]["asymmetry_index"]["values"]) == {"exp2"}


def test_schema_rejects_what_it_promises_to_reject():
    good = {"settings": {}, "rows": {"m": {"role": "model", "n_predictions": 1, "metrics": {
        "ss": {"value": 0.5, "params": {}, "higher_is_better": True, "n": 1, "n_nan": 0}}}},
        "skipped": {}, "figures": []}
    validate_metrics(good)
    for path, bad in ((("rows", "m", "role"), "LOSO"), (("rows", "m", "metrics", "ss", "n"), -1),
                      (("rows", "m", "metrics", "ss", "value"), "high")):
        broken = json.loads(json.dumps(good))
        node = broken
        for k in path[:-1]:
            node = node[k]
        node[path[-1]] = bad
        with pytest.raises(SchemaError, match=".".join(path)):
            validate_metrics(broken)
    del good["rows"]["m"]["metrics"]["ss"]["params"]
    with pytest.raises(SchemaError, match="params"):
        validate_metrics(good)
    assert "MetricValue" in json.dumps(json_schema())


# ---------------------------------------------------------------------------- checkpoint loader
def _center_bias():
    from scanpath.models.baselines import CenterBias

    return CenterBias()


def test_checkpoint_loader_errors_name_the_file(tmp_path):
    model = _center_bias()
    with pytest.raises(FileNotFoundError, match="nope.ckpt"):
        load_weights(model, tmp_path / "nope.ckpt")
    good = tmp_path / "good.ckpt"
    ckpt = {"state_dict": model.state_dict()}
    model.on_save_checkpoint(ckpt)
    torch.save(ckpt, good)
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated.ckpt.*truncated or corrupt"):
        load_weights(model, truncated)
    empty = tmp_path / "empty.ckpt"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty.ckpt.*empty"):
        load_weights(model, empty)
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"\x00not a torch file at all" * 10)
    with pytest.raises(CheckpointError, match="junk.ckpt"):
        load_weights(model, junk)
    load_weights(model, good)  # the round trip works


def test_checkpoint_of_another_model_is_refused_by_name(tmp_path):
    from scanpath.models.baselines import RandomBaseline
    from scanpath.models.oat.module import OATModule

    oat = OATModule(grid=[2, 3], appearance="embedding", d_model=16, n_heads=2, n_encoder_layers=1,
                    n_decoder_layers=1, dim_feedforward=16, pe_steps=5, pe_cache_dir=str(tmp_path / "pe"))
    oat.max_len = 4
    ckpt = {"state_dict": oat.state_dict()}
    oat.on_save_checkpoint(ckpt)
    path = tmp_path / "oat.ckpt"
    torch.save(ckpt, path)
    with pytest.raises(CheckpointError, match=r"oat\.ckpt.*OATModule.*not by .*CenterBias"):
        load_weights(_center_bias(), path)
    # an older file without the class record: refused through its parameter names, file named
    del ckpt["scanpath_model_class"]
    torch.save(ckpt, path)
    with pytest.raises(CheckpointError, match=r"oat\.ckpt.*does not fit .*RandomBaseline"):
        load_weights(RandomBaseline(), path)


def test_checkpoint_loader_never_unpickles_code(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (Path.write_text, (marker, "x"))

    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "payload": Evil()}, path)
    with pytest.raises(CheckpointError, match="evil.ckpt.*could run code"):
        load_weights(_center_bias(), path)
    assert not marker.exists()


def test_evaluate_cli_refuses_a_checkpoint_of_another_model(tmp_path):
    from scanpath.models.baselines import RandomBaseline

    m = RandomBaseline()
    ckpt = {"state_dict": m.state_dict()}
    m.on_save_checkpoint(ckpt)
    torch.save(ckpt, tmp_path / "random.ckpt")
    cfg = compose_config("evaluate", ["model=center_bias", *search_arrays(tmp_path), f"ckpt_path={tmp_path}/random.ckpt"],
                         tmp_path / "out")
    with pytest.raises(CheckpointError, match="random.ckpt.*RandomBaseline"):
        evaluate_script.evaluate(cfg)


# ------------------------------------------------------------------------------ import structure
def test_scanpath_imports_without_datamodules():
    code = (
        "import sys, importlib.abc\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'datamodules' or name.startswith('scanpath.datamodules'):\n"
        "            raise ImportError('datamodules is blocked')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import scanpath, scanpath.evaluation, scanpath.evaluation.protocols.oat, scanpath.evaluation.protocols.asymmetry\n"
        "import scanpath.evaluation.protocols.success360, scanpath.metrics, scanpath.models.oat.module\n"
        "assert not any(m.split('.')[0] == 'datamodules' or m.startswith('scanpath.datamodules') for m in sys.modules)\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=str(REPO_ROOT), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_ground_floor_imports_nothing_above_it():
    """types, errors, batch, io and core import only from the floors below them (read from the source)."""
    import ast

    allowed = {"scanpath.types": {"scanpath.errors"}, "scanpath.errors": set(),
               "scanpath.batch": {"scanpath.types"}}
    pkg = REPO_ROOT / "scanpath"
    higher = ("scanpath.metrics", "scanpath.models", "scanpath.evaluation", "scanpath.envs", "scanpath.stimuli",
              "scanpath.analysis", "scanpath.viz", "scanpath.utils", "scanpath.datamodules", "datamodules")
    files = [pkg / "types.py", pkg / "errors.py", pkg / "batch.py", *(pkg / "io").glob("*.py"), *(pkg / "core").glob("*.py")]
    for f in files:
        mod = "scanpath." + ".".join(f.relative_to(pkg).with_suffix("").parts)
        for node in ast.walk(ast.parse(f.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else [])
            for n in names:
                assert not n.startswith(higher), f"{mod} imports {n}"
                if mod in allowed and n.startswith("scanpath."):
                    assert n in allowed[mod], f"{mod} imports {n}"


def test_no_config_reaches_below_the_entry_points():
    """scanpath/evaluation takes built objects: it never imports hydra nor takes a ``cfg`` argument."""
    import ast

    for f in (REPO_ROOT / "scanpath" / "evaluation").rglob("*.py"):
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                assert not any(m.startswith("hydra") for m in mods), f
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                args = [a.arg for a in node.args.args + node.args.kwonlyargs]
                assert "cfg" not in args, f"{f.name}: {node.name}(cfg, …)"


def test_model_configs_keep_cross_group_keys_out():
    for p in sorted((CONF_DIR / "model").glob("*.yaml")):
        node = OmegaConf.load(p)
        assert "_target_" in node, p.name
        assert not {"runner", "protocol", "metrics", "data", "baselines", "trainer"} & set(node), p.name


def test_rerun_into_the_same_dir_never_mixes_two_runs(tmp_path):
    out = tmp_path / "out"
    base = ["model=center_bias", *search_arrays(tmp_path), "~baselines.saliency_ior", "~baselines.target_similarity",
            "report.n_stimuli=1", "n_figures=1"]
    evaluate_script.evaluate(compose_config("evaluate", base, out))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["completed"] is True and {"metrics.json", "predictions.json", "report.html"} <= {
        f["path"] for f in manifest["files"]}
    (out / ".predictions.json.abc.tmp").write_text("{half")  # an interrupted write's leftover
    # the second run has no baselines: the first run's baseline predictions must not survive next to it
    evaluate_script.evaluate(compose_config("evaluate", ["model=center_bias", *search_arrays(tmp_path), "~baselines",
                                                         "report.n_stimuli=1", "n_figures=0"], out))
    assert not (out / "predictions_random.json").exists() and not list(out.glob("*.tmp"))
    second = json.loads((out / "manifest.json").read_text())
    listed = {f["path"] for f in second["files"]}
    assert "predictions_random.json" not in listed and "metrics.json" in listed
    import hashlib

    for f in second["files"]:
        assert hashlib.sha256((out / f["path"]).read_bytes()).hexdigest() == f["sha256"], f["path"]


@pytest.mark.parametrize("entry,override,key", [
    ("train", "trainer.max_epochs=abc", "trainer.max_epochs"), ("train", "seed=abc", "seed"),
    ("evaluate", "n_figures=-1", "n_figures"), ("train", "+trainer.limit_train_batches=2.5", "trainer.limit_train_batches"),
    ("evaluate", "data.batch_size=0", "data.batch_size")])
def test_mistyped_config_values_fail_up_front_naming_key_and_value(entry, override, key, tmp_path, monkeypatch):
    import train as train_script

    from scanpath.utils.config_checks import ConfigValueError

    built = []
    monkeypatch.setattr("hydra.utils.instantiate", lambda *a, **k: built.append(a) or None)
    cfg = compose_config(entry, ["model=center_bias", override], tmp_path / "out")
    fn = train_script.train if entry == "train" else evaluate_script.evaluate
    with pytest.raises(ConfigValueError, match=rf"{key}=.*expected"):
        fn(cfg)
    assert built == []  # nothing was built before the check


def test_oat_evaluation_path_imports_no_other_model_family(tmp_path):
    """Issue 18 item 3: ``evaluate.py model=oat`` (the whole run, in a fresh interpreter) loads no
    other model family and none of their heavy optional libraries (CLIP, gym, timm, wandb …): each
    is imported where it is used. torch + Lightning (+ the torchmetrics it imports) are the floor."""
    code = (
        "import sys\n"
        "sys.path.insert(0, 'tests')\n"
        "from conftest import compose_config\n"
        "from scanpath.cli.evaluate import evaluate\n"
        f"cfg = compose_config('evaluate', ['model=oat', 'data.num_layouts=20', 'model.d_model=32', 'model.n_heads=2',"
        " 'model.n_encoder_layers=1', 'model.n_decoder_layers=1', 'model.dim_feedforward=32', 'model.pe_steps=20',"
        f" 'protocol.samples=2', 'protocol.baseline_rollouts=2', 'n_figures=1', 'report.n_stimuli=1'], {str(tmp_path)!r})\n"
        "evaluate(cfg)\n"
        "heavy = ['open_clip', 'wandb', 'gymnasium', 'timm', 'tensorboard', 'sklearn', 'pandas', 'optuna', 'submitit']\n"
        "families = ['scanpath.models.neva', 'scanpath.models.eccnet', 'scanpath.models.humanoid360', 'scanpath.envs']\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in heavy or any(m.startswith(f) for f in families))\n"
        "print('loaded:', bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=str(REPO_ROOT), capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == "loaded: []"
    assert (tmp_path / "metrics.json").is_file()
