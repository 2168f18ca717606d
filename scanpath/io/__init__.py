"""Readers and writers of real scanpath data formats (validation errors name file, record and field)."""

from scanpath.io.atomic import atomic_open, atomic_write_json, atomic_write_text
from scanpath.errors import ScanpathDataError

__all__ = ["ScanpathDataError", "atomic_open", "atomic_write_json", "atomic_write_text"]
