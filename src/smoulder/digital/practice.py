"""Practice (learning) effects in repeated home tests.

Smartphone tests improve with repetition before they plateau (Woelfle et al. 2021: e-SDMT +41 %,
pinching +86 % over the first tens of runs). Judging decline against a baseline taken during the
learning phase would hide real worsening behind continuing improvement, and judging it against the
learning curve's early points would mistake the plateau for recovery. smoulder therefore finds the
end of the learning phase in each person's series and leaves the tests before it out of the
baseline.

Model: on the judging scale (log for ratio measures), signed so that larger is better,

    y_i = a - b * exp(-i / tau)

over the test index ``i``; ``tau`` is searched on a grid and ``a, b`` are fitted by least squares.
A learning effect is declared when ``b > 0`` and the curve explains significantly more than a flat
line (F test, ``p < p_value``). The learning phase ends at the first test where the gain still to
come, ``b * exp(-i / tau)``, is below ``remaining_sd`` residual SDs; it is capped at ``max_tests``.
Only the first ``fit_tests`` tests are fitted, so that a decline years later does not distort the
learning curve.

Examples
--------
>>> import numpy as np
>>> from smoulder.digital.practice import learning_phase
>>> i = np.arange(60)
>>> y = 40 + 12 * (1 - np.exp(-i / 5)) + np.random.default_rng(0).normal(0, 1, 60)
>>> fit = learning_phase(np.log(y))
>>> fit.detected, 10 <= fit.end <= 25
(True, True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = ["LearningFit", "learning_phase"]

_TAU_GRID = np.unique(np.round(np.geomspace(0.7, 40.0, 60), 3))


@dataclass(frozen=True)
class LearningFit:
    """Result of :func:`learning_phase`.

    Attributes
    ----------
    detected : bool
        Whether a significant learning effect was found.
    end : int
        Index of the first test after the learning phase (0 when none was found).
    gain : float
        Total improvement ``b`` on the judging scale (a fraction of the level for log-scale
        measures, approximately).
    tau : float
        Time constant in tests.
    p_value : float
        F test of the curve against a flat line.
    """

    detected: bool
    end: int
    gain: float
    tau: float
    p_value: float


def learning_phase(
    y: np.ndarray,
    *,
    fit_tests: int = 52,
    max_tests: int = 40,
    remaining_sd: float = 0.5,
    p_value: float = 0.05,
    min_tests: int = 10,
) -> LearningFit:
    """Find the end of the learning phase in a series signed so that larger is better.

    Parameters
    ----------
    y : array
        Test results in order, on the judging scale, larger is better.
    fit_tests : int
        Number of first tests used for the fit.
    max_tests : int
        Longest learning phase allowed.
    remaining_sd : float
        The phase ends when the improvement still to come is below this many residual SDs.
    p_value : float
        Significance needed to declare a learning effect.
    min_tests : int
        Below this many tests no learning effect is looked for.

    Returns
    -------
    LearningFit
        Whether a learning effect was found, where the phase ends, gain, time constant, p-value.
    """
    y = np.asarray(y, dtype=float)[:fit_tests]
    n = y.size
    none = LearningFit(False, 0, 0.0, float("nan"), 1.0)
    if n < max(min_tests, 5):
        return none
    i = np.arange(n, dtype=float)
    rss0 = float(np.sum((y - y.mean()) ** 2))
    if rss0 <= 0:
        return none
    best = None
    for tau in _TAU_GRID:
        e = np.exp(-i / tau)
        x = np.column_stack((np.ones(n), -e))
        coef, *_ = np.linalg.lstsq(x, y, rcond=None)
        rss = float(np.sum((y - x @ coef) ** 2))
        if best is None or rss < best[0]:
            best = (rss, float(tau), float(coef[1]))
    if best is None:  # pragma: no cover - the grid is never empty
        return none
    rss1, tau, b = best
    df2 = n - 3
    if df2 <= 0 or b <= 0:
        return none
    f = ((rss0 - rss1) / 2.0) / max(rss1 / df2, 1e-300)
    p = float(stats.f.sf(f, 2, df2))
    if p >= p_value:
        return LearningFit(False, 0, b, tau, p)
    sd = np.sqrt(rss1 / df2)
    end = int(np.ceil(tau * np.log(b / (remaining_sd * sd)))) if b > remaining_sd * sd else 0
    return LearningFit(True, int(min(max(end, 0), max_tests)), b, tau, p)
