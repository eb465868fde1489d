"""Settings of a progression analysis, validated, serialisable and citable.

Every option of msprog is here under its msprog name (snake_case), with msprog's default, except
``edss_half_step_from`` (consensus default 6.0; use 5.5 to reproduce msprog) and the additions
listed in ``docs/progression.md``. Settings are frozen (:meth:`~smoulder._params.Settings.replace`
gives a validated copy) and are written next to every output (TOML and JSON) so that anyone can
rerun the analysis with ``--settings``.

``pira_definition`` names one of the PIRA definitions shipped as data
(:mod:`smoulder.clinical.presets`): it sets the relapse-free windows and baseline scheme of that
definition; options given beside it win.

Examples
--------
>>> s = ProgressionSettings(event="multiple", baseline="roving", classify_cdw=True)
>>> s.windows()
[(77.0, 814.5)]
>>> ProgressionSettings.from_toml(s.to_toml()) == s
True
>>> k = ProgressionSettings(pira_definition="kappos2020")
>>> (k.baseline, k.relapse_rebl, k.relapse_indep["event"])
('fixed', True, (None, 30.0))
>>> ProgressionSettings(conf_days=[-84])
Traceback (most recent call last):
...
smoulder.exceptions.SettingsError: conf_days must be positive numbers of days (got [-84])
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Self

from pydantic import field_validator, model_validator

from smoulder._params import Settings
from smoulder.clinical.choices import (
    PIRA_DEFINITIONS,
    Baseline,
    Combine,
    Direction,
    Event,
    Outcome,
    PiraDefinition,
    ProceedFrom,
    SkipLocalExtrema,
    SubThresholdRebaseline,
)
from smoulder.exceptions import SettingsError

if TYPE_CHECKING:  # pragma: no cover
    from smoulder.clinical.thresholds import MinimalChange

__all__ = ["ProgressionSettings", "make_settings"]

Pair = tuple[float, float]
OpenPair = tuple[float | None, float | None]

_PAIRS = ("relapse_to_bl", "relapse_to_event", "relapse_to_conf", "relapse_assoc")
_DEFAULT_INDEP = {
    "prec": (0.0, 0.0),
    "event": (90.0, 30.0),
    "conf": (90.0, 30.0),
    "prec_type": "baseline",
}


def _error(message: str, parameter: str, given: Any = None) -> SettingsError:
    err = SettingsError(message)
    err.parameter = parameter
    err.given = given
    return err


def _pair(value: Any, name: str, right_default: float = 0.0) -> Pair:
    """Normalise a number or a (before, after) pair, as msprog does."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        out = (float(value), right_default)
    elif isinstance(value, (list, tuple)) and len(value) in (1, 2):
        out = (float(value[0]), float(value[1]) if len(value) == 2 else right_default)
    else:
        raise SettingsError(
            f"{name} must be a number of days or a pair [before, after] (got {value!r})"
        )
    if any(math.isnan(x) or x < 0 for x in out):
        raise SettingsError(f"{name} must be non-negative days (got {value!r})")
    return out


class ProgressionSettings(Settings):
    """All options of a progression analysis (one outcome).

    Parameters mirror msprog's ``MSprog`` arguments; see ``docs/progression.md`` for each
    option's meaning and a hand-worked example of its effect.

    Parameters
    ----------
    outcome : {"edss", "t25fw", "nhpt", "sdmt", "custom"}
        The outcome measure; sets the direction of worsening and the minimal change.
    direction : {"increase", "decrease"}, optional
        Which direction is worse (``custom`` outcomes only).
    min_change, min_change_pct : float, optional
        Minimal change in points and/or in % of the baseline (``custom``; override the 20 % of
        the timed tests and the 4 points / 20 % of SDMT).
    min_change_combine : {"min", "max"}
        How to combine the two when both are given.
    edss_half_step_from : float
        EDSS baseline from which +0.5 counts (6.0, the consensus; 5.5 reproduces msprog).
    event : {"firstCDW", "firstCDI", "first", "firstPIRA", "firstRAW", "multiple"}
        Which events to report.
    classify_cdw : bool
        Classify each CDW as PIRA, RAW or undefined (msprog's ``RAW_PIRA``).
    baseline : {"fixed", "roving", "roving_impr", "roving_wors"}
        Baseline scheme.
    proceed_from : {"firstconf", "event"}
        Where a roving baseline moves after an event and the search goes on.
    sub_threshold_rebl : {"none", "event", "improvement", "worsening"}
        Whether confirmed changes below the minimal change move a roving baseline.
    bl_geq : bool
        After a relapse re-baseline, the worsening reference never drops below the previous one.
    relapse_rebl : bool
        Re-baseline after every relapse.
    skip_local_extrema : {"none", "strict", "all"}
        Never place the baseline at a (strict) local extremum.
    conf_days : list of float
        Confirmation period(s) in days; several mean "confirmed at any of them".
    conf_tol_days : pair of float, or mapping of conf_days to pairs
        Tolerance before and after each confirmation period.
    require_sust_days : float
        Days the change must be sustained (``inf``: to the end of follow-up).
    check_intermediate : bool
        Confirm at every visit up to the confirmation, not only at it.
    relapse_to_bl, relapse_to_event, relapse_to_conf : pair of float
        Days after (and before) a relapse onset within which a visit is no baseline / event /
        confirmation.
    relapse_assoc : pair of float
        Days after (and before) a relapse onset within which a CDW is RAW.
    pira_definition : str, optional
        A named PIRA definition (``mueller2023``, ``mueller2023_specific``, ``kappos2020``,
        ``cagol2022``, ``mueller2025``) that sets the options of :data:`relapse_indep` and the
        baseline scheme; explicitly given options win.
    relapse_indep : mapping
        Relapse-free windows of PIRA around the preceding visit (``prec``, which one is
        ``prec_type``: ``baseline``, ``last`` or ``last_delta``), the event and the confirmation.
    impute_last_visit : float
        Impute an unconfirmed worsening at the last visit: 0 never, a probability, or a number
        of days of follow-up within which to impute.
    seed : int
        Seed of probabilistic imputation (with the subject's id).
    """

    section: ClassVar[str] = "progression"

    outcome: Outcome = "edss"
    direction: Direction | None = None
    min_change: float | None = None
    min_change_pct: float | None = None
    min_change_combine: Combine = "min"
    edss_half_step_from: float = 6.0

    event: Event = "firstCDW"
    classify_cdw: bool = False
    baseline: Baseline = "fixed"
    proceed_from: ProceedFrom = "firstconf"
    sub_threshold_rebl: SubThresholdRebaseline = "none"
    bl_geq: bool = False
    relapse_rebl: bool = False
    skip_local_extrema: SkipLocalExtrema = "none"

    conf_days: list[float] = [84.0]
    conf_tol_days: Pair | dict[float, Pair] = (7.0, 730.5)
    require_sust_days: float = 0.0
    check_intermediate: bool = True

    relapse_to_bl: Pair = (30.0, 0.0)
    relapse_to_event: Pair = (0.0, 0.0)
    relapse_to_conf: Pair = (30.0, 0.0)
    relapse_assoc: Pair = (90.0, 0.0)
    pira_definition: PiraDefinition | None = None
    relapse_indep: dict[str, Any] = dict(_DEFAULT_INDEP)
    impute_last_visit: float = 0.0
    seed: int = 0

    def __init__(self, **data: Any) -> None:
        super().__init__(**data)
        self._check_consistent()

    # ------------------------------------------------------------------ validation
    @model_validator(mode="before")
    @classmethod
    def _expand_definition(cls, data: Any) -> Any:
        """A named PIRA definition sets its options; options given beside it win."""
        # an unknown name is left to the field's own check (it names the parameter and choices)
        if isinstance(data, Mapping) and data.get("pira_definition") in PIRA_DEFINITIONS:
            from smoulder.clinical.presets import expand

            return expand(dict(data))
        return data

    @field_validator("conf_days", mode="before")
    @classmethod
    def _conf_days(cls, v: Any) -> list[float]:
        vals = [v] if isinstance(v, (int, float)) else list(v)
        if not vals:
            raise SettingsError("conf_days needs at least one confirmation period (got [])")
        for x in vals:
            if not isinstance(x, (int, float)) or isinstance(x, bool) or not x > 0 or math.isinf(x):
                raise SettingsError(f"conf_days must be positive numbers of days (got {v!r})")
        if len(set(vals)) != len(vals):
            raise SettingsError(f"conf_days has repeated values (got {v!r})")
        return [float(x) for x in vals]

    @field_validator("conf_tol_days", mode="before")
    @classmethod
    def _conf_tol(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {
                float(k): _pair(p if isinstance(p, (list, tuple)) else (p, p), "conf_tol_days")
                for k, p in v.items()
            }
        if isinstance(v, (int, float)):
            return _pair((v, v), "conf_tol_days")
        if isinstance(v, (list, tuple)) and len(v) == 1:
            return _pair((v[0], v[0]), "conf_tol_days")
        return _pair(v, "conf_tol_days")

    @field_validator(*_PAIRS, mode="before")
    @classmethod
    def _rel_pairs(cls, v: Any, info: Any) -> Pair:
        return _pair(v, info.field_name)

    @field_validator("relapse_indep", mode="before")
    @classmethod
    def _rel_indep(cls, v: Any) -> dict[str, Any]:
        if not isinstance(v, Mapping):
            raise SettingsError(
                "relapse_indep must be a mapping like {'prec': [0, 0], 'event': [90, 30], "
                f"'conf': [90, 30], 'prec_type': 'baseline'}} (got {v!r})"
            )
        unknown = set(v) - {"prec", "event", "conf", "prec_type"}
        if unknown:
            raise SettingsError(
                f"relapse_indep has unknown keys {sorted(unknown)} "
                "(allowed: prec, event, conf, prec_type)"
            )
        out: dict[str, Any] = {}
        for key in ("prec", "event", "conf"):
            if key not in v:
                raise SettingsError(
                    f"relapse_indep needs the key '{key}' (a pair of days) (got {dict(v)!r})"
                )
            pair = v[key]
            if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                raise SettingsError(
                    f"relapse_indep['{key}'] must be a pair [before, after] (got {pair!r})"
                )
            conv: list[float | None] = []
            for x in pair:
                if x is None or (isinstance(x, str) and x.lower() in ("none", "open")):
                    conv.append(None)
                elif isinstance(x, (int, float)) and not isinstance(x, bool) and x >= 0:
                    conv.append(float(x))
                else:
                    raise SettingsError(
                        f"relapse_indep['{key}'] ends must be non-negative days or none "
                        f"(got {pair!r})"
                    )
            out[key] = tuple(conv)
        # as msprog's relapse_indep_from_bounds: the first window starts somewhere, the last ends
        if out["prec"][0] is None:
            raise SettingsError(
                "relapse_indep['prec'] must start a number of days before the preceding visit "
                f"(0 for at it), not none (got {v['prec']!r})"
            )
        if out["conf"][1] is None:
            raise SettingsError(
                "relapse_indep['conf'] must end a number of days after the confirmation "
                f"(0 for at it), not none (got {v['conf']!r})"
            )
        pt = v.get("prec_type", "baseline")
        if pt not in ("baseline", "last", "last_delta"):
            raise SettingsError(
                "relapse_indep['prec_type'] must be one of 'baseline', 'last' or 'last_delta' "
                f"(got {pt!r})"
            )
        out["prec_type"] = pt
        return out

    @field_validator("require_sust_days", mode="before")
    @classmethod
    def _sust(cls, v: Any) -> float:
        if isinstance(v, str) and v.lower() in ("inf", "infinity"):
            return math.inf
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise SettingsError(
                f"require_sust_days must be a number of days or 'inf' (got {v!r})"
            ) from None
        if math.isnan(f) or f < 0:
            raise SettingsError(f"require_sust_days must be >= 0 days or inf (got {v!r})")
        return f

    @field_validator("impute_last_visit")
    @classmethod
    def _impute(cls, v: float) -> float:
        if math.isnan(v) or v < 0:
            raise SettingsError(
                "impute_last_visit must be 0 (never), a probability in (0, 1], or a number of "
                f"days of follow-up > 1 (got {v!r})"
            )
        return v

    def _check_consistent(self) -> None:
        """Checks across parameters, raised naming the parameter to change."""
        self.minimal_change()  # raises on an inconsistent outcome definition
        if isinstance(self.conf_tol_days, dict):
            missing = [c for c in self.conf_days if c not in self.conf_tol_days]
            if missing:
                raise _error(
                    f"conf_tol_days has no tolerance for conf_days {missing} "
                    f"(got {sorted(self.conf_tol_days)})",
                    "conf_tol_days",
                    self.conf_tol_days,
                )

    # ------------------------------------------------------------------ derived values
    @property
    def rawpira(self) -> bool:
        """Whether CDW events are classified as PIRA / RAW / undefined."""
        if self.event in ("firstCDW", "multiple", "first"):
            return self.classify_cdw
        return self.event != "firstCDI"

    def windows(self) -> list[tuple[float, float]]:
        """Confirmation windows as (min days, max days) after the event, one per ``conf_days``."""
        out = []
        for c in self.conf_days:
            tol = (
                self.conf_tol_days[c]
                if isinstance(self.conf_tol_days, dict)
                else self.conf_tol_days
            )
            out.append((int(c) - tol[0], int(c) + tol[1]))
        return out

    def minimal_change(self) -> MinimalChange:
        """The minimal-change rule for these settings."""
        from smoulder.clinical.thresholds import minimal_change

        return minimal_change(
            self.outcome,
            direction=self.direction,
            min_change=self.min_change,
            min_change_pct=self.min_change_pct,
            combine=self.min_change_combine,
            edss_half_step_from=self.edss_half_step_from,
        )

    def definition_changes(self) -> dict[str, Any]:
        """The options of ``pira_definition`` that were given another value (empty if none)."""
        if self.pira_definition is None:
            return {}
        from smoulder.clinical.presets import definition

        wanted = ProgressionSettings(**definition(self.pira_definition).settings)
        return {
            k: getattr(self, k)
            for k in definition(self.pira_definition).settings
            if getattr(self, k) != getattr(wanted, k)
        }

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        """Every parameter as plain JSON/TOML types (open window ends as ``"none"``)."""
        d = self.model_dump()
        ri = {}
        for k, val in d["relapse_indep"].items():
            ri[k] = val if k == "prec_type" else ["none" if x is None else x for x in val]
        d["relapse_indep"] = ri
        if isinstance(d["conf_tol_days"], dict):
            d["conf_tol_days"] = {f"{k:g}": list(v) for k, v in d["conf_tol_days"].items()}
        else:
            d["conf_tol_days"] = list(d["conf_tol_days"])
        for k in _PAIRS:
            d[k] = list(d[k])
        return {k: v for k, v in d.items() if v is not None}

    def to_plain(self) -> dict[str, Any]:
        """The same as :meth:`to_dict` (kept for earlier callers)."""
        return self.to_dict()

    def to_toml(self) -> str:
        """TOML under a ``[section]`` table; a named PIRA definition is spelled out in a comment."""
        text = super().to_toml()
        if self.pira_definition is None:
            return text
        from smoulder.clinical.presets import definition

        d = definition(self.pira_definition)
        changed = self.definition_changes()
        lines = [f"# pira_definition = {d.name!r}: {d.title}: {d.words}.", f"# {d.citation}"]
        lines.append(f"# it sets: {d.expansion()}")
        if changed:
            lines.append(f"# changed here: {', '.join(sorted(changed))}")
        return "\n".join(lines) + "\n" + text

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None = None, **overrides: Any) -> Self:
        """Build from a mapping (a settings file's table) and then overrides (flags).

        One rule: the file, then the flags. A named PIRA definition in either expands where it
        stands (its options first, the options given beside it on top), so a flag
        ``--pira-definition`` replaces the file's definition (the options the file's definition
        set are dropped, the file's own keys stay) and a flag such as ``--baseline`` still wins
        over both. ``None`` overrides are ignored.
        """
        from smoulder.clinical.presets import expand

        inner: dict[str, Any] = {}
        if data:
            if not isinstance(data, Mapping):
                raise SettingsError(
                    f"settings must be a table of parameters (got {type(data).__name__})"
                )
            table = data.get(cls.section)
            inner = dict(table if isinstance(table, Mapping) else data)
        flags = {k: v for k, v in overrides.items() if v is not None}
        if flags.get("pira_definition") is not None:
            # the flag's definition replaces the file's: only the file's own keys stay
            inner.pop("pira_definition", None)
        merged = expand(inner)
        merged.update(expand(flags))
        return cls(**merged)

    def replace(self, **changes: Any) -> Self:
        """A validated copy with ``changes`` applied (a new ``pira_definition`` expands first)."""
        from smoulder.clinical.presets import expand

        merged = expand(self.model_dump())
        merged.update(expand(dict(changes)))
        return type(self)(**merged)


def make_settings(
    settings: ProgressionSettings | Mapping[str, Any] | None = None, **options: Any
) -> ProgressionSettings:
    """Combine a settings object or mapping with keyword overrides, validating all of them.

    Parameters
    ----------
    settings : ProgressionSettings or mapping, optional
        The base (e.g. read from a settings file).
    **options
        Options that override it (``None`` keeps the base's value).

    Returns
    -------
    ProgressionSettings

    Examples
    --------
    >>> make_settings({"event": "multiple"}, baseline="roving").baseline
    'roving'
    """
    if settings is None:
        base: dict[str, Any] = {}
    elif isinstance(settings, ProgressionSettings):
        base = settings.model_dump()
    elif isinstance(settings, Mapping):
        base = dict(settings.get("progression", settings))
    else:
        raise SettingsError(
            f"settings must be ProgressionSettings or a mapping (got {type(settings).__name__})"
        )
    return ProgressionSettings.from_mapping(base, **options)
