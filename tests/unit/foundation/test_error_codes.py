"""The catalogue of error codes (``spertmt.errors.CATALOGUE``) stays honest.

Every code in the source is catalogued, every catalogued code is used, codes are well formed
and unique, and docs/errors.md lists each code with the catalogue's meaning.

Codes are found with ``ast``: every string constant that is exactly a code (``"E105"``), in
any position (``code="E105"``, a class default ``code = "E100"``, a positional argument such
as ``_Invalid("E105", ...)`` or ``_error(422, "E520", ...)``, a dict key). A regex over the
raw text checks that the scan misses none of the ``code="E..."`` keywords and that codes
named in docstrings and comments are catalogued too. Files are found recursively, relative
to this file, so modules may move into sub-folders.
"""

from __future__ import annotations

import ast
import re
import tokenize
from collections import Counter
from functools import cache
from pathlib import Path

from spertmt.errors import CATALOGUE

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = ROOT / "src" / "spertmt"
ERRORS_PY = PACKAGE / "errors.py"
ERRORS_MD = ROOT / "docs" / "errors.md"

CODE = re.compile(r"E\d{3}")
# code="E105", code='E105', code: str = "E000", code = "E100", "code": "E105"
CODE_KEYWORD = re.compile(r"""\bcode["']?\s*(?::\s*str\s*)?[=:]\s*["'](E\d{3})["']""")
# A string token that is exactly a code: "E105", 'E105', r"E105".
CODE_STRING = re.compile(r"""[rRuU]?(["'])(E\d{3})\1""")
# Codes named anywhere in the text (docstrings, comments, messages): E105, ``E230``-``E232``.
CODE_MENTION = re.compile(r"(?<![A-Za-z0-9_])E\d{3}(?![0-9])")
# A lint suppression comment names lint rules (E501 is line-too-long), not error codes.
NOQA = re.compile(r"#\s*noqa\b.*")


def source_files() -> list[Path]:
    files = sorted(PACKAGE.rglob("*.py"))
    assert ERRORS_PY in files, f"no errors.py under {PACKAGE}"
    return files


def catalogue_node(tree: ast.Module) -> ast.Dict:
    """The dict literal assigned to ``CATALOGUE`` at the top level of errors.py."""
    for node in tree.body:
        if isinstance(node, ast.AnnAssign):
            target, value = node.target, node.value
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id == "CATALOGUE":
            assert isinstance(value, ast.Dict), "CATALOGUE must be a dict literal"
            return value
    raise AssertionError("errors.py assigns no CATALOGUE dict literal")


@cache
def code_uses() -> dict[str, list[str]]:
    """Each code used in src/spertmt (outside the catalogue itself) -> ``file:line`` sites."""
    uses: dict[str, list[str]] = {}
    for path in source_files():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        skip: set[int] = set()
        if path == ERRORS_PY:
            skip = {id(node) for node in ast.walk(catalogue_node(tree))}
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and CODE.fullmatch(node.value)
                and id(node) not in skip
            ):
                site = f"{path.relative_to(ROOT)}:{node.lineno}"
                uses.setdefault(node.value, []).append(site)
    return uses


def catalogue_source_lines() -> tuple[int, int]:
    node = catalogue_node(ast.parse(ERRORS_PY.read_text(encoding="utf-8")))
    return node.lineno, node.end_lineno or node.lineno


def docstring_lines(tree: ast.Module) -> set[int]:
    """Lines of module, class and function docstrings (their examples show ``code="E105"``)."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            first = node.body[0] if node.body else None
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                lines.update(range(first.lineno, (first.end_lineno or first.lineno) + 1))
    return lines


def test_the_scan_finds_codes_in_several_modules() -> None:
    uses = code_uses()
    files = {site.split(":")[0] for sites in uses.values() for site in sites}
    assert len(uses) >= 50 and len(files) >= 10, (len(uses), sorted(files))


def test_the_scan_misses_no_code_literal() -> None:
    """Cross-check the ``ast`` scan with the tokenizer and a regex on ``code=...`` keywords."""
    first, last = catalogue_source_lines()
    uses = {(site, code) for code, sites in code_uses().items() for site in sites}
    missed = []
    for path in source_files():
        text = path.read_text(encoding="utf-8")
        name = path.relative_to(ROOT)
        skip = docstring_lines(ast.parse(text))
        if path == ERRORS_PY:
            skip |= set(range(first, last + 1))
        with path.open("rb") as file:
            for token in tokenize.tokenize(file.readline):
                literal = CODE_STRING.fullmatch(token.string)
                if token.type == tokenize.STRING and literal and token.start[0] not in skip:
                    if (f"{name}:{token.start[0]}", literal[2]) not in uses:
                        missed.append(f"{name}:{token.start[0]}: {literal[2]}")
        for number, line in enumerate(text.splitlines(), 1):
            if number not in skip:
                for code in CODE_KEYWORD.findall(line):
                    if (f"{name}:{number}", code) not in uses:
                        missed.append(f"{name}:{number}: {code}")
    assert not missed, missed


def test_every_code_used_in_src_is_catalogued() -> None:
    missing = {code: sites for code, sites in sorted(code_uses().items()) if code not in CATALOGUE}
    assert not missing, (
        f"codes raised but not in spertmt.errors.CATALOGUE (add each with its meaning, and a "
        f"row in docs/errors.md): {missing}"
    )


def test_every_code_mentioned_in_src_is_catalogued() -> None:
    unknown = []
    for path in source_files():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for code in CODE_MENTION.findall(NOQA.sub("", line)):
                if code not in CATALOGUE:
                    unknown.append(f"{path.relative_to(ROOT)}:{number}: {code}")
    assert not unknown, unknown


def test_every_catalogued_code_is_used_in_src() -> None:
    dead = sorted(set(CATALOGUE) - set(code_uses()))
    assert not dead, f"CATALOGUE entries that no module in src/spertmt uses: {dead}"


def test_codes_are_well_formed_and_ordered() -> None:
    bad = [code for code in CATALOGUE if not CODE.fullmatch(code)]
    assert not bad, bad
    assert list(CATALOGUE) == sorted(CATALOGUE), "CATALOGUE must be ordered by code"
    for code, meaning in CATALOGUE.items():
        assert isinstance(meaning, str) and meaning.strip() == meaning, code
        assert meaning.endswith("."), f"{code}: the meaning must be one sentence ending in '.'"
        assert "\n" not in meaning and "|" not in meaning, code
        assert len(meaning) <= 100, f"{code}: keep the meaning to one short sentence"


def test_catalogue_literal_has_no_repeated_key() -> None:
    node = catalogue_node(ast.parse(ERRORS_PY.read_text(encoding="utf-8")))
    keys = []
    for key in node.keys:
        assert isinstance(key, ast.Constant) and isinstance(key.value, str), (
            "CATALOGUE keys must be string literals"
        )
        keys.append(key.value)
    repeated = sorted(code for code, count in Counter(keys).items() if count > 1)
    assert not repeated, f"codes listed twice in CATALOGUE: {repeated}"
    assert len(keys) == len(CATALOGUE)


def test_class_default_codes_are_catalogued() -> None:
    from spertmt import errors

    classes = [
        value
        for value in vars(errors).values()
        if isinstance(value, type) and issubclass(value, errors.SpertMTError)
    ]
    assert len(classes) >= 6
    for cls in classes:
        assert cls.code in CATALOGUE, f"{cls.__name__}.code {cls.code}"


def doc_rows() -> dict[str, list[str]]:
    rows: dict[str, list[str]] = {}
    for line in ERRORS_MD.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and CODE.fullmatch(cells[0].strip("`")):
            code = cells[0].strip("`")
            assert code not in rows, f"docs/errors.md lists {code} twice"
            rows[code] = cells
    return rows


def test_docs_list_every_code_with_its_meaning() -> None:
    text = ERRORS_MD.read_text(encoding="utf-8")
    top = "\n".join(text.splitlines()[:5])
    assert "(data.md)" in top, "docs/errors.md must link to docs/data.md at the top"
    for code in CATALOGUE:
        assert code in text, f"docs/errors.md does not mention {code}"
    rows = doc_rows()
    assert sorted(rows) == sorted(CATALOGUE), sorted(set(rows) ^ set(CATALOGUE))
    for code, cells in rows.items():
        assert len(cells) == 4, f"docs/errors.md row {code}: code | class | meaning | fix"
        assert cells[2] == CATALOGUE[code], (
            f"docs/errors.md row {code}: meaning {cells[2]!r} differs from CATALOGUE "
            f"{CATALOGUE[code]!r}"
        )
        assert cells[3], f"docs/errors.md row {code} has no fix"


def test_data_docs_link_to_the_error_catalogue() -> None:
    assert "(errors.md)" in (ROOT / "docs" / "data.md").read_text(encoding="utf-8")
