"""Keras -> torchvision VGG16 converter (docs/eccnet.md §2.1) on small synthetic HDF5 files with the layout of
upstream's ``vgg16_imagenet_filters.h5`` (one group per layer, ``weight_names`` -> ``<layer>/kernel:0``, ``bias:0``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

h5py = pytest.importorskip("h5py", reason="the Keras converter needs h5py (extra `keras`)")

from scanpath.errors import ScanpathDataError  # noqa: E402
from scanpath.models.eccnet.convert_keras import KERAS_VGG16_CONVS, convert_keras_vgg16, main  # noqa: E402


def write_keras_h5(path, rng, wrap_model_weights=False, skip=None, scale=0.01):
    """A Keras-2-style weight file of VGG16's 13 convolutions (random values) plus weightless pool layers."""
    kernels = {}
    with h5py.File(path, "w") as f:
        root = f.create_group("model_weights") if wrap_model_weights else f
        names = []
        for b in range(1, 6):
            for name, _, c_in, c_out in KERAS_VGG16_CONVS:
                if not name.startswith(f"block{b}_"):
                    continue
                names.append(name)
                if name == skip:
                    continue
                g = root.create_group(name)
                k = rng.standard_normal((3, 3, c_in, c_out), dtype=np.float32) * np.float32(scale)
                bias = rng.standard_normal(c_out).astype(np.float32)
                g.attrs["weight_names"] = [f"{name}/kernel:0".encode(), f"{name}/bias:0".encode()]
                g.create_dataset(f"{name}/kernel:0", data=k)
                g.create_dataset(f"{name}/bias:0", data=bias)
                kernels[name] = (k, bias)
            pool = root.create_group(f"block{b}_pool")
            pool.attrs["weight_names"] = []
            names.append(f"block{b}_pool")
        root.attrs["layer_names"] = [n.encode() for n in names]
        root.attrs["backend"] = b"tensorflow"
        root.attrs["keras_version"] = b"2.4.0"
    return kernels


def tf_same_conv(x_hwc: np.ndarray, k: np.ndarray, b: np.ndarray) -> np.ndarray:
    """TF/Keras Conv2D, 3x3, stride 1, padding 'same', channels last (cross-correlation)."""
    H, W, _ = x_hwc.shape
    xp = np.pad(x_hwc, ((1, 1), (1, 1), (0, 0)))
    out = np.zeros((H, W, k.shape[3]), np.float64)
    for dy in range(3):
        for dx in range(3):
            out += xp[dy:dy + H, dx:dx + W, :] @ k[dy, dx].astype(np.float64)
    return out + b


@pytest.mark.parametrize("wrapped", [False, True])
def test_converter_transposes_kernels_and_matches_keras_convolution(tmp_path, wrapped):
    rng = np.random.default_rng(0)
    kernels = write_keras_h5(tmp_path / "w.h5", rng, wrap_model_weights=wrapped)
    sd = convert_keras_vgg16(tmp_path / "w.h5")
    assert len(sd) == 26 and sd["features.0.weight"].shape == (64, 3, 3, 3) and sd["features.28.weight"].shape == (512, 512, 3, 3)
    for name, idx, _, _ in KERAS_VGG16_CONVS:
        k, b = kernels[name]
        np.testing.assert_array_equal(sd[f"features.{idx}.weight"].numpy(), k.transpose(3, 2, 0, 1))
        np.testing.assert_array_equal(sd[f"features.{idx}.bias"].numpy(), b)
    x = rng.standard_normal((7, 9, 3))  # first layer: keras (channels last) vs torch on the converted weights
    ref = tf_same_conv(x, *kernels["block1_conv1"])
    got = F.conv2d(torch.from_numpy(x.transpose(2, 0, 1))[None].double(), sd["features.0.weight"].double(),
                   sd["features.0.bias"].double(), padding=1)[0].numpy().transpose(1, 2, 0)
    np.testing.assert_allclose(got, ref, atol=1e-10)


def test_cli_output_loads_into_eccnet_with_caffe_preprocessing(tmp_path, capsys):
    from scanpath.models.eccnet.torch_model import EccNet, EccNetConfig

    rng = np.random.default_rng(1)
    kernels = write_keras_h5(tmp_path / "vgg16_imagenet_filters.h5", rng)
    out = tmp_path / "vgg16_keras.pt"
    main([str(tmp_path / "vgg16_imagenet_filters.h5"), str(out)])
    assert "model.preprocess=caffe" in capsys.readouterr().out
    sd = torch.load(out, map_location="cpu", weights_only=True)
    net = EccNet(EccNetConfig(preprocess="caffe"), weights_path=out)
    torch.testing.assert_close(net.features[28].weight, torch.from_numpy(kernels["block5_conv3"][0].transpose(3, 2, 0, 1)))
    assert set(sd) == {f"features.{i}.{p}" for _, i, _, _ in KERAS_VGG16_CONVS for p in ("weight", "bias")}
    taps = net.target_taps(net.preprocess(np.full((1, 32, 32, 3), 128, np.uint8)))
    assert [t.shape[1] for t in taps] == [256, 512, 512]


def test_converter_errors_name_file_and_layer(tmp_path):
    rng = np.random.default_rng(2)
    write_keras_h5(tmp_path / "w.h5", rng, skip="block4_conv2")
    with pytest.raises(ScanpathDataError, match="block4_conv2"):
        convert_keras_vgg16(tmp_path / "w.h5")
    (tmp_path / "x.h5").write_text("not hdf5")
    with pytest.raises(ScanpathDataError, match="not an HDF5 file"):
        convert_keras_vgg16(tmp_path / "x.h5")
    with h5py.File(tmp_path / "bad.h5", "w") as f:
        g = f.create_group("block1_conv1")
        g.attrs["weight_names"] = [b"block1_conv1/kernel:0", b"block1_conv1/bias:0"]
        g.create_dataset("block1_conv1/kernel:0", data=np.zeros((3, 3, 3, 32), np.float32))
        g.create_dataset("block1_conv1/bias:0", data=np.zeros(32, np.float32))
    with pytest.raises(ScanpathDataError, match=r"expected \(3, 3, 3, 64\)"):
        convert_keras_vgg16(tmp_path / "bad.h5")
