"""The data of a run: its type schema and splits, resolved and read once, and their fingerprint.

:func:`load_run_data` turns the ``[data]`` section of a configuration (dataset names such as
``conll04:train`` or file paths) into a :class:`RunData`. Its :meth:`RunData.fingerprint`
(SHA-256 of every file) is recorded with each checkpoint, so a resume notices edited data.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from spertmt.config import DataConfig
from spertmt.errors import ConfigError
from spertmt.schema import Document, TypeSchema

SPLITS = ("train", "dev", "test")
"""The roles of a run's data files, besides its types file."""


@dataclass(frozen=True)
class DataSplit:
    """One split of a run's data.

    Attributes:
        source: As configured: a dataset name (``conll04:dev``) or a file path.
        path: The file it resolved to.
        documents: The documents read from it.
        summary: One line on what reading kept, skipped and de-duplicated.

    """

    source: str
    path: Path
    documents: list[Document] = field(repr=False)
    summary: str = ""


@dataclass(frozen=True)
class RunData:
    """The data of a run, resolved and read once.

    Attributes:
        types: The type schema.
        types_path: The types file it came from.
        train: Training split.
        dev: Dev split, or ``None``.
        test: Test split, or ``None``.

    """

    types: TypeSchema
    types_path: Path
    train: DataSplit
    dev: DataSplit | None
    test: DataSplit | None

    def splits(self) -> dict[str, DataSplit]:
        """The splits present, keyed by role (``train``, then ``dev`` and ``test``)."""
        found = {role: getattr(self, role) for role in SPLITS}
        return {role: split for role, split in found.items() if split is not None}

    def summaries(self) -> dict[str, str]:
        """What reading each split kept and skipped, keyed by role."""
        return {role: split.summary for role, split in self.splits().items()}

    def fingerprint(self) -> dict[str, dict[str, str]]:
        """SHA-256 of every data file, keyed by role (recorded in ``training.json``)."""
        entries = {"types": (str(self.types_path), self.types_path)}
        for role, split in self.splits().items():
            entries[role] = (split.source, split.path)
        return {
            role: {"source": source, "file": str(path), "sha256": sha256(path)}
            for role, (source, path) in entries.items()
        }


def sha256(path: Path) -> str:
    """Return the SHA-256 of a file as hex, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_run_data(config: DataConfig) -> RunData:
    """Resolve and read the training, dev and test data of a configuration.

    Args:
        config: The ``[data]`` section: dataset names (``conll04:train``, ``ade:0:test``) or
            files; ``types`` (else the dataset's own types file), ``data_dir``,
            ``skip_invalid`` and ``max_documents`` (first N training documents).

    Returns:
        The resolved data.

    Raises:
        ConfigError: If no types file can be found for file inputs (key ``data.types``).
        DataError: For unknown datasets, missing files or invalid documents.

    """
    from spertmt.data.datasets import resolve_dataset
    from spertmt.data.io import ReadReport, read_documents, read_types

    resolved = {
        role: resolve_dataset(spec, data_dir=config.data_dir)
        for role, spec in (("train", config.train), ("dev", config.dev), ("test", config.test))
        if spec is not None
    }
    if config.types is not None:
        types_path = Path(config.types)
    elif resolved["train"].types is not None:
        types_path = Path(resolved["train"].types)
    else:
        raise ConfigError(
            f"data.train={config.train!r} is a file with no known types file; set data.types "
            "to its SpERT types JSON",
            code="E208",
            key="data.types",
        )
    types = read_types(types_path)

    def read(role: str) -> DataSplit | None:
        if role not in resolved:
            return None
        path = Path(resolved[role].path)
        report = ReadReport()
        docs = read_documents(path, types=types, skip_invalid=config.skip_invalid, report=report)
        summary = report.summary()
        if role == "train" and config.max_documents is not None:
            docs = docs[: config.max_documents]
            summary += f"; training on the first {len(docs)} (data.max_documents)"
        return DataSplit(getattr(config, role), path, docs, summary)

    train_split = read("train")
    assert train_split is not None  # data.train is a required str
    if not train_split.documents:
        raise ConfigError(
            f"{train_split.path} holds no training documents", code="E208", key="data.train"
        )
    return RunData(types, types_path, train_split, read("dev"), read("test"))
