"""Minimal clinically meaningful change for each outcome.

The engine compares a score ``x`` with a reference (baseline) value ``b``. A
change counts as *worsening* when it reaches the outcome's minimal change
``delta(b)`` in the direction of worsening, and as *improvement* when it
reaches it in the other direction.

===========  ==========  =====================================================
outcome      worse when  minimal change ``delta(b)``
===========  ==========  =====================================================
``edss``     higher      1.5 if b = 0; 1.0 if 0 < b < ``edss_half_step_from``;
                         0.5 if b >= ``edss_half_step_from`` (default 6.0, the
                         consensus convention; 5.5 reproduces msprog)
``t25fw``    higher      20 % of b (``min_change_pct``)
``nhpt``     higher      20 % of b
``sdmt``     lower       the smaller of 20 % of b and 4 points (msprog's default)
``custom``   chosen      ``min_change`` points and/or ``min_change_pct`` percent
===========  ==========  =====================================================

Percentages are applied as ``b / (100 / pct)`` so that the default 20 % is
computed as ``b / 5`` exactly, as msprog does; the two forms can differ in the
last bit of a float and so decide a borderline event differently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from smoulder.clinical.choices import OUTCOMES
from smoulder.exceptions import SettingsError


def _edss_delta(b: np.ndarray, half_from: float) -> np.ndarray:
    """1.5 from a baseline of 0, 1.0 below ``half_from``, 0.5 from it."""
    out: np.ndarray = np.where(b < half_from, 1.0, 0.5)
    out[b == 0.0] = 1.5  # one array for twenty million visits, not three
    return out


def _error(message: str, parameter: str, given: Any = None) -> SettingsError:
    err = SettingsError(message)
    err.parameter, err.given = parameter, given
    return err


#: Direction of worsening of the built-in outcomes: +1 higher is worse, -1 lower is worse.
DIRECTION = {"edss": 1, "t25fw": 1, "nhpt": 1, "sdmt": -1}


@dataclass(frozen=True)
class MinimalChange:
    """How large a change must be to count, for one outcome.

    Parameters
    ----------
    outcome : str
        One of ``edss``, ``t25fw``, ``nhpt``, ``sdmt``, ``custom``.
    direction : int
        +1 when higher values are worse, -1 when lower values are worse.
    min_change : float or None
        Absolute minimal change in points (``custom`` and ``sdmt``).
    min_change_pct : float or None
        Minimal change as a percentage of the reference value.
    combine : str
        ``"min"`` or ``"max"``: how to combine ``min_change`` and
        ``min_change_pct`` when both are given.
    edss_half_step_from : float
        EDSS reference value from which 0.5 instead of 1.0 counts.
    """

    outcome: str
    direction: int
    min_change: float | None
    min_change_pct: float | None
    combine: str = "min"
    edss_half_step_from: float = 6.0

    def delta(self, reference: np.ndarray) -> np.ndarray:
        """Return the minimal change for each reference value.

        Examples
        --------
        >>> mc = minimal_change("edss")
        >>> mc.delta(np.array([0.0, 1.0, 5.5, 6.0])).tolist()
        [1.5, 1.0, 1.0, 0.5]
        >>> minimal_change("edss", edss_half_step_from=5.5).delta(np.array([5.5])).tolist()
        [0.5]
        >>> minimal_change("sdmt").delta(np.array([50.0, 10.0])).tolist()
        [4.0, 2.0]
        """
        b = np.asarray(reference, dtype=np.float64)
        if self.outcome == "edss":
            return _edss_delta(b, float(self.edss_half_step_from))
        parts = []
        if self.min_change_pct is not None:
            parts.append(np.abs(b) / (100.0 / self.min_change_pct))
        if self.min_change is not None:
            parts.append(np.full(b.shape, float(self.min_change)))
        if len(parts) == 1:
            return parts[0]
        return (
            np.minimum(parts[0], parts[1])
            if self.combine == "min"
            else np.maximum(parts[0], parts[1])
        )

    def describe(self) -> str:
        """Say in words what counts as a meaningful change (used in reports)."""
        worse = "an increase" if self.direction > 0 else "a decrease"
        if self.outcome == "edss":
            return (
                f"{worse} of 1.5 points from a baseline of 0, 1.0 point from a baseline "
                f"between 0.5 and {self.edss_half_step_from - 0.5:g}, and 0.5 points from a "
                f"baseline of {self.edss_half_step_from:g} or more"
            )
        bits = []
        if self.min_change_pct is not None:
            bits.append(f"{self.min_change_pct:g} % of the baseline value")
        if self.min_change is not None:
            bits.append(f"{self.min_change:g} points")
        joint = " or ".join(bits)
        if len(bits) == 2:
            joint = f"the {'smaller' if self.combine == 'min' else 'larger'} of {joint.replace(' or ', ' and ')}"
        return f"{worse} of {joint}"


def minimal_change(
    outcome: str,
    *,
    direction: str | int | None = None,
    min_change: float | None = None,
    min_change_pct: float | None = None,
    combine: str = "min",
    edss_half_step_from: float = 6.0,
) -> MinimalChange:
    """Build the minimal-change rule for an outcome, with optional overrides.

    Parameters
    ----------
    outcome : str
        ``edss``, ``t25fw``, ``nhpt``, ``sdmt`` or ``custom``.
    direction : {"increase", "decrease"} or None
        Direction of worsening; required for ``custom``, fixed for the others.
    min_change, min_change_pct : float or None
        Override the outcome's default threshold; at least one is required for
        ``custom``.
    combine : {"min", "max"}
        How to combine the two when both are given.
    edss_half_step_from : float
        See the module documentation.

    Returns
    -------
    MinimalChange

    Raises
    ------
    SettingsError
        If a parameter is out of range or missing for ``custom``.

    Examples
    --------
    >>> rule = minimal_change("edss")
    >>> [float(rule.delta(b)) for b in (0.0, 3.0, 6.0)]
    [1.5, 1.0, 0.5]
    >>> float(minimal_change("sdmt").delta(50.0))
    4.0
    """
    outcome = str(outcome).lower()
    if outcome not in OUTCOMES:
        raise _error(
            f"outcome must be one of {', '.join(repr(o) for o in OUTCOMES)} (got {outcome!r})",
            "outcome",
            outcome,
        )
    if combine not in ("min", "max"):
        raise _error(
            f"min_change_combine must be one of 'min' or 'max' (got {combine!r})",
            "min_change_combine",
            combine,
        )
    if not 0.5 <= edss_half_step_from <= 10:
        raise _error(
            "edss_half_step_from must be an EDSS value between 0.5 and 10 "
            f"(got {edss_half_step_from!r})",
            "edss_half_step_from",
            edss_half_step_from,
        )
    for name, val in (("min_change", min_change), ("min_change_pct", min_change_pct)):
        if val is not None and not (np.isfinite(val) and val > 0):
            raise _error(f"{name} must be a positive number (got {val!r})", name, val)
    if outcome == "custom":
        if direction not in ("increase", "decrease", 1, -1):
            raise _error(
                "direction must be 'increase' (higher is worse) or 'decrease' (lower is worse) "
                f"for outcome 'custom' (got {direction!r})",
                "direction",
                direction,
            )
        if min_change is None and min_change_pct is None:
            raise _error(
                "min_change and/or min_change_pct is needed for outcome 'custom' (got neither)",
                "min_change",
            )
        d = 1 if direction in ("increase", 1) else -1
        return MinimalChange(outcome, d, min_change, min_change_pct, combine, edss_half_step_from)
    d = DIRECTION[outcome]
    if direction is not None and direction not in (("increase", 1) if d > 0 else ("decrease", -1)):
        raise _error(
            f"direction of worsening of {outcome} is fixed "
            f"({'increase' if d > 0 else 'decrease'}) (got {direction!r})",
            "direction",
            direction,
        )
    if outcome == "edss":
        if min_change is not None or min_change_pct is not None:
            raise _error(
                "min_change and min_change_pct do not apply to EDSS: its thresholds are set by "
                f"edss_half_step_from (got min_change={min_change!r}, "
                f"min_change_pct={min_change_pct!r})",
                "min_change" if min_change is not None else "min_change_pct",
            )
        return MinimalChange("edss", 1, None, None, combine, edss_half_step_from)
    if min_change is None and min_change_pct is None:
        if outcome == "sdmt":
            min_change, min_change_pct = 4.0, 20.0
        else:
            min_change_pct = 20.0
    return MinimalChange(outcome, d, min_change, min_change_pct, combine, edss_half_step_from)
