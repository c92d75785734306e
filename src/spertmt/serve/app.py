"""The FastAPI application behind ``spertmt serve``: request and response schemas, endpoints.

Imported only by :func:`spertmt.serve.server.create_app`, after it has checked that the optional
``serve`` extra (fastapi, uvicorn) is installed; see :mod:`spertmt.serve.server` for the overview.
The pydantic models are module-level so that FastAPI can resolve the endpoints' annotations
(which ``from __future__ import annotations`` turns into strings) in this module's globals.

Errors are answered with one JSON shape, ``{"error": {"code": ..., "message": ...}}``:

- ``422`` ``E520``: the body is not valid JSON or does not match :class:`PredictRequest`
  (wrong types, unknown fields, both or neither of ``texts``/``tokens``, a threshold outside
  ``[0, 1]``); ``errors`` lists every problem with its location.
- ``413`` ``E521``: more texts than ``max_texts``; ``E522``: a text longer than ``max_chars``;
  ``E528``: more characters in all than ``max_request_chars``; ``E529``: a token list of more
  words than ``max_words``; ``E526``: a body larger than the largest valid request.
- ``408`` ``E530``: the body did not arrive within ``body_timeout`` seconds.
- ``422`` ``E523``: a ``batch_size`` above the server's.
- ``422`` ``E5xx``: an :class:`~spertmt.errors.InputError` of
  :meth:`SpertMT.predict <spertmt.inference.api.SpertMT.predict>` (e.g. ``E505`` for an
  ``entity_threshold`` the model does not use, ``E507`` for a lone surrogate).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hmac
import json
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any, Literal, TypeVar

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StrictStr, create_model, model_validator
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from spertmt.config import DecisionRule, ModelConfig
from spertmt.errors import InputError
from spertmt.inference.api import DECISION_OPTIONS, MAX_SENTENCE_WORDS, SpertMT
from spertmt.inference.planning import Plan, merge, plan_input
from spertmt.inference.predictor import PairLimitError
from spertmt.schema import TypeSchema
from spertmt.serve.batching import Batcher, client_gone
from spertmt.version import __version__

__all__ = [
    "DocumentOut",
    "ErrorResponse",
    "InfoResponse",
    "PredictRequest",
    "PredictResponse",
    "build_app",
]

_LIMIT_STATUS = {"E521": 413, "E522": 413, "E528": 413, "E529": 413}
"""HTTP status of the error codes that are not ``422``."""
_MAX_LISTED_PROBLEMS = 5
_MAX_RETURNED_PROBLEMS = 50
"""At most this many problems of an invalid request are described in its ``errors`` (and a
last entry says how many more): a large invalid body has one problem per bad item."""
_REQUEST_THREADS = 4
"""Threads that split requests into sentences and write answers. That work holds Python's
lock, so more threads would not make it faster, only keep more memory (an allocator arena
each); the model runs in the batcher's own thread."""
_T = TypeVar("_T")
_EXAMPLE_TEXT = "John Smith lives in Paris. He works for Acme Corp."


# ------------------------------------------------------------------------------ requests
class PredictRequest(BaseModel):
    """Inputs and per-request options of ``POST /predict``: exactly one of texts or tokens."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"texts": [_EXAMPLE_TEXT]},
                {"tokens": [["Anna", "moved", "to", "Rome", "."]], "relation_threshold": 0.5},
            ]
        },
    )

    texts: list[StrictStr] | None = Field(
        default=None,
        description="Raw texts, one document each. A text is split into sentences and words; "
        "entities carry word spans plus char_start/char_end/text into it. An empty text gives "
        "an empty document.",
        examples=[[_EXAMPLE_TEXT]],
    )
    tokens: list[list[StrictStr]] | None = Field(
        default=None,
        description="Pre-tokenised sentences, one list of words per document (no character "
        "offsets in the answer).",
        examples=[[["Anna", "moved", "to", "Rome", "."]]],
    )
    entity_threshold: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        strict=True,
        allow_inf_nan=False,
        description="Entity threshold τ_e for this request, in [0, 1]; only for models that "
        "decide entities by threshold (GET /info: decision.entity_threshold_used). Omitted: "
        "the model's.",
        examples=[0.5],
    )
    relation_threshold: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        strict=True,
        allow_inf_nan=False,
        description="Relation threshold for this request, in [0, 1]. Omitted: the model's "
        "(SpERT: 0.4).",
        examples=[0.4],
    )
    iou_threshold: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        strict=True,
        allow_inf_nan=False,
        description="IoU threshold (models with the IoU head, gate rule) for this request. "
        "Omitted: the model's.",
    )
    relation_binary_threshold: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        strict=True,
        allow_inf_nan=False,
        description="τ_r of the binary pair head (models with it) for this request. Omitted: "
        "the model's.",
    )
    entity_score: Literal["gate", "product"] | None = Field(
        default=None,
        description="Entity rule for this request: gate (each head its own threshold) or "
        "product (p_type·p_entity·IoU ≥ τ_e). Omitted: the model's.",
    )
    entity_overlap: Literal["allow", "resolve"] | None = Field(
        default=None,
        description="allow: overlapping entities may all be kept; resolve: of overlapping "
        "entities only the best-scoring survive. Omitted: the model's.",
        examples=["resolve"],
    )
    batch_size: int | None = Field(
        default=None,
        ge=1,
        strict=True,
        description="Sentences per forward pass, at most the server's (GET /info: "
        "limits.max_batch_size). Omitted: the server's.",
        examples=[8],
    )

    @model_validator(mode="after")
    def _one_input_kind(self) -> PredictRequest:
        if self.texts is not None and self.tokens is not None:
            raise ValueError("give either texts (raw strings) or tokens (lists of words), not both")
        if self.texts is None and self.tokens is None:
            raise ValueError(
                'give texts (a list of raw strings, e.g. {"texts": ["Ann met Bob."]}) or '
                'tokens (a list of word lists, e.g. {"tokens": [["Ann", "met", "Bob"]]})'
            )
        return self


# ------------------------------------------------------------------------------ responses
class EntityOut(BaseModel):
    """A predicted entity: a typed span of words ``[start, end)``."""

    type: str = Field(description="Entity type name (GET /info: entity_types).")
    start: int = Field(description="Index of the first word in the document's tokens.")
    end: int = Field(description="Index one past the last word (exclusive).")
    score: float = Field(description="Model confidence in [0, 1].")
    char_start: int | None = Field(
        default=None, description="Character offset in the document's text (raw text only)."
    )
    char_end: int | None = Field(
        default=None, description="Exclusive character end offset (raw text only)."
    )
    text: str | None = Field(
        default=None, description="The entity's surface string text[char_start:char_end]."
    )


class RelationOut(BaseModel):
    """A predicted relation between two entities of the same document."""

    type: str = Field(description="Relation type name (GET /info: relation_types).")
    head: int = Field(description="Index of the head entity in the document's entities.")
    tail: int = Field(description="Index of the tail entity in the document's entities.")
    score: float = Field(description="Model confidence in [0, 1].")


class DocumentOut(BaseModel):
    """One predicted document, in SpERT JSON with scores (``Document.to_dict()``)."""

    tokens: list[str] = Field(description="The document's words.")
    entities: list[EntityOut] = Field(description="Entities, sorted by span.")
    relations: list[RelationOut] = Field(
        description="Relations; symmetric types are listed once, in canonical order."
    )
    text: str | None = Field(default=None, description="The input text (raw text only).")


class Thresholds(BaseModel):
    """The thresholds this request was decided with."""

    entity: float | None = Field(
        description="τ_e, or null for a model that decides entities by arg-max."
    )
    relation: float = Field(description="Relation threshold.")


class DecisionUsed(BaseModel):
    """The whole decision rule this request was decided with."""

    entity_threshold: float
    entity_score: str
    iou_threshold: float
    entity_overlap: str
    relation_threshold: float
    relation_binary_threshold: float


class PredictResponse(BaseModel):
    """Answer of ``POST /predict``: one document per input, in input order."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "documents": [
                        {
                            "tokens": ["John", "Smith", "lives", "in", "Paris", "."],
                            "entities": [
                                {
                                    "type": "Peop",
                                    "start": 0,
                                    "end": 2,
                                    "score": 0.98,
                                    "char_start": 0,
                                    "char_end": 10,
                                    "text": "John Smith",
                                },
                                {
                                    "type": "Loc",
                                    "start": 4,
                                    "end": 5,
                                    "score": 0.97,
                                    "char_start": 20,
                                    "char_end": 25,
                                    "text": "Paris",
                                },
                            ],
                            "relations": [{"type": "Live_In", "head": 0, "tail": 1, "score": 0.91}],
                            "text": "John Smith lives in Paris.",
                        }
                    ],
                    "thresholds": {"entity": None, "relation": 0.4},
                    "decision": {
                        "entity_threshold": 0.5,
                        "entity_score": "gate",
                        "iou_threshold": 0.5,
                        "entity_overlap": "allow",
                        "relation_threshold": 0.4,
                        "relation_binary_threshold": 0.5,
                    },
                }
            ]
        }
    )

    documents: list[DocumentOut]
    thresholds: Thresholds
    decision: DecisionUsed


class Health(BaseModel):
    """Answer of ``GET /health``."""

    status: str = Field(description='Always "ok" while the server runs.', examples=["ok"])


class EntityTypeInfo(BaseModel):
    """An entity type the model predicts."""

    name: str
    short: str
    verbose: str


class RelationTypeInfo(BaseModel):
    """A relation type the model predicts."""

    name: str
    short: str
    verbose: str
    symmetric: bool = Field(description="Undirected: listed once, head before tail.")


class DecisionInfo(BaseModel):
    """The model's decision rule (``DecisionRule``), as used when a request sets nothing."""

    entity_threshold_used: bool = Field(
        description="Whether entities are decided by the threshold τ_e (binary entity head, "
        "or IoU head in product mode); if false, requests must not set entity_threshold."
    )
    entity_threshold: float
    entity_score: str = Field(description="gate or product.")
    entity_overlap: str = Field(
        description="allow (nested entities kept) or resolve (best of overlapping spans only)."
    )
    entity_binary_head: bool
    iou_mode: str
    iou_threshold: float
    relation_threshold: float
    relation_binary_head: bool
    relation_binary_threshold: float
    max_span_width: int = Field(description="Widest entity in words.")
    max_sentence_words: int = Field(
        description="Raw-text sentences longer than this are cut into pieces."
    )


class Limits(BaseModel):
    """Request limits of this server."""

    max_texts: int = Field(description="Most texts (or token lists) in one request (else 413).")
    max_chars: int = Field(
        description="Most characters in one text; a token list counts its words joined by "
        "single spaces (else 413)."
    )
    max_request_chars: int = Field(
        description="Most characters in all texts of one request together (else 413): bounds "
        "the work of one request, so that no request keeps the others waiting for minutes."
    )
    max_words: int = Field(
        description="Most words in one token list (else 413): a token list is one sentence to "
        "the model, whose span and pair work grows faster than its length. Raw text is cut "
        "into sentences of at most max_sentence_words words (GET /info: decision) anyway."
    )
    max_batch_size: int = Field(description="Largest batch_size a request may ask for.")
    body_timeout_s: float = Field(
        description="Seconds a request body may take to arrive, all of it (else 408)."
    )
    max_body_bytes: int = Field(
        description="Largest request body in bytes (else 413 before it is read): the largest "
        "valid request even with every character JSON-escaped (12 bytes for a \\ud83d\\ude00 "
        "pair), plus 16 bytes a text and 64 KiB."
    )


class BatchingInfo(BaseModel):
    """How the server merges concurrent requests into shared forward passes."""

    wait_ms: float = Field(
        description="How long an idle server waits for more requests to join the first one."
    )
    max_requests: int = Field(
        description="Most requests in one pass (1: each pass holds one request)."
    )
    max_sentences: int = Field(
        description="Most sentences in one pass of the batcher, run as forward passes of the "
        "batch size, sorted by length."
    )


class CheckpointInfo(BaseModel):
    """What the checkpoint says about itself."""

    format_version: int
    spertmt_version: str = Field(description="spertmt version that wrote it.")
    torch_version: str
    transformers_version: str


class InfoResponse(BaseModel):
    """Answer of ``GET /info``: what the served model predicts and how."""

    spertmt_version: str = Field(description="spertmt version of the server.")
    encoder: str = Field(description="The encoder the model was built from.")
    device: str
    entity_types: list[EntityTypeInfo]
    relation_types: list[RelationTypeInfo]
    decision: DecisionInfo
    limits: Limits
    batching: BatchingInfo
    checkpoint: CheckpointInfo | None = Field(
        default=None, description="Null for a model not loaded from a checkpoint folder."
    )


class ErrorDetail(BaseModel):
    """What is wrong with a request."""

    code: str = Field(description="Stable spertmt error code.", examples=["E520"])
    message: str = Field(
        description="What is wrong, where, and how to fix it.",
        examples=["texts[1]: Input should be a valid string (got number)"],
    )
    errors: list[str] | None = Field(
        default=None, description="Every validation problem (E520 only)."
    )


class ErrorResponse(BaseModel):
    """Body of every 413 and 422 answer."""

    error: ErrorDetail


_ERRORS: dict[int | str, dict[str, Any]] = {
    408: {"model": ErrorResponse, "description": "The body did not arrive in time."},
    413: {"model": ErrorResponse, "description": "Too many texts, or a text too long."},
    422: {"model": ErrorResponse, "description": "Invalid request or input."},
}


# ------------------------------------------------------------------------------ the app
def build_app(
    model: SpertMT,
    *,
    max_texts: int,
    max_chars: int,
    batch_size: int,
    max_request_chars: int | None = None,
    api_key: str | None = None,
    max_words: int,
    body_timeout: float,
    batch_wait_ms: float,
    max_batch_requests: int,
    max_batch_sentences: int,
) -> FastAPI:
    """Build the application (see :func:`spertmt.serve.server.create_app`, which checks the limits).

    Args:
        model: The loaded model, shared by all requests.
        max_texts: Most texts (or token lists) in one request.
        max_chars: Most characters in one text.
        batch_size: Sentences per forward pass, and the most a request may ask for.
        max_request_chars: Most characters in one request (``None``: ``max_texts ×
            max_chars``).
        api_key: When given, every request but ``GET /health`` and the API docs must carry it
            (``Authorization: Bearer KEY`` or ``X-API-Key: KEY``), else ``401``.
        max_words: Most words in one token list.
        body_timeout: Seconds the whole body may take to arrive.
        batch_wait_ms: How long an idle server waits for more requests to share a pass.
        max_batch_requests: Most requests in one pass of the batcher (``1``: no merging).
        max_batch_sentences: Most sentences in one pass of the batcher (run as forward
            passes of ``batch_size``, sorted by length).

    Returns:
        The FastAPI application.

    """
    batcher = Batcher(
        model.predict,
        wait_s=batch_wait_ms / 1000,
        max_requests=max_batch_requests,
        max_units=max_batch_sentences,
    )
    workers = ThreadPoolExecutor(_REQUEST_THREADS, thread_name_prefix="spertmt-request")

    async def in_thread(function: Callable[..., _T], *args: Any) -> _T:
        return await asyncio.get_running_loop().run_in_executor(workers, function, *args)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await run_in_threadpool(batcher.close)

    app = FastAPI(
        title="spertmt",
        version=__version__,
        description="Joint entity and relation extraction (SpERT / SpERT.MT). POST raw texts "
        "or token lists to /predict; GET /info for the model's types and decision rule.",
        lifespan=lifespan,
    )
    app.state.batcher = batcher
    total = max_texts * max_chars if max_request_chars is None else max_request_chars
    limits = Limits(
        max_texts=max_texts,
        max_chars=max_chars,
        max_request_chars=total,
        max_words=max_words,
        max_batch_size=batch_size,
        body_timeout_s=body_timeout,
        max_body_bytes=12 * total + 16 * max_texts + 65536,
    )
    batching = BatchingInfo(
        wait_ms=batch_wait_ms, max_requests=max_batch_requests, max_sentences=max_batch_sentences
    )
    info = _info(model, limits, batching)
    app.add_middleware(_BodyLimit, limit=limits.max_body_bytes, timeout=body_timeout)
    if api_key is not None:
        app.add_middleware(_ApiKey, key=api_key)  # added last: runs first
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(InputError, _input_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        """The page for people (:mod:`spertmt.inference.web_page`): paste, upload, predict."""
        from spertmt.inference.web_page import web_page_html

        return HTMLResponse(web_page_html())

    @app.get("/health", response_model=Health, summary="Liveness check")
    async def health() -> Health:
        """Answer at once, also while a prediction runs."""
        return Health(status="ok")

    @app.get("/info", response_model=InfoResponse, summary="The served model")
    async def model_info() -> InfoResponse:
        """Types, encoder, versions, decision rule and request limits."""
        return info

    request_model = limited_request_model(max_texts, max_words)

    async def predict(body: PredictRequest, request: Request) -> Response:
        """Predict entities and relations for raw texts or token lists.

        One document per input, in input order. Splitting the texts into sentences and
        writing the answer run in a small thread pool; the sentences go to the batcher, which
        predicts them in forward passes shared with concurrent requests of the same decision
        rule. A client that disconnects stops its remaining passes.
        """
        inputs = _checked_inputs(body, limits)
        rule = model.rule_for(**{name: getattr(body, name) for name in DECISION_OPTIONS})
        plans = await in_thread(_plans, inputs, model.types)
        try:
            predicted = await batcher.predict(
                [unit for plan in plans for unit in plan.units],
                rule=rule,
                batch_size=body.batch_size or batch_size,
                disconnected=lambda: client_gone(request.receive),
            )
        except PairLimitError as error:  # this request's own input: named as the client sent it
            field = "texts" if body.texts is not None else "tokens"
            raise _named_unit(error, plans, field) from None
        if predicted is None:  # nobody is listening any more; 499 as proxies log it
            return Response(status_code=499)
        return await in_thread(_answer, plans, predicted, rule, model.config)

    predict.__annotations__["body"] = request_model  # the limits of this server, in its schema
    app.post(
        "/predict",
        response_model=PredictResponse,
        responses=_ERRORS,
        summary="Predict entities and relations",
    )(predict)
    return app


def limited_request_model(max_texts: int, max_words: int) -> type[PredictRequest]:
    """:class:`PredictRequest` with the server's count limits in its schema.

    A list over ``max_texts`` inputs (or a token list over ``max_words`` words) then fails at
    its length, before any of its items is validated: a body of a million bad items would
    otherwise be validated and described item by item on the event loop (seconds and a
    gigabyte for one request). The handler answers such a failure as the limit it is (413
    ``E521``/``E529``).
    """
    fields = PredictRequest.model_fields
    words = Annotated[list[StrictStr], Field(max_length=max_words)]
    model: type[PredictRequest] = create_model(
        "PredictRequest",
        __base__=PredictRequest,
        texts=(Annotated[list[StrictStr], Field(max_length=max_texts)] | None, fields["texts"]),
        tokens=(Annotated[list[words], Field(max_length=max_texts)] | None, fields["tokens"]),
    )
    return model


def _plans(inputs: Sequence[Any], types: TypeSchema) -> list[Plan]:
    """Each input's model units (sentences), as ``SpertMT.predict`` plans them."""
    return [plan_input(item, index, None, types) for index, item in enumerate(inputs)]


def _named_unit(error: PairLimitError, plans: Sequence[Plan], field: str) -> PairLimitError:
    """``error`` (its ``position``: a unit of the request) naming the input and sentence."""
    position = error.position
    for index, plan in enumerate(plans):
        if position < len(plan.units):
            where = f"{field}[{index}]"
            if len(plan.units) > 1:
                where += f", sentence {position + 1}"
            return error.moved(where, index)
        position -= len(plan.units)
    return error


def _answer(
    plans: Sequence[Plan], predicted: Sequence[Any], rule: DecisionRule, config: ModelConfig
) -> JSONResponse:
    """Merge each input's units back into one document and write the answer."""
    documents, position = [], 0
    for plan in plans:
        count = len(plan.units)
        documents.append(merge(plan, predicted[position : position + count]).to_dict())
        position += count
    entity = rule.entity_threshold if rule.uses_entity_threshold(config) else None
    # Document.to_dict() is the answer as it is: validating it again against
    # PredictResponse would only cost time on large answers (the tests check the schema).
    return JSONResponse(
        {
            "documents": documents,
            "thresholds": {"entity": entity, "relation": rule.relation_threshold},
            "decision": dataclasses.asdict(rule),
        }
    )


def _checked_inputs(request: PredictRequest, limits: Limits) -> list[Any]:
    """Return the request's inputs for ``predict``, after the server's limits.

    Raises:
        InputError: ``E521``/``E522``/``E528``/``E529`` over a size limit, ``E523`` for a
            batch size above the server's.

    """
    inputs: Sequence[Any]
    if request.texts is not None:
        field, inputs = "texts", request.texts
        lengths = [len(text) for text in request.texts]
    else:
        assert request.tokens is not None  # the model validator guarantees one of them
        field, inputs = "tokens", request.tokens
        lengths = [sum(map(len, words)) + max(len(words) - 1, 0) for words in request.tokens]
    if len(inputs) > limits.max_texts:
        raise _too_many_inputs(field, len(inputs), limits.max_texts)
    for index, length in enumerate(lengths):
        if length > limits.max_chars:
            unit = "characters" if field == "texts" else "characters (words joined by spaces)"
            raise InputError(
                f"{field}[{index}] has {length} {unit}; this server accepts at most "
                f"{limits.max_chars} per text (--max-chars): split the text",
                code="E522",
            )
    if sum(lengths) > limits.max_request_chars:
        raise InputError(
            f"{field} hold {sum(lengths)} characters together; this server accepts at most "
            f"{limits.max_request_chars} per request (--max-request-chars): split them over "
            "several requests",
            code="E528",
        )
    if request.tokens is not None:
        for index, words in enumerate(request.tokens):
            if len(words) > limits.max_words:
                raise _too_many_words(index, len(words), limits.max_words)
    if request.batch_size is not None and request.batch_size > limits.max_batch_size:
        raise InputError(
            f"batch_size {request.batch_size} is above this server's {limits.max_batch_size} "
            "(--batch-size); ask for fewer or leave it unset",
            code="E523",
        )
    return list(inputs)


def _too_many_inputs(field: str, count: int, limit: int) -> InputError:
    return InputError(
        f"{field} holds {count} inputs; this server accepts at most {limit} per request "
        "(--max-texts): split them over several requests",
        code="E521",
    )


def _too_many_words(index: int, count: int, limit: int) -> InputError:
    return InputError(
        f"tokens[{index}] has {count} words; this server accepts at most {limit} in one token "
        "list (--max-words), which the model reads as one sentence: split it into sentences, "
        "or send it as text",
        code="E529",
    )


def _info(model: SpertMT, limits: Limits, batching: BatchingInfo) -> InfoResponse:
    config, rule = model.config, model.rule
    metadata = model.metadata
    checkpoint = None
    if metadata is not None:
        checkpoint = CheckpointInfo(
            format_version=metadata.format_version,
            spertmt_version=metadata.spertmt_version,
            torch_version=metadata.torch_version,
            transformers_version=metadata.transformers_version,
        )
    return InfoResponse(
        spertmt_version=__version__,
        encoder=config.encoder,
        device=str(model.device),
        entity_types=[
            EntityTypeInfo(name=t.name, short=t.short, verbose=t.verbose)
            for t in model.types.entity_types
        ],
        relation_types=[
            RelationTypeInfo(name=t.name, short=t.short, verbose=t.verbose, symmetric=t.symmetric)
            for t in model.types.relation_types
        ],
        decision=DecisionInfo(
            entity_threshold_used=rule.uses_entity_threshold(config),
            entity_threshold=rule.entity_threshold,
            entity_score=rule.entity_score,
            entity_overlap=rule.entity_overlap,
            entity_binary_head=config.entity_binary_head,
            iou_mode=config.iou_mode,
            iou_threshold=rule.iou_threshold,
            relation_threshold=rule.relation_threshold,
            relation_binary_head=config.relation_binary_head,
            relation_binary_threshold=rule.relation_binary_threshold,
            max_span_width=config.max_span_width,
            max_sentence_words=MAX_SENTENCE_WORDS,
        ),
        limits=limits,
        batching=batching,
        checkpoint=checkpoint,
    )


async def _send(send: Any, response: JSONResponse) -> None:
    """Send a whole response from ASGI middleware (before the application sees the request)."""
    await send(
        {
            "type": "http.response.start",
            "status": response.status_code,
            "headers": response.raw_headers,
        }
    )
    await send({"type": "http.response.body", "body": response.body})


class _ApiKey:
    """ASGI middleware: answer ``401`` to a request without the server's API key.

    ``GET /`` (the page, which asks for the key), ``GET /health`` (for liveness probes) and the
    API documentation stay open; everything else
    needs ``Authorization: Bearer KEY`` or ``X-API-Key: KEY``, compared in constant time.
    """

    OPEN = frozenset({"/", "/health", "/docs", "/openapi.json", "/docs/oauth2-redirect", "/redoc"})

    def __init__(self, app: Any, *, key: str) -> None:
        self.app = app
        self.key = key.encode("utf-8")

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("path") in self.OPEN:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        bearer = headers.get(b"authorization", b"")
        offered = [
            headers.get(b"x-api-key", b"").strip(),
            bearer[7:].strip() if bearer[:7].lower() == b"bearer " else b"",
        ]
        given = [key for key in offered if key]
        # every offered key is compared, in constant time; either header may hold the key
        if any([hmac.compare_digest(key, self.key) for key in given]):
            await self.app(scope, receive, send)
            return
        response = _error(
            401,
            "E527",
            "this server needs its API key: send Authorization: Bearer KEY (or X-API-Key: KEY)"
            if not given
            else "the API key is not this server's",
        )
        response.headers["www-authenticate"] = "Bearer"
        await _send(send, response)


class _BodyLimit:
    """ASGI middleware: refuse a body over ``limit`` bytes, or slower than ``timeout`` seconds.

    A ``Content-Length`` over the limit is answered at once, without reading the body. Any
    other body is read here, counted as it streams in and cut off as soon as it passes the
    limit; a body within it is handed to the application unchanged. The whole body must
    arrive within ``timeout`` seconds of the request's head (a client that trickles it in,
    byte by byte, holds a connection and memory): else ``408`` and the connection is closed.
    """

    def __init__(self, app: Any, *, limit: int, timeout: float = 30.0) -> None:
        self.app = app
        self.limit = limit
        self.timeout = timeout

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send, int(declared))
            return
        messages, received = [], 0
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                message = await asyncio.wait_for(receive(), deadline - time.monotonic())
            except asyncio.TimeoutError:  # TimeoutError itself only from Python 3.11
                await self._too_slow(send, received)
                return
            messages.append(message)
            if message.get("type") != "http.request":
                break  # a disconnect: let the application see it
            received += len(message.get("body", b""))
            if received > self.limit:
                await self._refuse(send, received)
                return
            if not message.get("more_body", False):
                break
        replay = iter(messages)

        async def replayed() -> Any:
            return next(replay, None) or await receive()

        await self.app(scope, replayed, send)

    async def _refuse(self, send: Any, size: int) -> None:
        response = _error(
            413,
            "E526",
            f"the request body has {size} bytes or more; this server reads at most "
            f"{self.limit} (GET /info: limits.max_body_bytes, set by --max-request-chars): "
            "split the request",
        )
        response.headers["connection"] = "close"
        await _send(send, response)

    async def _too_slow(self, send: Any, size: int) -> None:
        response = _error(
            408,
            "E530",
            f"the request body did not arrive within {self.timeout:g} s (GET /info: "
            f"limits.body_timeout_s, set by --body-timeout); {size} bytes came: send the "
            "whole body at once",
        )
        response.headers["connection"] = "close"
        await _send(send, response)


# ------------------------------------------------------------------------------ errors
def _error(status: int, code: str, message: str, errors: list[str] | None = None) -> JSONResponse:
    detail: dict[str, Any] = {"code": code, "message": message}
    if errors is not None:
        detail["errors"] = errors
    return JSONResponse(status_code=status, content={"error": detail})


async def _input_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, InputError)
    return _error(_LIMIT_STATUS.get(error.code, 422), error.code, error.message)


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, StarletteHTTPException)
    if error.status_code == 400:
        # FastAPI's answer to a body its JSON parser fails on other than by a syntax error
        # (not UTF-8, nested too deeply, an integer too long to read): the same family of
        # problem as invalid JSON, so the same code; FastAPI does not say which it was.
        return _error(
            422,
            "E520",
            "the request body cannot be read as JSON: it must be UTF-8 text, nested fewer than "
            f"a thousand levels deep, with no integer of more than {sys.get_int_max_str_digits()} "
            "digits",
        )
    if error.status_code == 404:
        return _error(
            404,
            "E524",
            f"no such endpoint: {request.url.path}; the endpoints are "
            "POST /predict, GET /health, GET /info and /docs",
        )
    if error.status_code == 405:
        allowed = getattr(error, "headers", None) or {}
        response = _error(
            405,
            "E525",
            f"{request.method} is not allowed on {request.url.path}"
            + (f"; use {allowed['Allow']}" if "Allow" in allowed else ""),
        )
        response.headers.update(allowed)
        return response
    return await http_exception_handler(request, error)


async def _validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    found = error.errors()
    for problem in found:
        limit = _count_limit(problem)
        if limit is not None:
            return await _input_error(request, limit)
    problems = [_describe(problem) for problem in found[:_MAX_RETURNED_PROBLEMS]]
    message = "; ".join(problems[:_MAX_LISTED_PROBLEMS])
    if len(found) > _MAX_LISTED_PROBLEMS:
        message += f"; and {len(found) - _MAX_LISTED_PROBLEMS} more (see errors)"
    if len(found) > _MAX_RETURNED_PROBLEMS:
        problems.append(f"and {len(found) - _MAX_RETURNED_PROBLEMS} more")
    return _error(422, "E520", message, problems)


def _count_limit(problem: dict[str, Any]) -> InputError | None:
    """The 413 a ``too_long`` problem of :func:`limited_request_model` stands for, else None."""
    if problem.get("type") != "too_long":
        return None
    loc, ctx = list(problem.get("loc", ())), problem.get("ctx") or {}
    count, limit = ctx.get("actual_length"), ctx.get("max_length")
    if not isinstance(limit, int):
        return None
    if loc in (["body", "texts"], ["body", "tokens"]):
        return _too_many_inputs(loc[1], count if isinstance(count, int) else limit + 1, limit)
    if len(loc) == 3 and loc[:2] == ["body", "tokens"] and isinstance(loc[2], int):
        return _too_many_words(loc[2], count if isinstance(count, int) else limit + 1, limit)
    return None


def _describe(problem: dict[str, Any]) -> str:
    """One validation problem as ``where: what`` (``texts[1]: Input should be ...``)."""
    kind = problem.get("type", "")
    loc = list(problem.get("loc", ()))
    if loc[:1] == ["body"]:
        loc = loc[1:]
    if kind == "json_invalid":
        reason = problem.get("ctx", {}).get("error", "")
        return (
            f"the request body is not valid JSON ({reason})"
            if reason
            else ("the request body is not valid JSON")
        )
    if kind == "missing" and not loc:
        return 'the request body is missing; send a JSON object such as {"texts": ["Ann met Bob."]}'
    if kind in ("model_attributes_type", "dict_type", "model_type") and not loc:
        if isinstance(problem.get("input"), (bytes, str)):
            # FastAPI reads the body as JSON only when the request says it is JSON.
            return (
                "the request body was not sent as JSON; send it with the header "
                "Content-Type: application/json"
            )
        return (
            f"the request body is {_json_type(problem.get('input'))}, not a JSON object such "
            'as {"texts": ["Ann met Bob."]}'
        )
    if kind == "extra_forbidden":
        known = ", ".join(PredictRequest.model_fields)
        return f"unknown field {_path(loc)}; the fields are {known}"
    message = str(problem.get("msg", "invalid value"))
    if kind == "value_error":
        message = message.removeprefix("Value error, ")
    elif "input" in problem:
        message += f" (got {_got(problem['input'])})"
    return f"{_path(loc)}: {message}" if loc else message


def _path(loc: Sequence[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _got(value: Any) -> str:
    """A short description of a bad value: scalars as JSON, containers by kind."""
    if value is None or isinstance(value, (bool, int, float)):
        return json.dumps(value)
    return _json_type(value)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
