"""Built-in benchmark names (CoNLL04, SciERC, ADE), the data folder, and downloads.

A *dataset spec* is a built-in name or a file path; it works wherever data is asked for:

=======================  ===============================================================
``conll04``              the train, dev and test splits (``scierc`` likewise)
``conll04:train``        one split: ``train``, ``dev``, ``test`` or ``train_dev``
``ade``                  ``ade_full.json``, all 4272 sentences (also ``ade:full``)
``ade:3``                fold 3 of the 10-fold cross-validation: its train and test split
``ade:3:test``           one split of one fold
``path/to/file.json``    a SpERT JSON or JSON Lines file
=======================  ===============================================================

Files keep SpERT's own names inside one folder per dataset, e.g.
``DATA_DIR/conll04/conll04_train.json`` and ``DATA_DIR/ade/ade_split_3_test.json``, so the
folders that SpERT's ``fetch_datasets.sh`` creates work as they are. ``DATA_DIR`` is the
``data_dir`` argument, else ``$SPERTMT_DATA_DIR``, else ``~/.cache/spertmt/datasets``.

Error codes: E120 unknown dataset name, E121 dataset files missing, E122 no (or no single)
types file for a data file, E123 a spec with several splits where one file is needed, E124
download server unreachable, E125 checksum mismatch, E126 HTTP error, E127 data folder not
writable.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import socket
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from difflib import get_close_matches
from pathlib import Path
from types import MappingProxyType

from spertmt.data.io import sha256_file, share_like_a_new_file
from spertmt.errors import DataError

__all__ = [
    "ADE_FOLDS",
    "CHECKSUMS",
    "DATASET_NAMES",
    "DEFAULT_BASE_URL",
    "DatasetRef",
    "DownloadResult",
    "ENV_DATA_DIR",
    "default_data_dir",
    "download",
    "known_dataset_specs",
    "resolve_data_dir",
    "resolve_dataset",
]

ENV_DATA_DIR = "SPERTMT_DATA_DIR"
"""Environment variable naming the folder of the built-in datasets."""

DEFAULT_BASE_URL = "http://lavis.cs.hs-rm.de/storage/spert/public/datasets"
"""Where SpERT's ``scripts/fetch_datasets.sh`` downloads the preprocessed files from."""

DATASET_NAMES = ("conll04", "scierc", "ade")
"""The built-in datasets."""

ADE_FOLDS = 10
"""ADE is evaluated by 10-fold cross-validation (folds 0 to 9)."""

_SPLITS = ("train", "dev", "test", "train_dev")
_DEFAULT_SPLITS = ("train", "dev", "test")

# SHA-256 of SpERT's published files, in `sha256sum` format (shared/data/SHA256SUMS).
_SHA256SUMS = """\
5bc2355bcb3fa326d0749af0368e7b428b44a63fb8a1fb76ffeef14825e51384  ade/ade_full.json
6d6a3584d3876a35854ef703f7a7059363599ad7ed3ab9c3e6e449ae8a252e9a  ade/ade_split_0_test.json
6624ac4d015c75f551aa15a43bd05e268082d98297d18269662737f7df358365  ade/ade_split_0_train.json
532fa740c11466c54d06dfe4e2989bd800c046cb31c409f074b7b3d49cf99b23  ade/ade_split_1_test.json
811befd6d23d2aeb7cff3469d4b22d0c58fa61557b03257986ea1559042d42fe  ade/ade_split_1_train.json
69c4844907809f4e76516d7e9b7f8f2fa5eab2bdf27ee0dc02bdb367e673f994  ade/ade_split_2_test.json
c13ff04545537879e1d2fa41ed25c4e5831bbd75d2c07a4d7c0e60d2691b5b25  ade/ade_split_2_train.json
07e188e39118bd9644d4bb74ad841099853a5dfbecb035e5af2dc83a7d927495  ade/ade_split_3_test.json
1d65b2aab0da37d3125cb0a90f6c66ad05af4ebb6f4685c4ede242cfb587cb1e  ade/ade_split_3_train.json
937eff5f8982fff83655872fcf150876145e75a381dcedfc45e2411f47146edc  ade/ade_split_4_test.json
de8cdb999563697d330d97b9ac95a5ae1c83106eb812f25b12d807c6628f28a4  ade/ade_split_4_train.json
d01d706574d4921304d3b53a0b013fbe41d2f97439245cf768c503df1e70a9f3  ade/ade_split_5_test.json
474668717b0fbcb4cf6fda984b8897b2e66f2550c9a052187c6ece012960a6cf  ade/ade_split_5_train.json
3e35e7278060f16103665a47db1480e305346f255872ced202617c6d8025bb01  ade/ade_split_6_test.json
c3e41dea7c11c34da7f32be45ced3a162fff30abeb0939698937fe7a83446dca  ade/ade_split_6_train.json
6c4f25fffd1ce4fb1bf67bc54713b44f6e1abb9ca744d06a38ed88731a8d1371  ade/ade_split_7_test.json
3839c5f7cfd5c9e260a3a60a9c79f6ed54d21d66288413c8a2c2d8e985e9081c  ade/ade_split_7_train.json
69fb620cc4f9fe4d35533dba74b7234ebb2c2e69a988a8945219563ad12feb3c  ade/ade_split_8_test.json
9c5c698bb7d5a72e11685a63de4a6b525e073eede445eaae0d44ce42166fffcc  ade/ade_split_8_train.json
a02776d17963ada8aad5e1d4370e96d2478a8e44fd0944274ac0c44f4499b0ed  ade/ade_split_9_test.json
e863f0b8a717364fd553e55e041ea89e2a52d116e5b047cbaa1882410ab0813f  ade/ade_split_9_train.json
3675aea50f600cb61d4e55ffa2e376ac64385a3d8a6e8f54c27e07ab44f46919  ade/ade_types.json
3965a5110a79671fb74a78c0fd0113c4da6583c3833bd418c1ca414bb491e010  conll04/conll04_dev.json
347f45cf181b5641d2373248a1af0592954415234f72536835dde1df1b504556  conll04/conll04_test.json
65c52d5b6134c72c44277c74c5ecb354bf33aa352fc7b856edf6bda0bb436eea  conll04/conll04_train.json
1eae483f3206145159d06099964ebd421b5a9c46ea1d838fc3faf0ba1baeafa1  conll04/conll04_train_dev.json
9244d21d2640430f03eda97f59ce3e0a28a766964b1c04683c80656b5e505ad8  conll04/conll04_types.json
77506c1a9d9e6a3f596fdce937a1d80679c24df75a8b7cb836737c2a43ff0ec0  scierc/scierc_dev.json
ecc88eca58a88cf2087aaa996dada9edad433c3c2f3f8f5be93625b098c20703  scierc/scierc_test.json
40879beb794a2d947c60f4e7e936c269b5f35ce516e9e155cbff1feea0c3e8da  scierc/scierc_train.json
b559f38de2d7918ae08c3c5db4b8cf352bc936c44168d7f83aca2cfd14245b23  scierc/scierc_train_dev.json
c092a29d28cc0186b5846c1c56e844e3cb07c6f5196c2efdf432888119434a85  scierc/scierc_types.json
"""

CHECKSUMS: Mapping[str, str] = MappingProxyType(
    {rel: digest for digest, rel in (line.split() for line in _SHA256SUMS.splitlines())}
)
"""SHA-256 of every published file, by path relative to the data folder."""

# What reading from a server can raise; any other OSError is a problem writing the file.
_NETWORK_ERRORS = (
    urllib.error.URLError,
    http.client.HTTPException,
    ConnectionError,
    TimeoutError,
    socket.gaierror,
)

_ADE_SPEC = re.compile(r"ade:(\d+)(?::(train|test))?")


# ----------------------------------------------------------------------------- data folder


def default_data_dir() -> Path:
    """Return the folder used when neither ``data_dir`` nor ``$SPERTMT_DATA_DIR`` is set."""
    return Path.home() / ".cache" / "spertmt" / "datasets"


def resolve_data_dir(data_dir: str | Path | None = None) -> Path:
    """Return the folder of the built-in datasets.

    Args:
        data_dir: An explicit folder; wins over everything else.

    Returns:
        ``data_dir``, else ``$SPERTMT_DATA_DIR``, else ``~/.cache/spertmt/datasets``
        (``~`` expanded; the folder need not exist).

    Example:
        >>> resolve_data_dir("/data/spert")
        PosixPath('/data/spert')

    """
    if data_dir is not None and str(data_dir):
        return Path(data_dir).expanduser()
    env = os.environ.get(ENV_DATA_DIR)
    if env:
        return Path(env).expanduser()
    return default_data_dir()


def _data_dir_origin(data_dir: str | Path | None) -> str:
    if data_dir is not None and str(data_dir):
        return "--data-dir"
    if os.environ.get(ENV_DATA_DIR):
        return f"${ENV_DATA_DIR}"
    return "the default folder"


# -------------------------------------------------------------------------------- specs


@dataclass(frozen=True)
class DatasetRef:
    """The files behind a dataset spec.

    Attributes:
        spec: The spec as given (``conll04:test``, ``ade:3``, or a path).
        dataset: ``conll04``, ``scierc`` or ``ade``; ``None`` for a file path.
        splits: ``(split name, file)`` pairs in a fixed order (train, dev, test). For a file
            path the single split is named after the file.
        types: The types file, or ``None`` if a file path has no unique ``*_types.json``
            beside it and none was given (see :meth:`require_types`).
        types_candidates: The ``*_types.json`` files found beside a file path.

    """

    spec: str
    dataset: str | None
    splits: tuple[tuple[str, Path], ...]
    types: Path | None
    types_candidates: tuple[Path, ...] = ()

    @property
    def split_paths(self) -> dict[str, Path]:
        """The splits as a ``{name: file}`` dictionary."""
        return dict(self.splits)

    @property
    def path(self) -> Path:
        """The one file of a single-split spec.

        Raises:
            DataError: E123 if the spec names several splits.

        """
        if len(self.splits) != 1:
            options = ", ".join(f"{self.spec}:{name}" for name, _ in self.splits)
            names = ", ".join(name for name, _ in self.splits)
            raise DataError(
                f"dataset {self.spec!r} has several splits ({names}); name one, e.g. {options}",
                code="E123",
            )
        return self.splits[0][1]

    def require_types(self) -> Path:
        """Return the types file or explain how to give one.

        Raises:
            DataError: E122 if no single types file is known.

        """
        if self.types is not None:
            return self.types
        folder = self.splits[0][1].parent
        if self.types_candidates:
            found = ", ".join(p.name for p in self.types_candidates)
            problem = f"several types files beside it in {folder} ({found})"
        else:
            problem = f"no *_types.json file beside it in {folder}"
        raise DataError(
            f"cannot tell the types: {problem}; pass --types FILE (types=... in Python)",
            code="E122",
            file=self.splits[0][1],
        )


def known_dataset_specs() -> list[str]:
    """All built-in dataset specs, e.g. ``conll04``, ``conll04:train``, ``ade:3:test``."""
    specs: list[str] = []
    for name in ("conll04", "scierc"):
        specs.append(name)
        specs.extend(f"{name}:{split}" for split in _SPLITS)
    specs.extend(["ade", "ade:full"])
    for fold in range(ADE_FOLDS):
        specs.append(f"ade:{fold}")
        specs.extend(f"ade:{fold}:{split}" for split in ("train", "test"))
    return specs


def _dataset_files(spec: str) -> tuple[str, list[tuple[str, str]]] | None:
    """``(dataset, [(split, relative path)])`` for a built-in spec, else ``None``."""
    parts = spec.split(":")
    name = parts[0]
    if name in ("conll04", "scierc"):
        if len(parts) == 1:
            splits = list(_DEFAULT_SPLITS)
        elif len(parts) == 2 and parts[1] in _SPLITS:
            splits = [parts[1]]
        else:
            return None
        return name, [(s, f"{name}/{name}_{s}.json") for s in splits]
    if spec in ("ade", "ade:full"):
        return "ade", [("full", "ade/ade_full.json")]
    match = _ADE_SPEC.fullmatch(spec)
    if match and int(match.group(1)) < ADE_FOLDS and str(int(match.group(1))) == match.group(1):
        fold = int(match.group(1))
        splits = [match.group(2)] if match.group(2) else ["train", "test"]
        return "ade", [(s, f"ade/ade_split_{fold}_{s}.json") for s in splits]
    return None


def _either(options: list[str]) -> str:
    quoted = [repr(o) for o in options]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"


def _looks_like_path(spec: str) -> bool:
    return (
        "/" in spec
        or os.sep in spec
        or spec.lower().endswith((".json", ".jsonl", ".ndjson"))
        or Path(spec).expanduser().exists()
    )


def resolve_dataset(
    name_or_path: str | Path,
    *,
    data_dir: str | Path | None = None,
    types: str | Path | None = None,
) -> DatasetRef:
    """Find the files of a built-in dataset spec or a data file.

    Args:
        name_or_path: A built-in spec (``conll04``, ``conll04:test``, ``ade``, ``ade:3``,
            ``ade:3:train``; see the module docs) or the path of a SpERT JSON/JSONL file.
        data_dir: Folder of the built-in datasets; default ``$SPERTMT_DATA_DIR`` or
            ``~/.cache/spertmt/datasets``.
        types: An explicit types file; else the dataset's own, or for a file path the one
            ``*_types.json`` in the same folder (``None`` when there is no single one).

    Returns:
        The split files and the types file; all exist.

    Raises:
        DataError: E120 for an unknown name (with a suggestion), E121 if a built-in
            dataset's files are missing, E101 if a given file or types file is missing.

    Example:
        >>> ref = resolve_dataset("conll04:test", data_dir="shared/data")  # doctest: +SKIP
        >>> ref.path.name, ref.types.name                                  # doctest: +SKIP
        ('conll04_test.json', 'conll04_types.json')

    """
    spec = str(name_or_path).strip()
    explicit_types = Path(types).expanduser() if types is not None else None
    if explicit_types is not None and not explicit_types.is_file():
        raise DataError(
            "types file not found; check the --types path", code="E101", file=explicit_types
        )

    builtin = None if isinstance(name_or_path, Path) else _dataset_files(spec.lower())
    if builtin is not None:
        dataset, files = builtin
        folder = resolve_data_dir(data_dir)
        types_rel = f"{dataset}/{dataset}_types.json"
        wanted = [rel for _, rel in files]
        if explicit_types is None:
            wanted.append(types_rel)
        missing = [rel for rel in wanted if not (folder / rel).is_file()]
        if missing:
            raise DataError(
                f"dataset {spec!r} is not in {folder} (from {_data_dir_origin(data_dir)}): "
                f"missing {', '.join(missing)}. Run `spertmt download {dataset}`, or pass "
                f"--data-dir DIR (or set {ENV_DATA_DIR}) for a folder that holds {dataset}/",
                code="E121",
            )
        return DatasetRef(
            spec=spec.lower(),
            dataset=dataset,
            splits=tuple((split, folder / rel) for split, rel in files),
            types=explicit_types or folder / types_rel,
        )

    if not _looks_like_path(spec):
        known = known_dataset_specs()
        close = get_close_matches(spec.lower(), known, n=3, cutoff=0.6)
        hint = f"; did you mean {_either(close)}?" if close else "."
        raise DataError(
            f"unknown dataset {spec!r}{hint} Known datasets: conll04, scierc and ade, with "
            "splits like conll04:test, scierc:train_dev, ade:3:train; or give a file path",
            code="E120",
        )

    path = Path(spec).expanduser()
    if path.is_dir():
        raise DataError(
            "is a folder; give a data file, or a dataset name with --data-dir for a folder of "
            "datasets",
            code="E101",
            file=path,
        )
    if not path.is_file():
        raise DataError(
            "data file not found; check the path (or use a dataset name such as conll04:test)",
            code="E101",
            file=path,
        )
    candidates: tuple[Path, ...] = ()
    found_types = explicit_types
    if found_types is None:
        candidates = tuple(sorted(p for p in path.parent.glob("*_types.json") if p != path))
        if len(candidates) == 1:
            found_types = candidates[0]
    return DatasetRef(
        spec=spec,
        dataset=None,
        splits=((path.name, path),),
        types=found_types,
        types_candidates=candidates,
    )


# ----------------------------------------------------------------------------- download


@dataclass(frozen=True)
class DownloadResult:
    """What :func:`download` did.

    Attributes:
        data_dir: The data folder.
        downloaded: Files fetched and verified.
        present: Files that were already there with the right checksum.

    """

    data_dir: Path
    downloaded: tuple[Path, ...]
    present: tuple[Path, ...]


def download(
    name: str,
    *,
    data_dir: str | Path | None = None,
    base_url: str = DEFAULT_BASE_URL,
    timeout: float = 5.0,
    force: bool = False,
    on_file: Callable[[str], None] | None = None,
) -> DownloadResult:
    """Download SpERT's published files of a dataset and verify their SHA-256.

    Files already present with the right checksum are kept. Each file is written to a
    temporary name beside its destination, checked against the checksum built into
    spertmt, and only then moved into place, so the data folder never holds a partial or
    altered file.

    Args:
        name: ``conll04``, ``scierc``, ``ade`` or ``all`` (a spec such as ``ade:3`` downloads
            its whole dataset).
        data_dir: Destination folder; default ``$SPERTMT_DATA_DIR`` or
            ``~/.cache/spertmt/datasets``.
        base_url: Server folder holding ``conll04/``, ``scierc/`` and ``ade/``.
        timeout: Seconds to wait for the server to resolve, connect or send data.
        force: Download even files that are present and verified.
        on_file: Called with each relative path before it is downloaded (progress output).

    Returns:
        The data folder and which files were downloaded or already present.

    Raises:
        DataError: E120 for an unknown name, E124 if the server cannot be reached, E126 for
            an HTTP error, E125 if a file's checksum is wrong, E127 if the folder is not
            writable.

    Example:
        >>> download("conll04")                   # doctest: +SKIP
        DownloadResult(data_dir=PosixPath('/home/me/.cache/spertmt/datasets'), ...)

    """
    key = name.strip().lower()
    base = key.split(":")[0]
    if key == "all":
        datasets = list(DATASET_NAMES)
    elif base in DATASET_NAMES and (key == base or _dataset_files(key) is not None):
        datasets = [base]
    else:
        close = get_close_matches(key, [*DATASET_NAMES, "all"], n=1)
        hint = f"; did you mean {close[0]!r}?" if close else "."
        raise DataError(
            f"unknown dataset {name!r}{hint} Downloadable: conll04, scierc, ade, all",
            code="E120",
        )
    folder = resolve_data_dir(data_dir)
    files = [rel for rel in sorted(CHECKSUMS) if rel.split("/")[0] in datasets]
    present = []
    pending = []
    for rel in files:
        target = folder / rel
        if not force and target.is_file() and sha256_file(target) == CHECKSUMS[rel]:
            present.append(target)
        else:
            pending.append(rel)
    downloaded = []
    if pending:
        _check_host(base_url, timeout, folder)
        for rel in pending:
            if on_file is not None:
                on_file(rel)
            downloaded.append(_fetch(base_url, rel, folder, timeout))
    return DownloadResult(folder, tuple(downloaded), tuple(present))


def _offline_hint(folder: Path) -> str:
    return (
        f"download the files elsewhere (SpERT's scripts/fetch_datasets.sh) and pass "
        f"--data-dir DIR or set {ENV_DATA_DIR} to a folder holding conll04/, scierc/ or ade/ "
        f"(the download was to go to {folder})"
    )


def _check_host(base_url: str, timeout: float, folder: Path) -> None:
    """Fail within ``timeout`` if the server's host name does not resolve.

    ``urlopen``'s timeout covers connecting and reading, not the DNS lookup, which can
    hang for much longer on a machine without network; resolve it first on a helper
    thread that we stop waiting for.
    """
    parsed = urllib.parse.urlsplit(base_url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise DataError(f"base URL {base_url!r} is not an http(s) URL", code="E124")
    host = parsed.hostname
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    outcome: list[BaseException | None] = []

    def resolve() -> None:
        try:
            socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            outcome.append(None)
        except OSError as error:
            outcome.append(error)

    worker = threading.Thread(target=resolve, name="spertmt-dns", daemon=True)
    worker.start()
    worker.join(timeout)
    if not outcome:
        reason: object = f"no answer for host {host!r} within {timeout:g} s"
    elif outcome[0] is not None:
        reason = outcome[0]
    else:
        return
    raise DataError(f"cannot reach {base_url} ({reason}); {_offline_hint(folder)}", code="E124")


def _fetch(base_url: str, rel: str, folder: Path, timeout: float) -> Path:
    url = f"{base_url.rstrip('/')}/{rel}"
    target = folder / rel
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle = tempfile.NamedTemporaryFile(
            dir=target.parent, prefix=f".{target.name}.", suffix=".part", delete=False
        )
    except OSError as error:
        raise DataError(
            f"cannot write into the data folder: {error.strerror or error}; pass --data-dir "
            "DIR for a writable folder",
            code="E127",
            file=target.parent,
        ) from None
    tmp = Path(handle.name)
    digest = hashlib.sha256()
    try:
        with handle:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
                    while chunk := response.read(1 << 16):
                        digest.update(chunk)
                        handle.write(chunk)
            except urllib.error.HTTPError as error:
                raise DataError(
                    f"the server answered {error.code} {error.reason} for {url}; check "
                    f"--base-url, or {_offline_hint(folder)}",
                    code="E126",
                ) from None
            except _NETWORK_ERRORS as error:
                reason = getattr(error, "reason", error)
                raise DataError(
                    f"cannot reach {url} ({reason}); {_offline_hint(folder)}", code="E124"
                ) from None
        actual = digest.hexdigest()
        if actual != CHECKSUMS[rel]:
            raise DataError(
                f"checksum mismatch for {url}: SHA-256 {actual}, expected {CHECKSUMS[rel]}; the "
                "file was not saved. The server's copy is not the published one: retry later, "
                f"or {_offline_hint(folder)}",
                code="E125",
                file=target,
            )
        share_like_a_new_file(tmp)
        os.replace(tmp, target)
    except OSError as error:
        raise DataError(
            f"cannot write into the data folder: {error.strerror or error}; pass --data-dir "
            "DIR for a writable folder",
            code="E127",
            file=target,
        ) from None
    finally:
        tmp.unlink(missing_ok=True)
    return target
