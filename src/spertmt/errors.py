"""Error hierarchy with stable codes.

Every error a user can cause derives from :class:`SpertMTError`, carries a stable code and says
what is wrong, where, and how to fix it. Codes are grouped by stage:

- ``E1xx`` data (files, documents, fields, datasets)
- ``E2xx`` configuration
- ``E3xx`` checkpoints
- ``E4xx`` encoders
- ``E5xx`` prediction inputs

:data:`CATALOGUE` maps every code to what it means; ``docs/errors.md`` adds a typical fix.

The command line catches :class:`SpertMTError`, prints ``str(error)`` on one line and exits
non-zero, without a traceback.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

# C0 and C1 controls (tab, CR, LF, NUL, ...), the Unicode line and paragraph separators, and
# lone surrogates (a JSON "\ud800" escape), which cannot even be printed as UTF-8.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


class SpertMTError(Exception):
    """Base class of every error spertmt raises on purpose.

    Args:
        code: Stable error code such as ``"E105"``.
        message: What is wrong and how to fix it.
    """

    code: str = "E000"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        if code is not None:
            self.code = code
        # One line whatever the input held: a type name, token or path quoted in a message
        # may hold a line break or another control character.
        self.message = one_line(message)
        super().__init__(f"[{self.code}] {self.message}")


def one_line(text: str) -> str:
    r"""``text`` with line breaks, other controls and lone surrogates escaped (``\r``, ``\x00``).

    Example:
        >>> print(one_line("a\rb\tc\u2028"))
        a\rb\tc\u2028
    """
    if _CONTROL.search(text) is None:
        return text
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


class DataError(SpertMTError):
    """Bad input data: names the file, the document (index and ``orig_id``) and the field.

    Args:
        message: What is wrong and how to fix it.
        code: Stable code (``E1xx``).
        file: The file that holds the problem, if any.
        doc_index: Zero-based index of the document in the file.
        orig_id: The document's ``orig_id``, when it has one.
        field: Dotted path of the offending field, e.g. ``entities[2].end``.
        line: One-based line of the problem in the file (JSON Lines, invalid JSON).

    Example:
        >>> print(DataError("end 9 exceeds 5 tokens", code="E105", file="a.json",
        ...                 doc_index=3, orig_id=17, field="entities[0].end"))
        [E105] a.json, document 3 (orig_id 17), field entities[0].end: end 9 exceeds 5 tokens
    """

    code = "E100"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        file: str | Path | None = None,
        doc_index: int | None = None,
        orig_id: Any = None,
        field: str | None = None,
        line: int | None = None,
    ) -> None:
        self.file = str(file) if file is not None else None
        self.line = line
        self.doc_index = doc_index
        self.orig_id = orig_id
        self.field = field
        self.reason = message
        where = []
        if self.file is not None:
            where.append(self.file)
        if line is not None:
            where.append(f"line {line}")
        if doc_index is not None:
            doc = f"document {doc_index}"
            if orig_id is not None:
                doc += f" (orig_id {orig_id})"
            where.append(doc)
        if field is not None:
            where.append(f"field {field}")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message, code=code)


class ConfigError(SpertMTError):
    """Bad configuration value or key; names the dotted key."""

    code = "E200"

    def __init__(self, message: str, *, code: str | None = None, key: str | None = None) -> None:
        self.key = key
        super().__init__(f"config key {key}: {message}" if key else message, code=code)


class CheckpointError(SpertMTError):
    """A checkpoint folder that is missing, incomplete, or of an unknown format."""

    code = "E300"

    def __init__(self, message: str, *, code: str | None = None, path: str | Path | None = None):
        self.path = str(path) if path is not None else None
        super().__init__(f"{self.path}: {message}" if path is not None else message, code=code)


class EncoderError(SpertMTError):
    """An encoder that cannot be found, loaded or used."""

    code = "E400"


class InputError(SpertMTError):
    """Bad prediction input (raw text, token lists, request bodies)."""

    code = "E500"


# One short sentence per stable code, in user words: what went wrong. Ordered by code and
# grouped by stage. docs/errors.md lists the same codes with a typical fix, and
# tests/unit/foundation/test_error_codes.py checks that every code raised in src/spertmt is
# listed here, that every code listed here is raised somewhere, and that docs/errors.md lists
# them all.
CATALOGUE: dict[str, str] = {
    # E0xx: base class
    "E000": "An spertmt error with no more specific code (the SpertMTError default).",
    # E1xx: data. Reading and writing files (spertmt.data.io, spertmt.data.inputs).
    "E100": "A data problem with no more specific code (the DataError default).",
    "E101": "A data, types or text file cannot be read: missing, a folder or not UTF-8.",
    "E102": "A data file is empty or is not valid JSON (or JSON Lines).",
    "E103": "The top level of a SpERT JSON file is not a list of documents.",
    "E104": "A document is not a JSON object.",
    "E105": "An entity's start or end lies outside the document's tokens.",
    "E106": "A document, entity or relation lacks a required key.",
    "E107": "A document's tokens are not a non-empty list of non-empty strings.",
    "E108": "A field has the wrong type (e.g. start is a string, entities is not a list).",
    "E109": "An entity's end is not greater than its start (an empty span).",
    "E110": "A relation's head or tail is not an index into the document's entities.",
    "E111": "A relation links an entity to itself (head equals tail).",
    "E112": "A document uses an entity type that the types file does not declare.",
    "E113": "A document uses a relation type that the types file does not declare.",
    "E114": "The types file is malformed (a missing section or values of the wrong type).",
    "E115": (
        "A data or predictions file cannot be written (format, access, disk), or it is the input."
    ),
    # E12x: datasets by name and their download (spertmt.data.datasets).
    "E120": "The dataset name is not a known dataset.",
    "E121": "A known dataset's files are not in the data folder.",
    "E122": "No single types file is known for a data file.",
    "E123": "A dataset spec names several splits where one file is needed.",
    "E124": "The download server cannot be reached, or its base URL is not http(s).",
    "E125": "A downloaded file's SHA-256 checksum differs from the published one.",
    "E126": "The download server answered with an HTTP error.",
    "E127": "The data folder cannot be written into.",
    # E13x: converting annotation formats (spertmt.data.convert, spertmt convert).
    "E130": "A conversion format is unknown, or an option does not fit the formats converted.",
    "E131": "A brat .ann line is malformed.",
    "E132": "An annotation refers to an entity id that its document does not define (or twice).",
    "E133": "An annotated span lies outside its text, or its text differs from the text there.",
    "E134": "A DyGIE/PURE document is malformed (sentences, ner and relations do not fit).",
    "E135": "A doccano record or Label Studio task is malformed (text, labels or offsets).",
    "E136": "The brat input holds no .txt/.ann pair, or an .ann file has no .txt beside it.",
    "E137": (
        "A file given as a spaCy DocBin is not one, or a relation or label in one is malformed."
    ),
    "E138": (
        "A type name or an entity cannot be written in the target format (brat: one-word types)."
    ),
    # E15x: evaluation, predictions against gold (spertmt.evaluation.metrics, spertmt evaluate).
    "E150": "Predictions and gold hold different numbers of documents.",
    "E151": "A predicted document's tokens differ from those of its gold document.",
    "E152": "A predicted and a gold document give different orig_ids.",
    "E153": "An evaluated entity or relation type is not declared in the types file.",
    "E154": "An evaluated relation's head or tail is not an index into the document's entities.",
    "E155": "An evaluated entity span is empty or outside the document's tokens.",
    "E156": "The evaluation report given with --json cannot be written.",
    # E2xx: configuration. Config files, keys and values (spertmt.config, training).
    "E200": "A configuration problem with no more specific code (the ConfigError default).",
    "E201": "A configuration section or key is unknown.",
    "E202": "A command-line override is not section.key=value (also: --resume without --output).",
    "E203": "A configuration value has the wrong type or is not one of the allowed values.",
    "E204": "The configuration file does not exist.",
    "E205": "The configuration file is not valid TOML.",
    "E206": "A numeric setting is out of range (below its minimum, negative, outside [0, 1]).",
    "E207": "A saved configuration switches on a variant that was rejected and removed.",
    "E208": "Training data without documents, or without a types file.",
    "E209": "The device is unknown, or CUDA was asked for where it is not available.",
    # E21x: input and output formats and options (spertmt.data.inputs, spertmt.inference.files).
    "E210": "The input or output format is unknown or cannot be told from the file suffix.",
    "E211": "An option does not fit the input (e.g. --given-entities with raw text).",
    # E22x: the HTTP server (spertmt.serve.server).
    "E212": "A tuning grid item is not field=v1,v2,... with a decision-rule field.",
    "E213": "The decision rule was to be tuned on a test split; tuning takes dev data only.",
    "E214": "A model switch needs another switch that is off (a decoupled loss without its head).",
    "E215": "A --shard value is not i/n with 0 <= i < n.",
    "E216": "predict --resume found an OUT.partial written by another run (input, model, options).",
    "E220": "The HTTP server's optional packages fastapi and uvicorn are not installed.",
    "E221": "The HTTP server cannot listen on the given host and port.",
    "E222": "The server's API key is empty.",
    # E23x: CPU runtimes and ONNX export (spertmt.runtime.engines, spertmt.runtime.export).
    "E230": "quantize or onnx was asked for with a device other than the CPU.",
    "E231": "quantize and onnx were asked for together.",
    "E232": "The onnx extra (onnx or onnxruntime) is not installed.",
    "E233": "The --onnx export path is neither an existing folder nor a .onnx file name.",
    "E234": (
        "The precision cannot run on this device (bf16 without native CPU/GPU support, fp16 "
        "off CUDA)."
    ),
    "E235": (
        "A 16-bit precision was asked for together with onnx, or for one call of an int8 model."
    ),
    # E24x: training on several processes (spertmt.training.distributed).
    "E240": (
        "The training processes of a launch (torchrun, Accelerate) cannot join: rendezvous, "
        "world size."
    ),
    "E241": "A training process died or did not answer within the time-out (--dist-timeout).",
    # E299: internal.
    "E299": "A configuration field has a type spertmt cannot parse (an internal error).",
    # E3xx: checkpoints. Loading, saving and resuming (spertmt.model.checkpoint, training).
    "E300": "A checkpoint problem with no more specific code (the CheckpointError default).",
    "E301": "The checkpoint folder does not exist or is not a spertmt checkpoint.",
    "E302": "The checkpoint folder lacks a required file (an incomplete copy).",
    "E303": "A checkpoint's config, trainer state or training record is malformed or outdated.",
    "E304": "The checkpoint or its trainer state has no, or an unsupported, format_version.",
    "E305": "The checkpoint's weights do not match the model its config.json describes.",
    "E306": "The checkpoint's weights or optimizer file is not a readable safetensors file.",
    "E307": "There is no resumable training state where a run is to be resumed.",
    "E308": "The path to save a checkpoint to is a file or a non-empty non-checkpoint folder.",
    "E309": "The saved optimizer state does not fit the model's parameters.",
    "E310": "On resume, the configuration differs from the checkpoint's.",
    "E311": "The output folder already holds a training run and resume was not asked for.",
    "E312": "On resume, the training data or types file changed since the checkpoint.",
    "E313": "The checkpoint's weights file is not the one it was saved with (checksum differs).",
    "E314": "A run folder's config.json cannot be read (damaged or not JSON).",
    "E315": "A run folder or checkpoint cannot be written (read-only folder, full disk).",
    "E316": "Another process is training in the run folder.",
    # E32x: ONNX encoder files (spertmt.runtime.engines, spertmt.runtime.export,
    # spertmt.inference.api).
    "E320": "The ONNX encoder file is missing, cannot be loaded or is not a spertmt export.",
    "E321": "The ONNX encoder was exported from other weights than the checkpoint in use.",
    "E322": "A quantised or ONNX Runtime model cannot be saved as a checkpoint.",
    "E323": "The ONNX export failed or differs from PyTorch beyond the tolerance.",
    # E4xx: encoders. Resolving, loading and tokenizing (spertmt.encoding.packaged,
    # spertmt.encoding.encoders, spertmt.encoding.align).
    "E400": "An encoder problem with no more specific code (the EncoderError default).",
    "E401": "An encoder alias's package (or an mpnet part package) is not installed.",
    "E402": "An encoder's archive parts are missing, broken or not the expected archive.",
    "E403": "An assembled encoder archive has the wrong SHA-256 checksum.",
    "E404": "The encoder name is not a folder, a packaged alias or a loadable hub id.",
    "E405": "A local encoder folder does not load as a Hugging Face model or tokenizer.",
    "E406": "The encoder's tokenizer is not a fast tokenizer.",
    "E407": "The tokenizer cannot map each word to its sub-word pieces, in word order.",
    "E408": "A saved encoder config cannot be rebuilt (no or an unknown model_type).",
    "E409": "The window length or stride is not usable with this encoder.",
    # E5xx: prediction inputs (spertmt.inference.api, spertmt.data.text).
    "E500": "A prediction input problem with no more specific code (the InputError default).",
    "E501": "A prediction input is of the wrong kind (not a str, token list or Document).",
    "E502": "A token in a token-list input is not a string.",
    "E503": "The given entities do not match the shape of the inputs.",
    "E504": "A given entity is not an Entity, has an unknown type or a span outside the words.",
    "E505": "A prediction option has a bad value or no effect on this model.",
    "E506": "A Document's token_offsets do not fit its tokens.",
    "E507": "A text or token holds a lone surrogate, which is not valid Unicode.",
    "E508": "A document's entities make more ordered pairs than the limit (max_pairs).",
    # E52x: HTTP requests (spertmt.serve.app).
    "E520": "An HTTP request body is not valid JSON or does not match the request schema.",
    "E521": "An HTTP request holds more texts than the server accepts (--max-texts).",
    "E522": "A text in an HTTP request is longer than the server accepts (--max-chars).",
    "E523": "An HTTP request asks for a batch size above the server's (--batch-size).",
    "E524": "An HTTP request asks for a path the server does not have.",
    "E525": "An HTTP request uses a method its path does not allow (e.g. GET /predict).",
    "E526": "An HTTP request body is larger than the largest valid request of this server.",
    "E527": "An HTTP request lacks the server's API key, or carries another key.",
    "E528": "An HTTP request holds more characters in all than the server accepts.",
    "E529": "A token list in an HTTP request has more words than the server accepts (--max-words).",
    "E530": "An HTTP request body did not arrive within the server's time (--body-timeout).",
    "E531": "An HTTP request's line and headers did not arrive in time (--header-timeout).",
}
