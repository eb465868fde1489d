"""Result of an SPMS analysis: the per-subject table, the audit trail, methods text and figure."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from smoulder._result import AnalysisResult
from smoulder.clinical import _spms_kernel as K
from smoulder.schema.functional_systems import ALL_SYSTEMS

if TYPE_CHECKING:  # pragma: no cover
    from smoulder.clinical.spms import SPMSSettings

__all__ = ["SPMSResult", "SUMMARY_COLUMNS", "STATUS", "STEP_KINDS"]

#: kinds of step in the audit trail (the ``steps`` table)
STEP_KINDS = {
    K.T_BASELINE: "baseline",
    K.T_FAILED: "worsening did not convert",
    K.T_IMPROVED: "baseline moved: lasting improvement",
    K.T_RELAPSE_JUMP: "baseline moved: relapse followed by an EDSS increase",
    K.T_RELAPSE_WORSENING: "baseline moved: worsening that began with a relapse",
    K.T_CONVERTED: "converted",
}
_REASONS = (
    (K.R_SUSTAINED, "did not last to the last visit"),
    (K.R_RELAPSE, "relapse since the previous visit or within the relapse window"),
    (K.R_EDSS, "EDSS below the minimum at or after it"),
    (K.R_PYRAMIDAL, "pyramidal score below the minimum"),
    (K.R_LEADING, "leading functional system not confirmed"),
    (K.R_STABLE_VISIT, "to the first later visit that stayed stable"),
    (K.R_SKIPPED_NO_FS, "past visits without functional-system scores"),
)

#: per-subject status: why a subject did or did not convert
STATUS = {
    K.S_CONVERTED: "converted",
    K.S_NOT_MET: "not met",
    K.S_FEW_VISITS: "fewer visits than min_visits",
    K.S_NO_FS: "no visit with functional-system scores",
    K.S_NO_BASELINE: "no relapse-free visit with functional-system scores for a baseline",
}

#: columns of the summary table, in the order they are written
SUMMARY_COLUMNS = [
    "subject",
    "spms",
    "spms_date",
    "spms_edss",
    "leading_fs",
    "leading_fs_confirmed",
    "baseline_date",
    "baseline_edss",
    "confirmation_date",
    "confirmed_edss",
    "leading_fs_confirmation_date",
    "previous_visit_date",
    "previous_edss",
    "first_visit_date",
    "last_visit_date",
    "n_visits",
    "n_rebaselines",
    "status",
]


def _summary(
    out: np.ndarray,
    offsets: np.ndarray,
    days: np.ndarray,
    edss: np.ndarray,
    categories: pd.Index,
    s: Any,
) -> pd.DataFrame:
    base = offsets[:-1]

    def glob(col: int) -> np.ndarray:
        local = out[:, col]
        return np.where(local >= 0, base + local, -1)

    def date(idx: np.ndarray) -> np.ndarray:
        res = np.full(len(idx), np.datetime64("NaT"), dtype="datetime64[D]")
        ok = idx >= 0
        res[ok] = days[idx[ok]].astype("datetime64[D]")
        return res.astype("datetime64[s]")

    def value(idx: np.ndarray) -> np.ndarray:
        res = np.full(len(idx), np.nan)
        ok = idx >= 0
        res[ok] = edss[idx[ok]]
        return res

    ev, bl, cf = glob(K.O_EVENT), glob(K.O_BASE), glob(K.O_CONF)
    lc, pv = glob(K.O_LEADCONF), glob(K.O_PREV)
    status = out[:, K.O_STATUS]
    converted = status == K.S_CONVERTED
    # the lowest EDSS from the event through the confirmation visit (what was checked)
    confirmed = np.full(len(ev), np.nan)
    for i in np.flatnonzero(converted & (cf >= 0)):
        confirmed[i] = edss[ev[i] + 1 : cf[i] + 1].min()
    mask = out[:, K.O_LEADMASK]
    names = np.array(ALL_SYSTEMS, dtype=object)
    lead = np.full(len(ev), "", dtype=object)
    lead_ok = np.zeros(len(ev), dtype=bool)
    for i in np.flatnonzero(converted):
        m = int(mask[i])
        conf_bits = m & ((1 << K.N_SYSTEMS) - 1)
        bits = conf_bits if conf_bits else m >> K.N_SYSTEMS
        lead[i] = "+".join(names[k] for k in range(K.N_SYSTEMS) if bits >> k & 1)
        lead_ok[i] = conf_bits != 0
    n_vis = np.diff(offsets)
    first = days[base].astype("datetime64[D]").astype("datetime64[s]")
    last = days[offsets[1:] - 1].astype("datetime64[D]").astype("datetime64[s]")
    labels = np.array([STATUS[k] for k in sorted(STATUS)], dtype=object)
    return pd.DataFrame(
        {
            "subject": categories.to_numpy(dtype=object),
            "spms": converted,
            "spms_date": date(ev),
            "spms_edss": value(ev),
            "leading_fs": lead,
            "leading_fs_confirmed": lead_ok,
            "baseline_date": date(bl),
            "baseline_edss": value(bl),
            "confirmation_date": date(cf),
            "confirmed_edss": confirmed,
            "leading_fs_confirmation_date": date(lc),
            "previous_visit_date": date(pv),
            "previous_edss": value(pv),
            "first_visit_date": first,
            "last_visit_date": last,
            "n_visits": n_vis.astype(np.int64),
            "n_rebaselines": out[:, K.O_REBL].astype(np.int64),
            "status": labels[status],
        },
        columns=SUMMARY_COLUMNS,
    )


def _steps(
    trail: np.ndarray,
    counts: np.ndarray,
    offsets: np.ndarray,
    days: np.ndarray,
    edss: np.ndarray,
    categories: pd.Index,
) -> pd.DataFrame:
    """The audit trail as a table: one row per step of the scan, per subject."""
    room = 2 * np.diff(offsets) + 2
    cnt = np.minimum(counts, room)
    sub = np.repeat(np.arange(len(cnt)), cnt)
    within = np.arange(int(cnt.sum())) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    rows = trail[2 * (offsets[:-1][sub] + sub) + within]
    visit = offsets[:-1][sub] + rows[:, K.C_VISIT]
    base = offsets[:-1][sub] + rows[:, K.C_BASE]
    detail = rows[:, K.C_DETAIL]
    reason = np.array(
        ["; ".join(text for bit, text in _REASONS if d & bit) for d in detail], dtype=object
    )
    kinds = np.array([STEP_KINDS.get(int(k), "") for k in rows[:, K.C_KIND]], dtype=object)
    to_date = days.astype("datetime64[D]").astype("datetime64[s]")
    return pd.DataFrame(
        {
            "subject": categories.to_numpy(dtype=object)[sub],
            "step": within + 1,
            "date": to_date[visit],
            "edss": edss[visit],
            "kind": kinds,
            "reason": reason,
            "baseline_date": to_date[base],
            "baseline_edss": edss[base],
        }
    )


def _fmt(x: float) -> str:
    return "never" if math.isinf(x) else f"{x:g}"


@dataclass
class SPMSResult(AnalysisResult):
    """Per-subject SPMS conversion with its evidence, the settings and the package version."""

    pipeline: ClassVar[str] = "smoulder.pipelines.spms"

    summary_table: pd.DataFrame
    settings: SPMSSettings
    steps: pd.DataFrame = field(default_factory=pd.DataFrame)
    version: str = ""
    systems: tuple[str, ...] = ()
    n_visits_total: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def summary(self) -> pd.DataFrame:
        """One row per subject (:data:`SUMMARY_COLUMNS`)."""
        return self.summary_table

    @property
    def n_converted(self) -> int:
        return int(self.summary_table["spms"].sum())

    def tables(self) -> dict[str, pd.DataFrame]:
        """The per-subject table and the audit trail of every step the scan took."""
        return {"spms": self.summary_table, "steps": self.steps}

    def methods(self) -> str:
        s = self.settings
        n = len(self.summary_table)
        steps = (
            f"at least {s.step:g} EDSS point{'s' if s.step != 1 else ''} above the baseline "
            f"below EDSS {s.half_step_from:g} ({s.step_from_zero:g} from a baseline of 0) and "
            f"{s.step_high:g} from EDSS {s.half_step_from:g}"
        )
        pyr = (
            f"a pyramidal functional-system score of at least {s.min_pyramidal:g}"
            + (
                f" (taken as met from EDSS {s.pyramidal_waived_from:g})"
                if not math.isinf(s.pyramidal_waived_from)
                else ""
            )
            if s.min_pyramidal > 0
            else "no pyramidal requirement"
        )
        lead = (
            f"; the leading functional system (largest increase from baseline among "
            f"{', '.join(self.systems) or 'the scores given'}) had to remain above its baseline "
            f"score for {s.confirmation_days:g} days"
            + (
                " (visits without its score counted as confirming and an unknown pyramidal "
                "change as an increase of 1, as in spmsDx)"
                if s.missing_fs_confirms
                else " at visits where it was scored (unknown changes could not lead)"
            )
            if s.confirm_leading_fs
            else "; confirmation within the leading functional system was not required"
        )
        sust = (
            "The worsening had to last to the last visit"
            + (
                f" (a run of {s.tolerated_dips} non-worsened visit"
                f"{'s' if s.tolerated_dips != 1 else ''} was bridged, more ended it)"
                if s.tolerated_dips
                else ""
            )
            if s.sustained_to_end
            else "The worsening did not have to last to the last visit"
        )
        return (
            "Conversion to secondary progressive MS was identified with the objective definition "
            "of Lorscheider et al. (Brain 2016) as operationalised by CORe (MSoutcomes spmsDx), "
            f"implemented in smoulder {self.version}. Visits before the first visit with "
            "functional-system scores were ignored and subjects with fewer than "
            f"{s.min_visits} visits were not assessed. The baseline was the first visit more "
            f"than {s.relapse_free_days:g} days after a relapse onset with functional-system "
            f"scores. Worsening was an EDSS {steps}, reaching an EDSS of at least "
            f"{s.min_edss:g}, with {pyr}, with no relapse since the previous visit nor within "
            f"{s.relapse_free_days:g} days before, lasting at least {s.confirmation_days:g} days "
            f"at visits outside {s.relapse_free_days:g} days after relapses with the EDSS "
            f"staying at or above {s.min_edss:g} until confirmation{lead}. {sust}. The baseline "
            f"moved to the first visit of an improvement of {s.improvement_step:g} point lasting "
            f"{s.improvement_days:g} days, to a worsening that began with a relapse, and after "
            "relapses followed by an EDSS increase of 0.5 (EDSS above 3, baseline below "
            f"{s.half_step_from:g}) to the first later visit whose EDSS stayed within one step "
            f"for {s.rebaseline_days:g} days. {self.n_converted} of {n} subjects met the "
            "definition."
        )

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """Cumulative proportion converted against years since the first visit (Kaplan-Meier,
        censored at the last visit)."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        t_all = self.summary_table
        ok = t_all["status"].isin([STATUS[K.S_CONVERTED], STATUS[K.S_NOT_MET]])
        t_all = t_all[ok]
        end = np.where(t_all["spms"], t_all["spms_date"], t_all["last_visit_date"])
        years = (
            (pd.to_datetime(end) - pd.to_datetime(t_all["first_visit_date"])).dt.days / 365.25
        ).to_numpy()
        event = t_all["spms"].to_numpy(dtype=bool)
        times, surv = _kaplan_meier(years, event)
        ax.step(np.r_[0, times], 1 - np.r_[1.0, surv], where="post", color="#b3412c", **kwargs)
        ax.set_xlabel("years since first visit")
        ax.set_ylabel("proportion converted to SPMS")
        ax.set_ylim(0, max(0.05, float((1 - surv).max()) * 1.1) if len(surv) else 0.05)
        ax.set_title(f"SPMS conversion ({int(event.sum())} of {len(event)} subjects)")
        ax.grid(alpha=0.3)
        return ax


def _kaplan_meier(t: np.ndarray, event: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Event times and the Kaplan-Meier survival just after each of them."""
    if len(t) == 0:
        return np.zeros(0), np.zeros(0)
    times = np.unique(t[event])
    at_risk = np.array([(t >= x).sum() for x in times], dtype=float)
    d = np.array([((t == x) & event).sum() for x in times], dtype=float)
    return times, np.cumprod(1 - d / at_risk)
