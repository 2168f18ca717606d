"""scanpath.core — the foveation/attention core shared by every model family.

One public function per operation, each with a pure-torch reference; see :mod:`scanpath.core.backend`
for the ``SCANPATH_BACKEND=auto|torch|triton`` dispatcher (``auto`` always uses torch: the Triton kernels
are validated only under the Triton CPU interpreter, never on a GPU).
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
    "pad_equirect",
    "view_maps",
    "view_pixel_to_direction",
    "tf_same_avg_pool2d",
    "tf_same_geometry",
    "tf_same_max_pool2d",
]
