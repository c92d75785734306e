"""Data layer: reading and writing SpERT JSON, built-in datasets, and corpus statistics.

- :mod:`spertmt.data.io`: :func:`read_documents`, :func:`read_types`, :func:`write_documents`
  with validation that names the file, document and field of every problem.
- :mod:`spertmt.data.datasets`: built-in names (``conll04:test``, ``ade:3:train``), the data
  folder (``$SPERTMT_DATA_DIR``) and :func:`download` with checksum verification.
- :mod:`spertmt.data.stats`: per-split statistics behind ``spertmt stats``.
"""

from spertmt.data.datasets import DatasetRef, download, resolve_data_dir, resolve_dataset
from spertmt.data.io import (
    ReadReport,
    RemovedDuplicate,
    SkippedDocument,
    read_documents,
    read_types,
    write_documents,
)
from spertmt.data.stats import DatasetStats, SplitStats, compute_split_stats, dataset_stats

__all__ = [
    "DatasetRef",
    "DatasetStats",
    "ReadReport",
    "RemovedDuplicate",
    "SkippedDocument",
    "SplitStats",
    "compute_split_stats",
    "dataset_stats",
    "download",
    "read_documents",
    "read_types",
    "resolve_data_dir",
    "resolve_dataset",
    "write_documents",
]
