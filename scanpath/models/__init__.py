"""Models: the base class and baselines (``base``, ``baselines``) and one subpackage per family
(``oat``, ``neva``, ``eccnet``, ``humanoid360``), each a plain PyTorch model plus a thin Lightning wrapper."""
