"""scanpath.core — the foveation/attention core shared by every model family.

Operations (each with a pure-torch reference, tested for parity):

* :func:`foveate` — NeVA blend / blur pyramid around fixations, batched over images x candidates,
  differentiable w.r.t. positions (``foveate_reference`` is the plain single-image version).
* :func:`ecc_avg_pool` — eccNET EccPool in one pass with a float64 summed-area table
  (``impl="reference"``: ring-by-ring, as upstream); :func:`ecc_kernel_map` gives the ring tables;
  :func:`tf_same_max_pool2d` / :func:`tf_same_avg_pool2d` are the plain TF-"same" pools.
* :func:`equirect_to_perspective` — batched gnomonic views with H* (or py360convert) conventions;
  :func:`view_pixel_to_direction` / :func:`direction_to_view_pixel` back-project;
  :class:`EquirectRenderer` is the OpenCV CPU renderer for uint8 HWC panoramas (pad once, render many).
* :func:`great_circle` — orthodromic distance in degrees.
* :func:`ior_mask` — disc, square, box (object) and cell inhibition-of-return masks.

Backends: ``SCANPATH_BACKEND=auto|torch|triton`` (:mod:`scanpath.core.backend`). ``auto`` uses the
torch path, except on CUDA for a Triton kernel (foveate, ecc_avg_pool) that passed its one-time
self-check on that device in this process; ``triton`` forces the kernels (CUDA tensors only).
"""

from .foveation import (
    blur_levels,
    eccentricity_mask,
    foveate,
    foveate_reference,
    gaussian_blur,
    gaussian_kernel1d,
    gaussian_mask,
    grid_coords,
    pyramid_taps,
    update_memory,
    visibility,
)
from .projection import (
    default_vfov,
    direction_to_equirect_pixel,
    direction_to_view_pixel,
    equirect_pixel_to_direction,
    equirect_to_perspective,
    equirect_to_perspective_cv2,
    pad_equirect,
    view_maps,
    view_pixel_to_direction,
)
from .projection_cv2 import EquirectRenderer, pad_equirect_hwc
from .ior import cell_index, ior_mask
from .sphere import great_circle
from .pooling import (
    EccPoolGeometry,
    ecc_avg_pool,
    ecc_kernel_map,
    pad_to_square,
    tf_same_avg_pool2d,
    tf_same_geometry,
    tf_same_max_pool2d,
)

__all__ = [
    "cell_index",
    "great_circle",
    "ior_mask",
    "blur_levels",
    "eccentricity_mask",
    "foveate",
    "foveate_reference",
    "gaussian_blur",
    "gaussian_kernel1d",
    "gaussian_mask",
    "grid_coords",
    "pyramid_taps",
    "update_memory",
    "visibility",
    "EccPoolGeometry",
    "ecc_avg_pool",
    "ecc_kernel_map",
    "pad_to_square",
    "default_vfov",
    "direction_to_equirect_pixel",
    "direction_to_view_pixel",
    "equirect_pixel_to_direction",
    "equirect_to_perspective",
    "equirect_to_perspective_cv2",
    "EquirectRenderer",
    "pad_equirect_hwc",
    "pad_equirect",
    "view_maps",
    "view_pixel_to_direction",
    "tf_same_avg_pool2d",
    "tf_same_geometry",
    "tf_same_max_pool2d",
]
