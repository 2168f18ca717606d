"""LightningDataModules, one per data config; they call scanpath.io and scanpath.stimuli."""

from scanpath.datamodules.base import ScanpathDataModule, collate_samples, split_by_stimulus

__all__ = ["ScanpathDataModule", "collate_samples", "split_by_stimulus"]
