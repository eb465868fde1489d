"""The docstring examples of the digital API and its readers run (issue 11: examples that run)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "smoulder.digital",
    "smoulder.digital.aggregate",
    "smoulder.digital.detect",
    "smoulder.digital.practice",
    "smoulder.digital.result",
    "smoulder.digital.settings",
    "smoulder.pipelines.digital",
    "smoulder.schema.catalogue",
    "smoulder.io.apple_health",
    "smoulder.io.fhir",
    "smoulder.io.measures",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_the_public_digital_api_has_an_example_that_runs():
    finder = doctest.DocTestFinder()
    runnable = {
        t.name
        for name in MODULES
        for t in finder.find(importlib.import_module(name))
        if any(not ex.options.get(doctest.SKIP) for ex in t.examples)
    }
    for must in (
        "smoulder.digital",
        "smoulder.digital.detect.detect",
        "smoulder.pipelines.digital",
        "smoulder.io.apple_health",
        "smoulder.io.fhir",
        "smoulder.io.measures.read_measures_bytes",
    ):
        assert must in runnable, must
