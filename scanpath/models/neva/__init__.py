"""NeVA / NevaClip: foveated, gradient-driven scanpath generation (docs/nevaclip.md).

Plain torch: :mod:`.params` (the settings, once), :mod:`.torch_model` (losses, the fixation search
:class:`~.torch_model.NevaOptimizer`, attention nets), :mod:`.optimised` (NevaClip / NeVA-OPT targets),
:mod:`.trained` (the trained mode), :mod:`.clip_factory` (the CLIP backbone), :mod:`.batching` (batch ↔
tensors). Lightning wrappers: :mod:`.module_nevaclip`, :mod:`.module_neva_opt`, :mod:`.module_neva`
(re-exported by :mod:`.module`, imported lazily by Hydra).
"""
