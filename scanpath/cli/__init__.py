"""The Hydra entry points behind ``train.py`` / ``evaluate.py`` and the ``scanpath-train`` /
``scanpath-evaluate`` console scripts (one ``main`` each, configs from :func:`scanpath.resources.config_dir`)."""
