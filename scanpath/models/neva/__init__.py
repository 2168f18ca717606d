"""NeVA / NevaClip: foveated, gradient-driven scanpath generation (see docs/nevaclip.md).

Plain torch pieces live in :mod:`.torch_model`, coordinate mapping in :mod:`.coords`, the CLIP
factory in :mod:`.clip_factory`, Lightning modules in :mod:`.module` (imported lazily by Hydra).
"""
