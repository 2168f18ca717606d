"""Safe weight files (scanpath.utils.checkpoint_io): weights_only loads, errors naming the file."""

from __future__ import annotations

import pytest
import torch

from scanpath.errors import ScanpathDataError
from scanpath.utils.checkpoint_io import load_state_dict_file, load_weights_into


class _WritesAFile:
    """Unpickling this runs ``exec``, which writes ``marker``: what a crafted 'checkpoint' can do."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('pwned')",))


@pytest.fixture
def crafted(tmp_path):
    marker = tmp_path / "written_by_unpickling.txt"
    path = tmp_path / "classifier.pt"
    torch.save(_WritesAFile(str(marker)), path)
    # the threat is real: an unsafe load of this file writes the marker
    torch.load(path, weights_only=False)
    assert marker.read_text() == "pwned"
    marker.unlink()
    return path, marker


def test_crafted_pickle_is_refused_and_runs_nothing(crafted):
    path, marker = crafted
    with pytest.raises(ScanpathDataError, match="could run code") as e:
        load_state_dict_file(path, what="model.classifier_ckpt")
    assert str(path) in str(e.value) and "model.classifier_ckpt" in str(e.value)
    assert not marker.exists()


def test_missing_empty_truncated_and_not_a_state_dict(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        load_state_dict_file(tmp_path / "nope.pt", what="weights")
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    with pytest.raises(ScanpathDataError, match="empty") as e:
        load_state_dict_file(empty, what="weights")
    assert e.value.file == str(empty)
    good = tmp_path / "good.pt"
    torch.save({"w": torch.ones(3)}, good)
    cut = tmp_path / "cut.pt"
    cut.write_bytes(good.read_bytes()[:40])
    with pytest.raises(ScanpathDataError, match="truncated or corrupt") as e:
        load_state_dict_file(cut, what="weights")
    assert e.value.file == str(cut)
    rand = tmp_path / "random.pt"
    rand.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ScanpathDataError) as e:
        load_state_dict_file(rand, what="weights")
    assert e.value.file == str(rand)
    for i, obj in enumerate(([torch.ones(2)], {"w": [1, 2]}, {}, {"state_dict": 3})):
        p = tmp_path / f"odd{i}.pt"
        torch.save(obj, p)
        with pytest.raises(ScanpathDataError, match="not a state dict") as e:
            load_state_dict_file(p, what="weights")
        assert e.value.file == str(p)
    with pytest.raises(ScanpathDataError, match="not a file"):
        load_state_dict_file(tmp_path, what="weights")


def test_state_dict_and_lightning_checkpoint_load(tmp_path):
    net = torch.nn.Linear(3, 2)
    bare, ckpt = tmp_path / "bare.pt", tmp_path / "model.ckpt"
    torch.save(net.state_dict(), bare)
    torch.save({"state_dict": {f"net.head.{k}": v for k, v in net.state_dict().items()}, "epoch": 3,
                "hyper_parameters": {"lr": 0.1}}, ckpt)
    assert set(load_state_dict_file(bare, what="w")) == {"weight", "bias"}
    assert set(load_state_dict_file(ckpt, what="w")) == {"net.head.weight", "net.head.bias"}
    for path, prefix in ((bare, None), (ckpt, "net.head.")):
        other = load_weights_into(torch.nn.Linear(3, 2), path, what="w", prefix=prefix)
        assert torch.equal(other.weight, net.weight) and torch.equal(other.bias, net.bias)
    with pytest.raises(ScanpathDataError, match="does not fit Linear") as e:
        load_weights_into(torch.nn.Linear(4, 2), bare, what="w")  # same keys, other shapes
    assert e.value.file == str(bare)
    with pytest.raises(ScanpathDataError, match="missing") as e:
        load_weights_into(torch.nn.Conv2d(3, 2, 1, bias=False), ckpt, what="w")  # another model's checkpoint
    assert e.value.file == str(ckpt)

