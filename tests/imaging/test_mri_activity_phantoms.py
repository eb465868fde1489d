"""MRI activity on two-visit phantoms: planted new and enlarging lesions found, stable ones not
called, and the written table gives PIRMA or PIRA in ``smoulder progression`` (registration: slow)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from smoulder.cli import main
from smoulder.synth.activity_phantom import simulate_activity_pair

pytestmark = pytest.mark.slow

SMALL = {
    "voxel_size": 2.0,
    "radius_mm": (3.5, 5.0),
    "new_radius_mm": (3.0, 4.0),
    "growth_pct": (90.0, 200.0),
}


def _run(ph, tmp, name):
    files = ph.save(str(tmp / f"{name}_in"), prefix=f"sub-{name}_")
    out = tmp / f"{name}_out"
    code = main(
        [
            "mri-activity",
            "--flair",
            *files["flair"],
            "--dates",
            *ph.dates,
            "--lesions",
            files["lesions"],
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert code == 0
    return out


@pytest.fixture(scope="module")
def active(tmp_path_factory):
    ph = simulate_activity_pair(
        5, counts={"stable": 3, "new": 2, "enlarging": 2, "shrinking": 1}, **SMALL
    )
    return ph, _run(ph, tmp_path_factory.mktemp("act"), "act")


@pytest.fixture(scope="module")
def quiet(tmp_path_factory):
    ph = simulate_activity_pair(
        6, counts={"stable": 4, "new": 0, "enlarging": 0, "shrinking": 2}, **SMALL
    )
    return ph, _run(ph, tmp_path_factory.mktemp("quiet"), "quiet")


def test_planted_new_and_enlarging_lesions_are_found(active):
    ph, out = active
    table = pd.read_csv(out / "mri_activity.tsv", sep="\t", keep_default_na=False)
    # planted: 2 new and 2 enlarging (grown by 90-200 %, above the 50 % threshold)
    assert table.to_dict("records") == [
        {
            "subject": "sub-act",
            "date": ph.dates[1],
            "active": 4,
            "new_t2": 2,
            "enlarging_t2": 2,
            "gd_enhancing": "n/a",
            "previous_date": ph.dates[0],
        }
    ]
    ch = pd.read_csv(out / "changes.tsv", sep="\t", na_values=["n/a"])
    truth = ph.truth
    counted = ch[ch["counted"]]
    enl = set(truth.loc[truth["kind"] == "enlarging", "label"])
    assert set(counted.loc[counted["kind"] == "enlarging", "baseline_label"].astype(int)) == enl
    # stable and shrinking lesions are never counted
    quiet_labels = set(truth.loc[truth["kind"].isin(["stable", "shrinking"]), "label"])
    assert not quiet_labels & set(counted["baseline_label"].dropna().astype(int))
    # each new lesion lies where one was planted (centres moved into the follow-up's space)
    new = truth[truth["kind"] == "new"]
    centres = (
        ph.to_followup[:3, :3] @ new[["center_x_mm", "center_y_mm", "center_z_mm"]].to_numpy().T
    ).T
    centres += ph.to_followup[:3, 3]
    for _, r in counted[counted["kind"] == "new"].iterrows():
        c = r[["centroid_x_mm", "centroid_y_mm", "centroid_z_mm"]].to_numpy(float)
        d = np.linalg.norm(centres - c, axis=1)
        assert d.min() <= new["radius_mm"].to_numpy()[d.argmin()] + 3.0
    # one QC figure per change, a change map holding every change number
    assert sorted(p.name for p in (out / "qc").iterdir()) == [
        f"change_{i}.png" for i in sorted(ch["change"])
    ]
    import nibabel as nib

    dseg = np.asarray(nib.load(out / "changes_dseg.nii.gz").dataobj)
    assert set(np.unique(dseg)) == {0, *ch["change"]}


def test_stable_and_shrinking_lesions_are_not_activity(quiet):
    ph, out = quiet
    table = pd.read_csv(out / "mri_activity.tsv", sep="\t")
    assert table[["active", "new_t2", "enlarging_t2"]].values.tolist() == [[0, 0, 0]]


def test_written_tables_give_pirma_and_pira_in_progression(active, quiet, tmp_path):
    rows, mri = [], []
    for ph, out in (active, quiet):
        t = pd.read_csv(out / "mri_activity.tsv", sep="\t", keep_default_na=False)
        mri.append(t)
        d2 = dt.date.fromisoformat(ph.dates[1])
        sid = t["subject"][0]
        # EDSS 2.0 -> 3.0 twenty days before the follow-up scan, confirmed 100 days later, no
        # relapse: PIRA; the scan lies within the event's window (90 days before, 30 after)
        for days, edss in ((-120, 2.0), (-20, 3.0), (80, 3.0)):
            rows.append(
                {"subject": sid, "date": (d2 + dt.timedelta(days=days)).isoformat(), "edss": edss}
            )
    pd.DataFrame(rows).to_csv(tmp_path / "visits.csv", index=False)
    pd.concat(mri).to_csv(tmp_path / "mri.tsv", sep="\t", index=False)
    out = tmp_path / "events.csv"
    code = main(
        [
            "progression",
            str(tmp_path / "visits.csv"),
            "--mri-activity",
            str(tmp_path / "mri.tsv"),
            "--classify-cdw",
            "--conf-days",
            "84",
            "--conf-tol-days",
            "7",
            "730.5",
            "--out",
            str(out),
            "--no-plots",
            "--quiet",
        ]
    )
    assert code == 0
    ev = pd.read_csv(out, dtype=str, keep_default_na=False)
    got = ev[["subject", "cdw_type", "pirma"]].values.tolist()
    # the active pair (4 new/enlarging lesions) makes it PIRA with MRI activity (not PIRMA);
    # the quiet pair makes it PIRMA
    assert sorted(got) == [["sub-act", "PIRA", "false"], ["sub-quiet", "PIRA", "true"]]
