"""Checkpoints: a self-describing folder of JSON and safetensors files, never a pickle.

Layout of a checkpoint folder::

    config.json            format_version, library versions, ModelConfig (``model``), the
                           decision rule (``decision``), the types as
                           ordered lists (their order fixes the class indices), encoder
                           name and its Hugging Face config (sorted, indented JSON)
    model.safetensors      every weight, the encoder's included
    tokenizer/             the fast tokenizer (``save_pretrained``)
    types.json             the type schema as a SpERT types file
    training.json          optional: resolved run config, seed, data hashes, final metrics
    optimizer.safetensors  resume only: optimizer state tensors and torch RNG states
    trainer_state.json     resume only: epoch, step, scheduler state, param-group settings,
                           Python and NumPy RNG states

The model is rebuilt from ``config.json`` alone (a randomly initialised encoder of the saved
architecture, no network access) and the weights are loaded strictly: a missing or unexpected
weight is an error that names it. Nothing in the folder needs ``torch.load``.

Writes are atomic: the folder is built under a temporary sibling name and renamed into place,
so an interrupted save leaves the previous checkpoint intact.

Example:
    >>> save_checkpoint("runs/demo/model", model, tokenizer, types=types,
    ...                 model_config=model.config, rule=DecisionRule())  # doctest: +SKIP
    >>> checkpoint = load_checkpoint("runs/demo/model")                  # doctest: +SKIP
    >>> checkpoint.rule.relation_threshold                               # doctest: +SKIP
    0.4

"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, load_model, save_file, save_model

from spertmt.config import (
    DecisionRule,
    ModelConfig,
    decision_rule_from_dict,
    model_config_from_dict,
    split_legacy_model_section,
    validate_model,
)
from spertmt.data.io import sha256_file, share_like_a_new_file, signals_deferred
from spertmt.errors import CheckpointError, ConfigError
from spertmt.schema import EntityType, RelationType, TypeSchema

if TYPE_CHECKING:
    from spertmt.model.spert import SpertMTModel

FORMAT_VERSION = 2
"""Version of the folder layout; bumped whenever a file's meaning changes.

2 (spertmt 0.2): the decision rule is the ``decision`` section of ``config.json``. Version 1
kept it inside ``model``; such checkpoints load with that rule (and resume)."""

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
TOKENIZER_DIR = "tokenizer"
TYPES_FILE = "types.json"
TRAINING_FILE = "training.json"
OPTIMIZER_FILE = "optimizer.safetensors"
TRAINER_STATE_FILE = "trainer_state.json"

_OPTIMIZER_PREFIX = "optimizer.state."
_RNG_TORCH_CPU = "rng.torch_cpu"
_RNG_TORCH_CUDA = "rng.torch_cuda."


@dataclass(frozen=True)
class CheckpointMetadata:
    """What a checkpoint says about itself, besides the model.

    Attributes:
        path: The checkpoint folder.
        format_version: Layout version of the folder.
        spertmt_version: spertmt version that wrote it.
        torch_version: torch version that wrote it.
        transformers_version: transformers version that wrote it.
        encoder_name: The encoder the model was trained from (``ModelConfig.encoder``).
        training: Contents of ``training.json`` (run config, seed, data hashes, metrics), or
            ``None`` when the folder has none.
        resumable: Whether the folder holds optimizer and trainer state for resuming.

    """

    path: Path
    format_version: int
    spertmt_version: str
    torch_version: str
    transformers_version: str
    encoder_name: str
    training: dict[str, Any] | None
    resumable: bool


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint: the model, its tokenizer, its decision rule and what it says.

    Attributes:
        model: The model, in eval mode (``model.types``, ``model.config``).
        tokenizer: Its fast tokenizer.
        rule: The decision rule saved with it (callers may override it per call).
        metadata: Versions, training record, resumability.
    """

    model: SpertMTModel
    tokenizer: Any
    rule: DecisionRule
    metadata: CheckpointMetadata

    @property
    def types(self) -> TypeSchema:
        """The entity and relation types (their order fixes the class indices)."""
        return self.model.types

    @property
    def config(self) -> ModelConfig:
        """The model's architecture and loss weights."""
        return self.model.config


def checkpoint_types_file(folder: str | Path) -> Path | None:
    """The SpERT types file saved in a checkpoint folder, if it has one.

    Scoring a checkpoint on a dataset reads the gold data with these types, so the dataset
    need not ship a types file of its own.
    """
    path = Path(folder) / TYPES_FILE
    return path if path.is_file() else None


# ---------------------------------------------------------------------------------- writing


def types_to_records(types: TypeSchema) -> dict[str, list[dict[str, Any]]]:
    """Return the type schema as ordered lists (the order fixes the model's class indices).

    ``config.json`` is written with sorted keys, which would reorder the name-keyed mapping of
    :meth:`TypeSchema.to_dict`; lists keep the order.

    Example:
        >>> from spertmt.schema import EntityType
        >>> types_to_records(TypeSchema((EntityType("Peop", "P", "People"),), ()))
        {'entities': [{'name': 'Peop', 'short': 'P', 'verbose': 'People'}], 'relations': []}

    """
    return {
        "entities": [dataclasses.asdict(t) for t in types.entity_types],
        "relations": [dataclasses.asdict(t) for t in types.relation_types],
    }


def types_from_records(records: dict[str, Any]) -> TypeSchema:
    """Inverse of :func:`types_to_records`."""
    return TypeSchema(
        tuple(EntityType(**t) for t in records["entities"]),
        tuple(RelationType(**t) for t in records["relations"]),
    )


def _config_validation_errors() -> tuple[type[Exception], ...]:
    # transformers' configs validate their fields through huggingface_hub's strict dataclasses,
    # whose error is no ValueError.
    try:
        from huggingface_hub.errors import StrictDataclassError
    except ImportError:  # an older huggingface_hub: the config raises TypeError/ValueError
        return ()
    return (StrictDataclassError,)


_ENCODER_CONFIG_ERRORS: tuple[type[Exception], ...] = (
    KeyError,
    TypeError,
    ValueError,
    *_config_validation_errors(),
)


def _check_types_section(types: TypeSchema) -> None:
    """ValueError unless the types section is sound, as the types file would be.

    Every type has a unique non-empty string name and string texts, and a relation's
    ``symmetric`` is true or false: a duplicate would relabel every prediction.
    """
    for kind, items in (("entity", types.entity_types), ("relation", types.relation_types)):
        names = [t.name for t in items]
        for item in items:
            if not all(isinstance(v, str) for v in (item.name, item.short, item.verbose)):
                raise ValueError(
                    f"{kind} type {item.name!r} has a name or text that is not a string"
                )
            if not item.name:
                raise ValueError(f"an {kind} type has an empty name")
        if len(set(names)) != len(names):
            twice = sorted({n for n in names if names.count(n) > 1})
            raise ValueError(f"{kind} type {twice[0]!r} is listed twice")
    for relation in types.relation_types:
        if not isinstance(relation.symmetric, bool):
            raise ValueError(
                f"relation type {relation.name!r} has symmetric {relation.symmetric!r}, "
                "not true or false"
            )


def _json_text(data: Any, what: str, *, sort_keys: bool = True) -> str:
    try:
        return json.dumps(data, sort_keys=sort_keys, indent=2) + "\n"
    except (TypeError, ValueError) as error:
        # Validate before anything is written, so a half-serialisable state never lands on disk.
        raise ValueError(f"{what} is not JSON-serialisable: {error}") from None


def _is_checkpoint(path: Path) -> bool:
    config = path / CONFIG_FILE
    if not config.is_file():
        return False
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(data, dict) and "format_version" in data


def _write_atomic_folder(target: Path, write: Callable[[Path], None]) -> None:
    """Run ``write`` on a temporary sibling folder that then replaces ``target``.

    Replacing goes old → aside, new → target, then the old folder is deleted, so at every
    moment either the old or the new checkpoint is complete under some name; a Ctrl-C or
    SIGTERM during those steps waits until they are done (:func:`signals_deferred`). One that
    arrives while ``write`` runs removes the temporary folder before it propagates. A plain
    function rather than a generator context manager: there, a signal landing between the
    ``with`` body and the generator's resumption would skip both the swap and the clean-up.
    """
    if target.exists() and not target.is_dir():
        raise CheckpointError(
            "exists and is not a folder; choose another checkpoint path", code="E308", path=target
        )
    if target.is_dir() and any(target.iterdir()) and not _is_checkpoint(target):
        raise CheckpointError(
            "is a non-empty folder that is not a spertmt checkpoint; refusing to replace it. "
            "Choose another path or empty the folder",
            code="E308",
            path=target,
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex[:8]
    staging = target.parent / f".{target.name}.tmp-{token}"
    aside = target.parent / f".{target.name}.old-{token}"
    try:
        staging.mkdir()
        write(staging)
        for written in staging.rglob("*"):
            if written.is_file():  # safetensors writes through 0600 temporaries
                share_like_a_new_file(written)
        # Ctrl-C or SIGTERM between the renames would leave no checkpoint under its own name:
        # the swap and the removal of the old one finish first, then the signal is delivered.
        with signals_deferred():
            if target.exists():
                target.rename(aside)
            try:
                staging.rename(target)
            except BaseException:
                if aside.exists() and not target.exists():
                    aside.rename(target)
                raise
            shutil.rmtree(aside, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _optimizer_payload(
    optimizer: torch.optim.Optimizer,
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split an optimizer state dict into tensors (safetensors) and the rest (JSON)."""
    state_dict = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    values: dict[str, dict[str, Any]] = {}
    for param_id, param_state in state_dict["state"].items():
        for name, value in param_state.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{_OPTIMIZER_PREFIX}{param_id}.{name}"] = value.detach().cpu().contiguous()
            else:
                values.setdefault(str(param_id), {})[name] = value
    return tensors, {"param_groups": state_dict["param_groups"], "state_values": values}


def _rng_payload(rng: np.random.Generator | None) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Capture every random number generator a training step draws from."""
    tensors = {_RNG_TORCH_CPU: torch.get_rng_state()}
    cuda_states = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []
    for index, state in enumerate(cuda_states):
        tensors[f"{_RNG_TORCH_CUDA}{index}"] = state
    version, internal, gauss = random.getstate()
    info: dict[str, Any] = {
        "python": [version, list(internal), gauss],
        "numpy": rng.bit_generator.state if rng is not None else None,
        "torch_cuda_devices": len(cuda_states),
    }
    return tensors, info


def save_checkpoint(
    path: str | Path,
    model: SpertMTModel,
    tokenizer: Any,
    *,
    types: TypeSchema,
    model_config: ModelConfig,
    rule: DecisionRule | None = None,
    training: dict[str, Any] | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    trainer_state: dict[str, Any] | None = None,
    rng: np.random.Generator | None = None,
) -> Path:
    """Write a checkpoint folder atomically (see the module docstring for the layout).

    Args:
        path: Target folder; an existing checkpoint there is replaced only once the new one
            is complete.
        model: The model; it must provide ``encoder_config()`` (its encoder's HF config).
        tokenizer: The fast tokenizer (anything with ``save_pretrained``).
        types: The type schema the model was built for.
        model_config: The model's configuration.
        rule: The decision rule saved with the model (default: SpERT's).
        training: Optional training record for ``training.json`` (JSON-serialisable).
        optimizer: With it, the folder becomes resumable: its state goes to
            ``optimizer.safetensors`` and ``trainer_state.json``, together with the RNG states.
        scheduler: Learning-rate scheduler whose state is saved for resuming.
        trainer_state: Loop position and anything else the trainer needs to resume
            (JSON-serialisable, e.g. ``{"epoch": 3, "global_step": 1383}``).
        rng: The trainer's NumPy generator, whose exact state is saved for resuming.

    Returns:
        The checkpoint folder.

    Raises:
        CheckpointError: If ``path`` is a file or a non-empty folder that is not a checkpoint
            (E308), or cannot be written (E315: read-only, disk full).
        ValueError: If ``model_config`` is not the model's configuration, or a record is not
            JSON-serialisable (nothing is written then).

    """
    import transformers

    from spertmt.version import __version__

    target = Path(path)
    own_config = getattr(model, "config", model_config)
    if isinstance(own_config, ModelConfig) and own_config != model_config:
        raise ValueError("model_config differs from the model's own configuration")
    config = {
        "format_version": FORMAT_VERSION,
        "spertmt_version": __version__,
        "torch_version": torch.__version__,
        "transformers_version": transformers.__version__,
        "model": dataclasses.asdict(model_config),
        "decision": dataclasses.asdict(rule if rule is not None else DecisionRule()),
        "types": types_to_records(types),
        "encoder": {"name": model_config.encoder, "config": model.encoder_config()},
    }
    texts = {
        CONFIG_FILE: _json_text(config, "config.json"),
        # The SpERT types file maps names to types; its key order is the class order.
        TYPES_FILE: _json_text(types.to_dict(), "types", sort_keys=False),
    }
    if training is not None:
        texts[TRAINING_FILE] = _json_text(training, "training record")
    resume_tensors: dict[str, torch.Tensor] = {}
    if optimizer is not None:
        optimizer_tensors, optimizer_info = _optimizer_payload(optimizer)
        rng_tensors, rng_info = _rng_payload(rng)
        resume_tensors = {**optimizer_tensors, **rng_tensors}
        state = {
            "format_version": FORMAT_VERSION,
            "trainer": trainer_state or {},
            "optimizer": optimizer_info,
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "rng": rng_info,
        }
        texts[TRAINER_STATE_FILE] = _json_text(state, "trainer state")

    def write(staging: Path) -> None:
        save_model(model, str(staging / WEIGHTS_FILE), metadata={"format": "pt"})
        # load_checkpoint verifies it: flipped bytes in the weights must not load silently
        config["weights_sha256"] = sha256_file(staging / WEIGHTS_FILE)
        texts[CONFIG_FILE] = _json_text(config, "config.json")
        tokenizer.save_pretrained(str(staging / TOKENIZER_DIR))
        if optimizer is not None:
            save_file(resume_tensors, str(staging / OPTIMIZER_FILE), metadata={"format": "pt"})
        for name, text in texts.items():
            (staging / name).write_text(text, encoding="utf-8")

    try:
        _write_atomic_folder(target, write)
    except (OSError, SafetensorError) as error:  # read-only, disk full: nothing half-written
        raise CheckpointError(
            f"cannot be written ({getattr(error, 'strerror', None) or error}); choose a writable "
            "folder with free "
            "space",
            code="E315",
            path=target,
        ) from None
    return target


def write_training_record(path: str | Path, training: dict[str, Any]) -> None:
    """Replace ``training.json`` of an existing checkpoint atomically (e.g. to add test metrics).

    Args:
        path: Checkpoint folder.
        training: The new training record (JSON-serialisable).

    Raises:
        CheckpointError: If ``path`` is not a checkpoint folder (E301), or cannot be written
            (E315: read-only, disk full).

    """
    folder = Path(path)
    if not _is_checkpoint(folder):
        raise CheckpointError(
            "is not a spertmt checkpoint folder (no config.json with a format_version)",
            code="E301",
            path=folder,
        )
    text = _json_text(training, "training record")
    staging = folder / f".{TRAINING_FILE}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        staging.write_text(text, encoding="utf-8")
        share_like_a_new_file(staging, replaces=folder / TRAINING_FILE)
        os.replace(staging, folder / TRAINING_FILE)
    except BaseException as error:  # a signal half-way leaves no temporary either
        staging.unlink(missing_ok=True)
        if not isinstance(error, OSError):
            raise
        raise CheckpointError(
            f"cannot be written ({error.strerror or error}); choose a writable folder with free "
            "space",
            code="E315",
            path=folder,
        ) from None


# ---------------------------------------------------------------------------------- reading


def _read_json(path: Path, folder: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as error:
        raise CheckpointError(
            f"{path.name} cannot be read ({error}); the checkpoint is damaged: save it again",
            code="E303",
            path=folder,
        ) from None


def read_checkpoint_config(path: str | Path) -> dict[str, Any]:
    """Read and check a checkpoint's ``config.json`` without building the model.

    Args:
        path: Checkpoint folder.

    Returns:
        The parsed ``config.json``.

    Raises:
        CheckpointError: If the folder or a required file is missing (E301, E302), the config
            is malformed (E303), or its ``format_version`` is unknown (E304).

    """
    folder = Path(path)
    if not folder.is_dir():
        raise CheckpointError(
            "no such checkpoint folder; pass the folder written by `spertmt train` "
            "(e.g. runs/<name>/model)",
            code="E301",
            path=folder,
        )
    for required in (CONFIG_FILE, WEIGHTS_FILE, TOKENIZER_DIR):
        if not (folder / required).exists():
            raise CheckpointError(
                f"missing {required}; the folder is not a complete spertmt checkpoint "
                "(an interrupted copy?). Copy the whole folder again or retrain",
                code="E302",
                path=folder,
            )
    config = _read_json(folder / CONFIG_FILE, folder)
    if not isinstance(config, dict) or "format_version" not in config:
        raise CheckpointError(
            "config.json has no format_version; it was not written by spertmt",
            code="E304",
            path=folder,
        )
    version = config["format_version"]
    if (
        not isinstance(version, int)
        or isinstance(version, bool)
        or not 1 <= version <= FORMAT_VERSION
    ):
        raise CheckpointError(
            f"checkpoint format_version {version!r} is not supported by this spertmt "
            f"(it reads format_version 1..{FORMAT_VERSION}); written by spertmt "
            f"{config.get('spertmt_version', 'unknown')}: upgrade spertmt to load it",
            code="E304",
            path=folder,
        )
    for key in ("model", "types", "encoder"):
        if not isinstance(config.get(key), dict):
            raise CheckpointError(
                f"config.json lacks the {key!r} section; the checkpoint is damaged: save it again",
                code="E303",
                path=folder,
            )
    if not isinstance(config["encoder"].get("config"), dict):
        raise CheckpointError(
            "config.json lacks encoder.config (the encoder architecture); save it again",
            code="E303",
            path=folder,
        )
    return config


def _load_weights(model: torch.nn.Module, folder: Path) -> None:
    try:
        missing, unexpected = load_model(model, folder / WEIGHTS_FILE, strict=False)
    except (SafetensorError, OSError) as error:  # OSError: a folder, an unreadable file
        raise CheckpointError(
            f"{WEIGHTS_FILE} is not a readable safetensors file ({error}); copy it again",
            code="E306",
            path=folder,
        ) from None
    except RuntimeError as error:  # shape mismatch between file and config.json
        first = str(error).strip().splitlines()
        detail = first[-1].strip() if first else str(error)
        raise CheckpointError(
            f"{WEIGHTS_FILE} does not fit the model described by config.json ({detail}); "
            "config.json and the weights come from different models",
            code="E305",
            path=folder,
        ) from None
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing weights: {', '.join(sorted(missing))}")
        if unexpected:
            parts.append(f"unexpected weights: {', '.join(sorted(unexpected))}")
        raise CheckpointError(
            f"{WEIGHTS_FILE} does not match the model described by config.json ("
            + "; ".join(parts)
            + "); config.json and the weights come from different models or the file was edited",
            code="E305",
            path=folder,
        )


def load_checkpoint(
    path: str | Path, *, device: str | torch.device | None = None, verify: bool = True
) -> Checkpoint:
    """Load a checkpoint folder written by :func:`save_checkpoint`.

    The model is rebuilt from ``config.json`` alone (random encoder of the saved
    architecture), then every weight is loaded strictly. The global torch RNG is left as it
    was, so loading never changes what a seeded caller draws next. A checkpoint of spertmt
    0.1, whose decision rule sits inside the ``model`` section, loads with that rule.

    Args:
        path: Checkpoint folder.
        device: Where to put the model (default: CPU).
        verify: Check ``model.safetensors`` against the SHA-256 that ``config.json`` records
            (about 0.3 s per 100 MB; checkpoints older than the record are not checked).

    Returns:
        The :class:`Checkpoint`; its model is in eval mode.

    Raises:
        CheckpointError: For a missing folder or file (E301, E302), a malformed config
            (E303), an unsupported ``format_version`` (E304), weights that do not match the
            config, named key by key (E305), an unreadable weights file (E306), a model
            of a variant that was removed (E303, naming it), or weights whose checksum is not
            the recorded one (E313).

    Example:
        >>> checkpoint = load_checkpoint("runs/demo/model")  # doctest: +SKIP
        >>> checkpoint.metadata.encoder_name                  # doctest: +SKIP
        'minilm'

    """
    from spertmt.encoding.encoders import load_tokenizer
    from spertmt.model.spert import SpertMTModel

    folder = Path(path)
    config = read_checkpoint_config(folder)
    try:
        model_section, legacy_rule = split_legacy_model_section(config["model"])
        model_config = model_config_from_dict(model_section)
        validate_model(model_config)  # a hand-edited value fails here, not inside a kernel
        if config["format_version"] >= 2 and "decision" not in config:
            raise ConfigError("the decision section is missing", code="E303", key="decision")
        decision = config.get("decision", legacy_rule)
        if not isinstance(decision, dict):
            raise ConfigError("expected a table of keys", code="E203", key="decision")
        rule = decision_rule_from_dict(decision)
    except ConfigError as error:
        raise CheckpointError(f"config.json: {error.message}", code="E303", path=folder) from None
    try:
        types = types_from_records(config["types"])
        _check_types_section(types)
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(
            f"config.json has a malformed types section ({error}); save the checkpoint again",
            code="E303",
            path=folder,
        ) from None
    with torch.random.fork_rng(devices=[]):
        try:
            model = SpertMTModel.build_from_encoder_config(
                model_config, types, config["encoder"]["config"]
            )
        except _ENCODER_CONFIG_ERRORS as error:  # a hand-edited encoder config
            raise CheckpointError(
                f"config.json has a malformed encoder.config section ({type(error).__name__}: "
                f"{error}); save the checkpoint again",
                code="E303",
                path=folder,
            ) from None
    _load_weights(model, folder)  # first: a file of other weights is named key by key
    recorded = config.get("weights_sha256")
    if verify and recorded is not None and sha256_file(folder / WEIGHTS_FILE) != recorded:
        raise CheckpointError(
            f"{WEIGHTS_FILE} is not the file this checkpoint was saved with (its SHA-256 differs "
            "from the one config.json records): it was damaged or replaced; copy the checkpoint "
            "again",
            code="E313",
            path=folder,
        )
    model.eval()
    if device is not None:
        model.to(device)
    tokenizer = load_tokenizer(str(folder / TOKENIZER_DIR))
    training_path = folder / TRAINING_FILE
    training = _read_json(training_path, folder) if training_path.is_file() else None
    metadata = CheckpointMetadata(
        path=folder,
        format_version=config["format_version"],
        spertmt_version=str(config.get("spertmt_version", "unknown")),
        torch_version=str(config.get("torch_version", "unknown")),
        transformers_version=str(config.get("transformers_version", "unknown")),
        encoder_name=str(config["encoder"].get("name", model_config.encoder)),
        training=training,
        resumable=(folder / OPTIMIZER_FILE).is_file() and (folder / TRAINER_STATE_FILE).is_file(),
    )
    return Checkpoint(model, tokenizer, rule, metadata)


def _restore_optimizer(
    optimizer: torch.optim.Optimizer,
    tensors: dict[str, torch.Tensor],
    info: dict[str, Any],
    folder: Path,
) -> None:
    param_state: dict[int, dict[str, Any]] = {}
    for key, tensor in tensors.items():
        if key.startswith(_OPTIMIZER_PREFIX):
            param_id, name = key[len(_OPTIMIZER_PREFIX) :].split(".", 1)
            param_state.setdefault(int(param_id), {})[name] = tensor
    for param_id, values in info.get("state_values", {}).items():
        param_state.setdefault(int(param_id), {}).update(values)
    groups = []
    for group in info["param_groups"]:
        # JSON turned tuples (AdamW's betas) into lists; "params" must stay a list.
        groups.append(
            {
                k: (tuple(v) if isinstance(v, list) and k != "params" else v)
                for k, v in group.items()
            }
        )
    try:
        optimizer.load_state_dict({"state": param_state, "param_groups": groups})
    except (ValueError, KeyError, RuntimeError) as error:
        raise CheckpointError(
            f"the saved optimizer state does not fit this model's parameters ({error}); "
            "resume with the configuration the checkpoint was trained with",
            code="E309",
            path=folder,
        ) from None


def _restore_rng(
    tensors: dict[str, torch.Tensor], info: dict[str, Any], rng: np.random.Generator | None
) -> None:
    version, internal, gauss = info["python"]
    random.setstate((version, tuple(internal), gauss))
    if rng is not None and info.get("numpy") is not None:
        rng.bit_generator.state = info["numpy"]
    torch.set_rng_state(tensors[_RNG_TORCH_CPU])
    cuda = [tensors[f"{_RNG_TORCH_CUDA}{i}"] for i in range(int(info.get("torch_cuda_devices", 0)))]
    # CUDA states only make sense on a machine with the same number of devices.
    if cuda and torch.cuda.is_available() and torch.cuda.device_count() == len(cuda):
        torch.cuda.set_rng_state_all(cuda)


def load_training_state(
    path: str | Path,
    *,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    rng: np.random.Generator | None = None,
) -> dict[str, Any]:
    """Restore optimizer, scheduler and every RNG from a resumable checkpoint.

    Call it after the model, optimizer and scheduler have been built (building draws random
    numbers; this puts every generator back where the interrupted run left it).

    Args:
        path: Checkpoint folder written with ``optimizer=...``.
        optimizer: Optimizer over the same parameter groups as the saved one.
        scheduler: Scheduler to restore, if the trainer uses one.
        rng: The trainer's NumPy generator; its state is set in place.

    Returns:
        The ``trainer_state`` dict that was saved (e.g. epoch and global step).

    Raises:
        CheckpointError: If the folder holds no training state (E307), it is damaged (E303,
            E306), or it does not fit the optimizer (E309).

    """
    folder = Path(path)
    read_checkpoint_config(folder)
    missing = [f for f in (OPTIMIZER_FILE, TRAINER_STATE_FILE) if not (folder / f).is_file()]
    if missing:
        hint = (
            "it was damaged or cut short: train the run again without --resume, or resume "
            "from a copy of the run folder"
            if len(missing) == 1
            else "it is a final model, not a resumable checkpoint. Resume from <run>/checkpoint "
            "instead"
        )
        raise CheckpointError(
            f"holds no training state (no {' and no '.join(missing)}); {hint}",
            code="E307",
            path=folder,
        )
    state = _read_json(folder / TRAINER_STATE_FILE, folder)
    found = state.get("format_version") if isinstance(state, dict) else None
    # The trainer state itself did not change between versions 1 and 2.
    if found not in (1, FORMAT_VERSION):
        raise CheckpointError(
            f"{TRAINER_STATE_FILE} has format_version {found!r} "
            f"but this spertmt reads {FORMAT_VERSION}; resume with the spertmt version that "
            "wrote it",
            code="E304",
            path=folder,
        )
    try:
        tensors = load_file(folder / OPTIMIZER_FILE)
    except SafetensorError as error:
        raise CheckpointError(
            f"{OPTIMIZER_FILE} is not a readable safetensors file ({error})",
            code="E306",
            path=folder,
        ) from None
    part = "optimizer"
    try:
        _restore_optimizer(optimizer, tensors, state["optimizer"], folder)
        part = "scheduler"
        if scheduler is not None and state.get("scheduler") is not None:
            scheduler.load_state_dict(state["scheduler"])
        part = "rng"
        _restore_rng(tensors, state["rng"], rng)
        part = "trainer"
        return dict(state.get("trainer", {}))
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, RuntimeError) as error:
        # A hand-edited or damaged trainer_state.json (a missing or malformed section).
        raise CheckpointError(
            f"{TRAINER_STATE_FILE}, field {part}: missing or malformed ({type(error).__name__}: "
            f"{error}); the checkpoint cannot be resumed, train again without --resume",
            code="E303",
            path=folder,
        ) from None
