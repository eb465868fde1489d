"""The PIRA definitions that msprog names, kept as data.

Each definition is a table of ``pira_definitions.toml`` (shipped in the package): a title, the
citation, a sentence saying what it requires, and the options it sets (relapse-free windows and
baseline scheme). ``pira_definition="mueller2025"`` (``--pira-definition mueller2025``) expands to
those options; options given beside it win, and the settings file and methods paragraph spell out
what it expanded to.

Examples
--------
>>> sorted(definitions())
['cagol2022', 'kappos2020', 'mueller2023', 'mueller2023_specific', 'mueller2025']
>>> d = definition("mueller2025")
>>> d.settings["relapse_indep"]["prec_type"], d.settings["relapse_rebl"]
('last', True)
>>> expand({"pira_definition": "mueller2023", "baseline": "fixed"})["baseline"]
'fixed'
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from smoulder.clinical.choices import PIRA_DEFINITIONS
from smoulder.exceptions import SettingsError

__all__ = ["Definition", "definition", "definitions", "expand"]


@dataclass(frozen=True)
class Definition:
    """One named PIRA definition.

    Attributes
    ----------
    name : str
        The name given to ``pira_definition`` (``kappos2020``).
    title, citation : str
        Who defined it, and where.
    words : str
        What it requires, in one phrase (used in the methods paragraph).
    settings : dict
        The options it sets, as a settings file would write them.
    """

    name: str
    title: str
    citation: str
    words: str
    settings: dict[str, Any] = field(default_factory=dict)

    def expansion(self) -> str:
        """The options it sets, as one line (``baseline = 'roving', relapse_rebl = True, ...``)."""
        return ", ".join(f"{k} = {v!r}" for k, v in self.settings.items())


@functools.cache
def definitions() -> dict[str, Definition]:
    """Every shipped definition, by name (read once from the package's TOML table)."""
    text = resources.files("smoulder.clinical").joinpath("pira_definitions.toml").read_text("utf-8")
    out = {}
    for name, table in tomllib.loads(text).items():
        out[name] = Definition(
            name=name,
            title=table["title"],
            citation=table["citation"],
            words=table["words"],
            settings=dict(table.get("settings", {})),
        )
    if tuple(sorted(out)) != tuple(sorted(PIRA_DEFINITIONS)):  # pragma: no cover - packaging
        raise RuntimeError("pira_definitions.toml and smoulder.clinical.choices disagree")
    return out


def definition(name: str) -> Definition:
    """The definition called ``name``.

    Raises
    ------
    SettingsError
        Naming the known definitions.
    """
    found = definitions().get(str(name))
    if found is None:
        err = SettingsError(
            "pira_definition must be one of "
            + ", ".join(repr(n) for n in PIRA_DEFINITIONS)
            + f" (got {name!r})"
        )
        err.parameter, err.given = "pira_definition", name
        raise err
    return found


def expand(options: dict[str, Any]) -> dict[str, Any]:
    """Options with their ``pira_definition`` spelled out: the definition's options first, the
    options given beside it on top (a new dict; ``options`` is not changed)."""
    name = options.get("pira_definition")
    if name is None:
        return dict(options)
    out = dict(definition(name).settings)
    out.update(options)
    return out
