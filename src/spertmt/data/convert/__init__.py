r"""Convert annotations between SpERT JSON and brat, DyGIE/PURE, doccano, Label Studio and spaCy.

Every conversion reads into SpERT :class:`~spertmt.schema.Document`\ s and writes from them,
so any source goes to any target (``spertmt convert IN -o OUT --from brat --to spert``):

==============  =====================================  ============================================
format          files                                  module
==============  =====================================  ============================================
``spert``       SpERT JSON (``.json``) or JSON Lines   :mod:`spertmt.data.io`
``brat``        a folder of ``.txt`` + ``.ann`` pairs  :mod:`spertmt.data.convert.brat`
``dygie``       DyGIE/PURE JSON Lines (SciERC's)       :mod:`spertmt.data.convert.dygie`
``doccano``     doccano JSON Lines export              :mod:`spertmt.data.convert.doccano`
``label-studio`` Label Studio JSON export              :mod:`spertmt.data.convert.labelstudio`
``spacy``       spaCy ``DocBin`` (``.spacy``)          :mod:`spertmt.data.convert.docbin`
==============  =====================================  ============================================

Raw-text formats (brat, doccano, Label Studio) keep character offsets, and sentence splitting
is explicit and reversible (:mod:`spertmt.data.convert.chars`). Writing SpERT JSON also writes
a types file, derived from the data or checked against a given one. Whatever a target cannot
hold is counted, with the reason, in the :class:`ConversionReport`.

Example:
    >>> report = convert("ann/", "data/mine_train.json", source="brat", target="spert",
    ...                  sentences="spacy")                                  # doctest: +SKIP
    >>> print("\n".join(report.lines()))                                    # doctest: +SKIP
    read 12 brat documents from ann/
    wrote 230 spert documents, 801 entities and 312 relations to data/mine_train.json
    types: data/mine_types.json
    skipped 3 × discontinuous entity (first: ann/a.ann, line 17)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from spertmt.data.convert.chars import (
    CharDocument,
    SentenceMode,
    char_documents_to_spert,
    spert_to_char_documents,
)
from spertmt.data.convert.report import ConversionReport
from spertmt.data.io import (
    check_output_writable,
    read_documents,
    read_types,
    same_file,
    write_documents,
    write_text_atomic,
)
from spertmt.errors import DataError
from spertmt.schema import Document, Entity, EntityType, Relation, RelationType, TypeSchema

__all__ = ["FORMATS", "ConversionReport", "convert", "derive_types", "types_path_for"]

FORMATS = ("spert", "brat", "dygie", "doccano", "label-studio", "spacy")
"""Format names, for both ``source`` and ``target``."""

_ALIASES = {
    "json": "spert",
    "jsonl": "spert",
    "pure": "dygie",
    "scierc": "dygie",
    "labelstudio": "label-studio",
    "label_studio": "label-studio",
    "docbin": "spacy",
}
_RAW_TEXT = ("brat", "doccano", "label-studio")
_SPLIT_SUFFIX = re.compile(r"_(train_dev|train|dev|test|valid|val)$")


def _format(name: str, role: str) -> str:
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in FORMATS:
        raise DataError(
            f"unknown {role} format {name!r}; use one of {', '.join(FORMATS)}", code="E130"
        )
    return key


def types_path_for(output: str | Path) -> Path:
    """The types file written beside a SpERT output: ``mine_train.json`` → ``mine_types.json``.

    Example:
        >>> types_path_for("data/mine_train.json").as_posix()
        'data/mine_types.json'
    """
    output = Path(output)
    stem = _SPLIT_SUFFIX.sub("", output.stem) or output.stem
    return output.with_name(f"{stem}_types.json")


def derive_types(documents: Iterable[Document], *, symmetric: Iterable[str] = ()) -> TypeSchema:
    """The types used by ``documents``, each sorted by name (stable across splits).

    Args:
        documents: The documents.
        symmetric: Relation types to declare ``symmetric``.

    Raises:
        DataError: ``E113`` when a ``symmetric`` type is not used by any relation.
    """
    documents = list(documents)
    entity_names = sorted({e.type for d in documents for e in d.entities})
    relation_names = sorted({r.type for d in documents for r in d.relations})
    marked = set(symmetric)
    unknown = sorted(marked - set(relation_names))
    if unknown:
        raise DataError(
            f"--symmetric {unknown[0]} is not a relation type of the data "
            f"(used: {', '.join(relation_names) or 'none'})",
            code="E113",
        )
    return TypeSchema(
        tuple(EntityType(n, n, n) for n in entity_names),
        tuple(RelationType(n, n, n, n in marked) for n in relation_names),
    )


def _merge_types(old: TypeSchema, new: TypeSchema) -> TypeSchema:
    """``old`` in its order, then the types only ``new`` has (its order)."""
    entities = list(old.entity_types)
    entities += [t for t in new.entity_types if t.name not in old.entity_names]
    relations = list(old.relation_types)
    relations += [t for t in new.relation_types if t.name not in old.relation_names]
    return TypeSchema(tuple(entities), tuple(relations))


def _check_types(documents: Sequence[Document], types: TypeSchema, source: str) -> None:
    from spertmt.data.io import _undeclared

    entity_names, relation_names = frozenset(types.entity_names), frozenset(types.relation_names)
    for index, doc in enumerate(documents):
        for k, entity in enumerate(doc.entities):
            if entity.type not in entity_names:
                raise DataError(
                    _undeclared("entity", entity.type, entity_names),
                    code="E112",
                    file=source,
                    doc_index=index,
                    orig_id=doc.orig_id,
                    field=f"entities[{k}].type",
                )
        for k, relation in enumerate(doc.relations):
            if relation.type not in relation_names:
                raise DataError(
                    _undeclared("relation", relation.type, relation_names),
                    code="E113",
                    file=source,
                    doc_index=index,
                    orig_id=doc.orig_id,
                    field=f"relations[{k}].type",
                )


def _dedupe(documents: list[Document], report: ConversionReport) -> list[Document]:
    """Drop repeated entities (same type and span) and relations, as the SpERT reader would."""
    out = []
    for doc in documents:
        where = f"document {doc.orig_id!r}"
        seen: dict[tuple[str, int, int], int] = {}
        remap = []
        entities: list[Entity] = []
        for entity in doc.entities:
            key = (entity.type, entity.start, entity.end)
            if key in seen:
                report.skip("duplicate entity (same type and span)", where)
            else:
                seen[key] = len(entities)
                entities.append(entity)
            remap.append(seen[key])
        relations = []
        seen_relations = set()
        for relation in doc.relations:
            key2 = (relation.type, remap[relation.head], remap[relation.tail])
            if key2[1] == key2[2]:
                report.skip("relation between two copies of one entity", where)
            elif key2 in seen_relations:
                report.skip("duplicate relation", where)
            else:
                seen_relations.add(key2)
                relations.append(Relation(relation.type, key2[1], key2[2], relation.score))
        if len(entities) == len(doc.entities) and len(relations) == len(doc.relations):
            out.append(doc)
        else:
            out.append(
                Document(doc.tokens, tuple(entities), tuple(relations), doc.orig_id, doc.text)
            )
    return out


def _read(
    source: str,
    path: Path,
    sentences: SentenceMode | None,
    report: ConversionReport,
    types: TypeSchema | None,
) -> list[Document]:
    if source in _RAW_TEXT:
        char_docs: list[CharDocument]
        if source == "brat":
            from spertmt.data.convert.brat import read_brat

            char_docs = read_brat(path, report=report)
        elif source == "doccano":
            from spertmt.data.convert.doccano import read_doccano

            char_docs = read_doccano(path, report=report)
        else:
            from spertmt.data.convert.labelstudio import read_label_studio

            char_docs = read_label_studio(path, report=report)
        return char_documents_to_spert(char_docs, sentences=sentences or "none", report=report)
    if source == "dygie":
        from spertmt.data.convert.dygie import read_dygie

        return read_dygie(path, sentences=sentences or "given", report=report)
    if sentences is not None:
        raise DataError(
            f"--sentences applies to brat, doccano, Label Studio and DyGIE input, not {source}",
            code="E130",
        )
    if source == "spacy":
        from spertmt.data.convert.docbin import read_docbin

        docs = read_docbin(path)
    else:
        docs = read_documents(path, types=types)
    report.source_documents += len(docs)
    return docs


def convert(
    input: str | Path,
    output: str | Path,
    *,
    source: str,
    target: str = "spert",
    types: str | Path | None = None,
    types_out: str | Path | None = None,
    sentences: SentenceMode | None = None,
    symmetric: Sequence[str] = (),
) -> ConversionReport:
    """Convert a file or folder of annotations from one format to another.

    Args:
        input: The file (or, for brat, the folder or ``.ann``/``.txt`` file) to read.
        output: The file to write (for brat: the folder).
        source: Format of ``input`` (:data:`FORMATS`; also ``pure``, ``labelstudio``, ...).
        target: Format of ``output``.
        types: A types file: every type of the data must be declared in it, and it is the
            types file written with a SpERT output (kept in its order).
        types_out: Where a SpERT output's types file goes (default
            :func:`types_path_for`). When that file exists, types it lacks are appended.
        sentences: ``none``, ``spacy`` or ``newline`` for raw-text sources (default
            ``none``: one document per source document); ``given`` or ``none`` for DyGIE
            (default ``given``: one document per sentence).
        symmetric: Relation types to declare symmetric in a derived types file.

    Returns:
        The counts: documents, entities and relations written, and what was left out, why.

    Raises:
        DataError: ``E130`` for an unknown format or an option that does not fit it, the
            reading errors of each format (``E131``-``E137``, ``E101``-``E113``), ``E112`` or
            ``E113`` for a type ``types`` does not declare, ``E115`` when the output cannot
            be written. Each names the file, line (or document) and field.
    """
    source, target = _format(source, "source"), _format(target, "target")
    input, output = Path(input), Path(output)
    report = ConversionReport(source, target, str(input), str(output))
    given = read_types(types) if types is not None else None
    if given is not None and symmetric:
        raise DataError(
            "--symmetric marks types of a derived types file; with --types, mark them "
            'symmetric in that file ("symmetric": true)',
            code="E130",
        )
    _refuse_writing_the_input(input, output, source, target)
    docs = _dedupe(_read(source, input, sentences, report, given), report)
    if given is not None:
        _check_types(docs, given, str(input))
    schema = given if given is not None else derive_types(docs, symmetric=symmetric)

    if target == "spert":
        written = write_documents(output, docs)
        types_file = Path(types_out) if types_out is not None else types_path_for(output)
        if given is None and types_file.is_file():
            schema = _merge_types(read_types(types_file), schema)
        import json

        write_text_atomic(
            types_file, json.dumps(schema.to_dict(), indent=2, ensure_ascii=False) + "\n"
        )
        report.types_file = str(types_file)
    elif target == "dygie":
        from spertmt.data.convert.dygie import write_dygie

        written = write_dygie(output, docs)
    elif target == "spacy":
        from spertmt.data.convert.docbin import write_docbin

        written = write_docbin(output, docs)
    else:
        char_docs = spert_to_char_documents(docs, report=report)
        if target == "brat":
            from spertmt.data.convert.brat import write_brat

            written = write_brat(output, char_docs, types=schema)
        elif target == "doccano":
            from spertmt.data.convert.doccano import write_doccano

            written = write_doccano(output, char_docs)
        else:
            from spertmt.data.convert.labelstudio import write_label_studio

            written = write_label_studio(output, char_docs)
    report.documents = written
    report.entities = sum(len(d.entities) for d in docs)
    report.relations = sum(len(d.relations) for d in docs)
    return report


def _refuse_writing_the_input(input: Path, output: Path, source: str, target: str) -> None:
    """E115 when the output would replace the input.

    A brat output folder holds only ``.txt``, ``.ann`` and ``annotation.conf`` files: it may
    be the folder of an input in another format (nothing read is replaced), but not the brat
    folder being read, nor the input file itself.
    """
    if target != "brat":
        check_output_writable(output, inputs=[input])
        return
    if source != "brat":
        if same_file(output, input):
            raise DataError(
                f"is the input ({input}): give a folder for the brat files",
                code="E115",
                file=output,
            )
        return
    folder = input if input.is_dir() else input.parent
    if output.is_dir() and same_file(output, folder):
        raise DataError(
            f"is the folder the input is read from ({input}): writing brat files there "
            "would replace them; give another output folder",
            code="E115",
            file=output,
        )
