"""Every surface that takes the decision rule offers all of its fields, and only those: a new
field of DecisionRule fails here until the CLI, the Python API and the server take it."""

import dataclasses

from spertmt.cli import main
from spertmt.cli.options import _DECISION_PARAMETERS
from spertmt.config import DecisionRule
from spertmt.inference.api import DECISION_OPTIONS
from spertmt.serve.app import DecisionInfo, DecisionUsed, PredictRequest

FIELDS = {f.name for f in dataclasses.fields(DecisionRule)}


def test_the_python_api_and_the_cli_take_every_field():
    assert set(DECISION_OPTIONS) == FIELDS
    assert set(_DECISION_PARAMETERS) == FIELDS


def test_the_server_takes_and_reports_every_field():
    assert FIELDS <= set(PredictRequest.model_fields)
    assert set(DecisionUsed.model_fields) == FIELDS
    assert FIELDS <= set(DecisionInfo.model_fields)


def test_predict_evaluate_and_serve_list_the_options(capsys):
    for command in ("predict", "evaluate", "serve"):
        assert main([command, "--help"]) == 0
        text = capsys.readouterr().out
        for name in FIELDS:
            flag = "--" + name.replace("_", "-")
            # rich may cut a long flag in the table: its first 20 characters are always shown
            assert flag[:20] in text, (command, flag)
