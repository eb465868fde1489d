"""One way to declare, check and serialise the settings of an analysis.

Every analysis of smoulder (progression, composite, milestones, SPMS, digital detection, PRL, SEL,
...) keeps its options in a subclass of :class:`Settings`:

* **frozen**: a settings object never changes after it is built; :meth:`Settings.replace` returns a
  validated copy with some values changed;
* **validated on construction**: a bad value raises :class:`~smoulder.exceptions.SettingsError`
  naming the parameter, the allowed values and what was given (never a pydantic traceback);
* **serialisable**: :meth:`Settings.to_dict` (plain JSON/TOML types, ``inf`` kept as a float),
  :meth:`Settings.to_toml` / :meth:`Settings.from_toml` (under a ``[section]`` table named by the
  class's ``section``) and :meth:`Settings.from_mapping` round-trip exactly.

Reading a settings *file* is the job of :mod:`smoulder.io`; this module only parses text.

Examples
--------
>>> from typing import Literal
>>> class ToySettings(Settings):
...     section = "toy"
...     baseline: Literal["fixed", "roving"] = "fixed"
...     conf_days: float = 84.0
>>> s = ToySettings(baseline="roving")
>>> s.replace(conf_days=168).conf_days
168.0
>>> ToySettings.from_toml(s.to_toml()) == s
True
>>> ToySettings(baseline="rolling")
Traceback (most recent call last):
...
smoulder.exceptions.SettingsError: baseline must be one of 'fixed' or 'roving' (got 'rolling')
"""

import difflib
import json
import math
import tomllib
from collections.abc import Mapping
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, ValidationError

from smoulder.exceptions import SettingsError

__all__ = ["Settings", "settings_error"]


def _plain(value: Any) -> Any:
    """Turn tuples, sets and nested models into JSON/TOML-friendly lists and dicts."""
    if isinstance(value, BaseModel):
        return {k: _plain(v) for k, v in value.model_dump().items()}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    return value


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def json_text(data: Any, indent: int | None = 2) -> str:
    """Strict JSON (RFC 8259) that R's jsonlite and JavaScript read as they are.

    JSON has no infinity: an infinite number (``--require-sust-days inf``) is written as the string
    ``"inf"`` (which the settings classes read back as infinity), ``-inf`` as ``"-inf"`` and NaN
    as ``null``. Values JSON does not know (dates, paths) are written as their text.

    Parameters
    ----------
    data : Any
        Plain Python data (dicts, lists, numbers, strings).
    indent : int or None
        Indentation, as for :func:`json.dumps`.

    Returns
    -------
    str
        The JSON text.

    Examples
    --------
    >>> json_text({"require_sust_days": float("inf"), "conf_days": [84.0]}, indent=None)
    '{"require_sust_days": "inf", "conf_days": [84.0]}'
    """
    return json.dumps(_json_safe(data), indent=indent, default=str, allow_nan=False)


def settings_error(exc: ValidationError, model: type[BaseModel]) -> SettingsError:
    """Translate a pydantic :class:`ValidationError` into one :class:`SettingsError`.

    The message names each parameter, the allowed values (for choices) or the expected type, and
    what was given. Unknown parameters get a "did you mean" suggestion.
    """
    fields = list(model.model_fields)
    msgs: list[str] = []
    first: dict[str, Any] = {}
    for err in exc.errors():
        loc = [str(x) for x in err.get("loc", ())]
        name = loc[0] if loc else "settings"
        where = ".".join(loc) or "settings"
        given = err.get("input")
        kind = err.get("type", "")
        ctx = err.get("ctx") or {}
        if kind == "extra_forbidden":
            close = difflib.get_close_matches(name, fields, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            msg = f"unknown parameter {name!r}{hint} (allowed: {', '.join(fields)})"
            given = None
        elif kind == "literal_error":
            msg = f"{where} must be one of {ctx.get('expected', '')}"
        elif kind == "value_error" and isinstance(ctx.get("error"), SettingsError):
            inner = ctx["error"]
            msg = str(inner)
            if not msg.startswith(name):
                msg = f"{where}: {msg}"
            given = None  # the inner message already says what it got
        elif kind == "value_error":
            msg = f"{where}: {ctx.get('error', err.get('msg', 'invalid value'))}"
        elif kind == "missing":
            msg = f"{where} is required"
            given = None
        else:
            msg = f"{where}: {err.get('msg', 'invalid value')}"
        if given is not None:
            msg += f" (got {given!r})"
        if not first:
            first = {"parameter": where, "given": err.get("input")}
        msgs.append(msg)
    out = SettingsError("; ".join(msgs) if msgs else str(exc))
    out.parameter = first.get("parameter")
    out.given = first.get("given")
    return out


class Settings(BaseModel):
    """Base class of every analysis's settings: frozen, validated, serialisable.

    Subclasses declare their parameters as annotated class attributes with defaults (pydantic
    fields) and set the class variable ``section`` to the TOML table they are written under.
    Field validators may raise :class:`~smoulder.exceptions.SettingsError` with a message that
    starts with the parameter's name.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    #: TOML table the settings are written under (``[progression]``, ``[prl]``, ...).
    section: ClassVar[str] = "settings"

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise settings_error(exc, type(self)) from None

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None = None, **overrides: Any) -> Self:
        """Build from a plain mapping (optionally nested under ``section``) plus overrides.

        Overrides win over the mapping; ``None`` overrides are ignored so that unset command-line
        flags keep the file's value.
        """
        merged: dict[str, Any] = {}
        if data:
            inner = data.get(cls.section, data) if isinstance(data, Mapping) else data
            if not isinstance(inner, Mapping):
                raise SettingsError(
                    f"settings must be a table of parameters (got {type(inner).__name__})"
                )
            merged.update(inner)
        merged.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**merged)

    @classmethod
    def from_toml(cls, text: str) -> Self:
        """Parse TOML text written by :meth:`to_toml` (or a table of the same parameters)."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"settings are not valid TOML: {exc}") from None
        return cls.from_mapping(data)

    @classmethod
    def from_json(cls, text: str) -> Self:
        """Parse JSON text written by :meth:`to_json`."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SettingsError(f"settings are not valid JSON: {exc}") from None
        return cls.from_mapping(data)

    def replace(self, **changes: Any) -> Self:
        """A validated copy with ``changes`` applied (the original is unchanged)."""
        data = self.model_dump()
        data.update(changes)
        return type(self)(**data)

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        """Every parameter as plain Python (lists for pairs; ``None`` values left out)."""
        return {k: _plain(v) for k, v in self.model_dump().items() if v is not None}

    def to_toml(self) -> str:
        """TOML text under a ``[section]`` table (``inf`` is written as TOML's ``inf``)."""
        import tomli_w

        return tomli_w.dumps({self.section: self.to_dict()})

    def to_json(self) -> str:
        """Strict JSON text (an infinite number of days is the string ``"inf"``; see :func:`json_text`)."""
        return json_text(self.to_dict())

    def describe(self) -> str:
        """One line per parameter that differs from its default, for logs and reports."""
        defaults = type(self)()
        lines = []
        for name in type(self).model_fields:
            v, d = getattr(self, name), getattr(defaults, name, None)
            if v != d and not (
                isinstance(v, float) and isinstance(d, float) and math.isnan(v) and math.isnan(d)
            ):
                lines.append(f"{name} = {_plain(v)!r}")
        return "\n".join(lines) if lines else "(all defaults)"
