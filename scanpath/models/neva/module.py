"""Lightning modules for NeVA / NevaClip, one per file; this module re-exports them so the configs'
``_target_: scanpath.models.neva.module.<Class>`` keep working.

* :class:`NevaClipModule` (``model=nevaclip``, :mod:`.module_nevaclip`): zero-shot.
* :class:`NevaOptModule` (``model=neva_opt``, :mod:`.module_neva_opt`): frozen classifier.
* :class:`NevaModule` (``model=neva``, :mod:`.module_neva`): trained attention network.

The math lives in plain torch modules: :mod:`.optimised`, :mod:`.trained`, :mod:`.torch_model`.
"""

from scanpath.models.neva.batching import batch_ids, model_inputs, to_scanpath_batch
from scanpath.models.neva.module_neva import NevaModule
from scanpath.models.neva.module_neva_opt import NevaOptModule
from scanpath.models.neva.module_nevaclip import NevaClipModule
from scanpath.models.neva.module_optimised import OptimisedNevaModule
from scanpath.models.neva.optimised import TARGETS
from scanpath.models.neva.torch_model import grad_enabled

__all__ = [
    "TARGETS",
    "NevaClipModule",
    "NevaModule",
    "NevaOptModule",
    "OptimisedNevaModule",
    "batch_ids",
    "grad_enabled",
    "model_inputs",
    "to_scanpath_batch",
]
