"""The decision: the consensus rule (sustained coverage on consecutive slices) or a trained model."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from smoulder.exceptions import SettingsError
from smoulder.imaging.prl.settings import PRLSettings


def apply_rule(
    table: pd.DataFrame, settings: PRLSettings, *, input_kind: str, model: Any = None
) -> tuple[float, str]:
    """Add ``rim_score`` and ``prl`` to a table of lesion features; return (threshold, classifier).

    Consensus rule (no ``model``), ``rule_score = "evidence"`` (default): ``rim_score`` is
    ``rim_evidence`` = ``Phi(rim_q_se - k_sd)``, where ``rim_q_se`` is the rim level (in standard
    errors) that sectors covering ``min_coverage`` of the edge reach on each of ``min_slices``
    consecutive acquisition slices; a lesion is a PRL when it reaches the threshold (default 0.5,
    i.e. those sectors pass the sector test on those slices). ``rule_score = "coverage"``: the
    sustained coverage (the best, over runs of ``min_slices`` consecutive slices, of the run's
    smallest coverage), a PRL when it reaches the threshold (default ``min_coverage``) and its
    longest run of slices that each reach ``min_coverage`` is at least ``min_slices`` long. With a trained ``model``
    (:class:`~smoulder.imaging.prl.PRLModel`), ``rim_score`` is its predicted probability and the
    threshold defaults to the model's own.

    Raises
    ------
    SettingsError
        When the model was trained on the other input kind (phase vs QSM).
    """
    st = settings
    if model is not None:
        if model.input_kind != input_kind:
            raise SettingsError(
                f"the model was trained on {model.input_kind} features but the input is "
                f"{input_kind}"
            )
        score = model.predict_score(table) if len(table) else np.zeros(0)
        threshold = model.threshold if st.threshold is None else st.threshold
        classifier = f"model:{model.name}"
    elif st.rule_score == "evidence":
        score = table["rim_evidence"].to_numpy(dtype=float) if len(table) else np.zeros(0)
        score = np.nan_to_num(score, nan=0.0)
        threshold = 0.5 if st.threshold is None else st.threshold
        classifier = "consensus"
    else:
        score = table["coverage_sustained"].to_numpy(dtype=float) if len(table) else np.zeros(0)
        threshold = st.min_coverage if st.threshold is None else st.threshold
        classifier = "consensus"
    table["rim_score"] = np.clip(score, 0.0, 1.0)
    table["prl"] = table["rim_score"] >= threshold - 1e-9
    if model is None and st.rule_score == "coverage" and len(table):
        table["prl"] &= table["rim_slices"] >= st.min_slices
    return float(threshold), classifier


__all__ = ["apply_rule"]
