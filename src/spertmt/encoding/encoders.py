"""Encoders: fast tokenizers, pretrained or rebuilt encoders, and windows for long inputs.

- :func:`load_tokenizer` / :func:`load_encoder` load what
  :func:`~spertmt.encoding.packaged.resolve_encoder` names, and turn every failure a user can
  cause into an :class:`~spertmt.errors.EncoderError` that says how to fix it.
- :func:`encoder_from_config` rebuilds an encoder with random weights from its saved config,
  for checkpoints that carry their own weights.
- :class:`WindowedEncoder` runs the encoder on rows longer than its position limit by
  splitting them into overlapping windows (method.md §7: "inputs longer than 512 pieces").

Error codes raised here: ``E404`` a hub id that cannot load; ``E405`` a local folder that does
not load; ``E406`` a tokenizer that is not a fast tokenizer; ``E408`` a saved encoder config
that cannot be rebuilt; ``E409`` window settings the encoder cannot run.
"""

from __future__ import annotations

import json
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

from spertmt.encoding.packaged import ALIAS_HELP, resolve_encoder
from spertmt.errors import EncoderError


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
        f"save_pretrained on a machine that has the model), or a packaged alias: {ALIAS_HELP}",
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
            f"{_transformers_version()}: {error}. The saved encoder config does not describe a "
            "model this transformers can build: if the checkpoint's config.json was edited, "
            "restore it; if it was saved with another transformers version (config.json "
            "records which), install that one",
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
