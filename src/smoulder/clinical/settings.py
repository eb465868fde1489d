"""Settings of a progression analysis, validated, serialisable and citable.

Every option of msprog is here under its msprog name (snake_case), with
msprog's default, except ``edss_half_step_from`` (consensus default 6.0; use
5.5 to reproduce msprog) and the additions listed in ``docs/progression.md``.
Settings are written next to every output (TOML and JSON) so that anyone can
rerun the analysis with ``--settings``.
"""

from __future__ import annotations

import json
import math
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from smoulder.exceptions import SettingsError

Pair = tuple[float, float]
OpenPair = tuple[float | None, float | None]

EVENTS = ("firstCDW", "firstCDI", "first", "firstPIRA", "firstRAW", "multiple")
BASELINES = ("fixed", "roving", "roving_impr", "roving_wors")


def _pair(value: Any, name: str, right_default: float = 0.0) -> Pair:
    """Normalise a number or a (before, after) pair, as msprog does."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        out = (float(value), right_default)
    elif isinstance(value, (list, tuple)) and len(value) in (1, 2):
        out = (float(value[0]), float(value[1]) if len(value) == 2 else right_default)
    else:
        raise SettingsError(
            f"{name} must be a number of days or a pair [before, after]; got {value!r}"
        )
    if any(math.isnan(x) or x < 0 for x in out):
        raise SettingsError(f"{name} must be non-negative days; got {value!r}")
    return out


class ProgressionSettings(BaseModel):
    """All options of a progression analysis (one outcome).

    Parameters mirror msprog's ``MSprog`` arguments; see ``docs/progression.md``
    for each option's meaning and a hand-worked example of its effect.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    outcome: Literal["edss", "t25fw", "nhpt", "sdmt", "custom"] = "edss"
    direction: Literal["increase", "decrease"] | None = None
    min_change: float | None = None
    min_change_pct: float | None = None
    min_change_combine: Literal["min", "max"] = "min"
    edss_half_step_from: float = 6.0

    event: Literal["firstCDW", "firstCDI", "first", "firstPIRA", "firstRAW", "multiple"] = (
        "firstCDW"
    )
    classify_cdw: bool = False
    baseline: Literal["fixed", "roving", "roving_impr", "roving_wors"] = "fixed"
    proceed_from: Literal["firstconf", "event"] = "firstconf"
    sub_threshold_rebl: Literal["none", "event", "improvement", "worsening"] = "none"
    bl_geq: bool = False
    relapse_rebl: bool = False
    skip_local_extrema: Literal["none", "strict", "all"] = "none"

    conf_days: list[float] = [84.0]
    conf_tol_days: Pair | dict[float, Pair] = (7.0, 730.5)
    require_sust_days: float = 0.0
    check_intermediate: bool = True

    relapse_to_bl: Pair = (30.0, 0.0)
    relapse_to_event: Pair = (0.0, 0.0)
    relapse_to_conf: Pair = (30.0, 0.0)
    relapse_assoc: Pair = (90.0, 0.0)
    relapse_indep: dict[str, Any] = {
        "prec": (0.0, 0.0),
        "event": (90.0, 30.0),
        "conf": (90.0, 30.0),
        "prec_type": "baseline",
    }
    impute_last_visit: float = 0.0
    seed: int = 0

    @field_validator("conf_days", mode="before")
    @classmethod
    def _conf_days(cls, v: Any) -> list[float]:
        vals = [v] if isinstance(v, (int, float)) else list(v)
        if not vals:
            raise SettingsError("conf_days needs at least one confirmation period")
        for x in vals:
            if not isinstance(x, (int, float)) or isinstance(x, bool) or not x > 0 or math.isinf(x):
                raise SettingsError(f"conf_days must be positive numbers of days; got {v!r}")
        if len(set(vals)) != len(vals):
            raise SettingsError(f"conf_days has repeated values: {v!r}")
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

    @field_validator(
        "relapse_to_bl", "relapse_to_event", "relapse_to_conf", "relapse_assoc", mode="before"
    )
    @classmethod
    def _rel_pairs(cls, v: Any, info: Any) -> Pair:
        return _pair(v, info.field_name)

    @field_validator("relapse_indep", mode="before")
    @classmethod
    def _rel_indep(cls, v: Any) -> dict[str, Any]:
        if not isinstance(v, dict):
            raise SettingsError(
                "relapse_indep must be a mapping like {'prec': [0, 0], 'event': [90, 30], "
                f"'conf': [90, 30], 'prec_type': 'baseline'}}; got {v!r}"
            )
        unknown = set(v) - {"prec", "event", "conf", "prec_type"}
        if unknown:
            raise SettingsError(f"relapse_indep has unknown keys {sorted(unknown)}")
        out: dict[str, Any] = {}
        for key in ("prec", "event", "conf"):
            if key not in v:
                raise SettingsError(f"relapse_indep needs the key '{key}' (a pair of days)")
            pair = v[key]
            if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                raise SettingsError(
                    f"relapse_indep['{key}'] must be a pair [before, after]; got {pair!r}"
                )
            conv: list[float | None] = []
            for x in pair:
                if x is None or (isinstance(x, str) and x.lower() in ("none", "open")):
                    conv.append(None)
                elif isinstance(x, (int, float)) and not isinstance(x, bool) and x >= 0:
                    conv.append(float(x))
                else:
                    raise SettingsError(
                        f"relapse_indep['{key}'] ends must be non-negative days or None; got {pair!r}"
                    )
            out[key] = tuple(conv)
        pt = v.get("prec_type", "baseline")
        if pt not in ("baseline", "last", "last_delta"):
            raise SettingsError(
                f"relapse_indep['prec_type'] must be 'baseline', 'last' or 'last_delta'; got {pt!r}"
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
        except (TypeError, ValueError) as exc:
            raise SettingsError(
                f"require_sust_days must be a number of days or 'inf'; got {v!r}"
            ) from exc
        if math.isnan(f) or f < 0:
            raise SettingsError(f"require_sust_days must be >= 0 or inf; got {v!r}")
        return f

    @field_validator("impute_last_visit")
    @classmethod
    def _impute(cls, v: float) -> float:
        if math.isnan(v) or v < 0:
            raise SettingsError(
                "impute_last_visit must be 0 (never), a probability in (0, 1], or a number of "
                f"days of follow-up > 1; got {v!r}"
            )
        return v

    @model_validator(mode="after")
    def _consistent(self) -> ProgressionSettings:
        self.minimal_change()  # raises on an inconsistent outcome definition
        if isinstance(self.conf_tol_days, dict):
            missing = [c for c in self.conf_days if c not in self.conf_tol_days]
            if missing:
                raise SettingsError(f"conf_tol_days has no tolerance for conf_days {missing}")
        return self

    # ------------------------------------------------------------------ helpers
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

    def minimal_change(self):  # noqa: ANN201 - returns MinimalChange
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

    def to_plain(self) -> dict[str, Any]:
        """A JSON/TOML-friendly dict (open ends as the string ``"none"``, inf as a float)."""
        d = self.model_dump()
        ri = {}
        for k, val in d["relapse_indep"].items():
            ri[k] = val if k == "prec_type" else ["none" if x is None else x for x in val]
        d["relapse_indep"] = ri
        if isinstance(d["conf_tol_days"], dict):
            d["conf_tol_days"] = {f"{k:g}": list(v) for k, v in d["conf_tol_days"].items()}
        else:
            d["conf_tol_days"] = list(d["conf_tol_days"])
        for k in ("relapse_to_bl", "relapse_to_event", "relapse_to_conf", "relapse_assoc"):
            d[k] = list(d[k])
        return {k: v for k, v in d.items() if v is not None}

    def to_toml(self) -> str:
        """Serialise as TOML under a ``[progression]`` table."""
        import tomli_w

        return tomli_w.dumps({"progression": self.to_plain()})

    def to_json(self) -> str:
        """Serialise as JSON (``Infinity`` for inf)."""
        return json.dumps(self.to_plain(), indent=2)

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> ProgressionSettings:
        """Build from a plain mapping, turning validation errors into :class:`SettingsError`."""
        data = dict(data.get("progression", data))
        try:
            return cls(**data)
        except ValidationError as exc:
            msgs = []
            for err in exc.errors():
                loc = ".".join(str(x) for x in err["loc"]) or "settings"
                msgs.append(f"{loc}: {err['msg']} (got {err.get('input')!r})")
            raise SettingsError("invalid progression settings: " + "; ".join(msgs)) from None

    @classmethod
    def from_file(cls, path: str | Path) -> ProgressionSettings:
        """Read settings from a TOML or JSON file written by :meth:`to_toml` / :meth:`to_json`."""
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise SettingsError(f"{p}: cannot read settings file ({exc.strerror})") from None
        try:
            data = json.loads(text) if p.suffix.lower() == ".json" else tomllib.loads(text)
        except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(
                f"{p}: not valid {'JSON' if p.suffix.lower() == '.json' else 'TOML'}: {exc}"
            ) from None
        return cls.from_mapping(data)
