"""Convert upstream's Keras VGG16 weights (``vgg16_imagenet_filters.h5``) to a torchvision state_dict.

The published eccNET / IVSN runs used Keras VGG16 weights (docs/eccnet.md §2.1; HuggingFace
shashikg/visual_search_klab). This reads the Keras HDF5 weight file (h5py; extra ``keras``) and writes
the 13 convolutions as ``features.<i>.weight`` / ``features.<i>.bias`` of torchvision's VGG16
``features`` stack, loadable with ``model.weights_path=<out.pt>``:

    python -m scanpath.models.eccnet.convert_keras vgg16_imagenet_filters.h5 vgg16_keras.pt
    python evaluate.py experiment=eccnet_asymmetry model.weights_path=vgg16_keras.pt model.preprocess=caffe

Layout read (Keras 2 ``save_weights`` / ``save``): the root (or its ``model_weights`` group) has one group
per layer, ``block<b>_conv<c>``, whose ``weight_names`` attribute lists ``<layer>/kernel:0`` and
``<layer>/bias:0``; the datasets sit at those paths inside the layer group. Kernels are
(kh, kw, in, out) and become torch's (out, in, kh, kw) by a transpose only: both frameworks compute
cross-correlation, so no spatial flip. The weights expect caffe preprocessing (BGR, per-channel means
103.939 / 116.779 / 123.68 subtracted, 0-255, no scaling): run them with ``model.preprocess=caffe``.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path
from typing import Any

import numpy as np
import torch

from scanpath.errors import ScanpathDataError

#: Keras layer name -> index in torchvision's ``vgg16().features``, with (in, out) channels
KERAS_VGG16_CONVS: tuple[tuple[str, int, int, int], ...] = (
    ("block1_conv1", 0, 3, 64), ("block1_conv2", 2, 64, 64),
    ("block2_conv1", 5, 64, 128), ("block2_conv2", 7, 128, 128),
    ("block3_conv1", 10, 128, 256), ("block3_conv2", 12, 256, 256), ("block3_conv3", 14, 256, 256),
    ("block4_conv1", 17, 256, 512), ("block4_conv2", 19, 512, 512), ("block4_conv3", 21, 512, 512),
    ("block5_conv1", 24, 512, 512), ("block5_conv2", 26, 512, 512), ("block5_conv3", 28, 512, 512),
)


def _require_h5py() -> Any:
    try:
        import h5py
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("converting Keras weights needs h5py: pip install 'scanpath[keras]'") from e
    return h5py


def _layer_arrays(group: Any, name: str, file: Path) -> tuple[np.ndarray, np.ndarray]:
    """(kernel, bias) of one Keras layer group, found through its ``weight_names`` attribute."""
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in group.attrs.get("weight_names", [])]
    if not names:  # no attribute: every dataset under the group
        found: list[str] = []
        group.visititems(lambda k, v: found.append(k) if hasattr(v, "shape") else None)
        names = found
    kernel = next((n for n in names if n.split("/")[-1].startswith("kernel")), None)
    bias = next((n for n in names if n.split("/")[-1].startswith("bias")), None)
    if kernel is None or bias is None:
        raise ScanpathDataError(f"layer has no kernel/bias weights (weight_names {names})", file=file, record=name,
                                field="weight_names")
    try:
        return np.asarray(group[kernel]), np.asarray(group[bias])
    except KeyError as e:
        raise ScanpathDataError(f"weight {e} listed in weight_names is missing", file=file, record=name) from e


def convert_keras_vgg16(path: str | Path) -> dict[str, torch.Tensor]:
    """The 13 VGG16 convolutions of a Keras HDF5 weight file as a torchvision ``features`` state_dict."""
    h5py = _require_h5py()
    path = Path(path)
    if not path.is_file():
        raise ScanpathDataError("Keras weight file not found", file=path)
    out: dict[str, torch.Tensor] = {}
    try:
        fh = h5py.File(path, "r")
    except OSError as e:
        raise ScanpathDataError(f"not an HDF5 file: {e}", file=path) from e
    with fh:
        root = fh["model_weights"] if "model_weights" in fh else fh
        for name, idx, c_in, c_out in KERAS_VGG16_CONVS:
            if name not in root:
                raise ScanpathDataError(f"layer group {name!r} missing (a Keras VGG16 file has block1_conv1 ... "
                                        "block5_conv3)", file=path, record=name)
            k, b = _layer_arrays(root[name], name, path)
            if k.shape != (3, 3, c_in, c_out) or b.shape != (c_out,):
                raise ScanpathDataError(f"kernel {k.shape} / bias {b.shape}, expected (3, 3, {c_in}, {c_out}) / "
                                        f"({c_out},)", file=path, record=name, field="kernel")
            out[f"features.{idx}.weight"] = torch.from_numpy(np.ascontiguousarray(k.transpose(3, 2, 0, 1), np.float32))
            out[f"features.{idx}.bias"] = torch.from_numpy(np.ascontiguousarray(b, np.float32))
    return out


def save_state_dict(state_dict: dict[str, torch.Tensor], out: str | Path) -> None:
    """Atomic ``torch.save`` (loadable with ``torch.load(weights_only=True)``)."""
    from scanpath.io.atomic import atomic_write_bytes

    buf = io.BytesIO()
    torch.save(state_dict, buf)
    atomic_write_bytes(out, buf.getvalue())


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("h5", help="Keras weight file, e.g. vgg16_imagenet_filters.h5")
    ap.add_argument("out", help="output state_dict (.pt)")
    args = ap.parse_args(argv)
    sd = convert_keras_vgg16(args.h5)
    save_state_dict(sd, args.out)
    print(f"wrote {len(sd)} tensors to {args.out}; run with model.weights_path={args.out} model.preprocess=caffe "
          "(Keras/caffe weights expect BGR input with the ImageNet means subtracted)")


if __name__ == "__main__":
    main()
