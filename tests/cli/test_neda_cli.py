"""``smoulder neda`` end to end on a simulated registry extract."""

from __future__ import annotations

import pandas as pd
import pytest

from smoulder.cli import main
from smoulder.synth.clinical_fs import simulate_fs_cohort, write_fs_cohort


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return write_fs_cohort(simulate_fs_cohort(60, seed=2), tmp_path_factory.mktemp("fs"))


def test_neda_with_treatment_epochs_writes_every_table(files, tmp_path):
    out = tmp_path / "res" / "neda.csv"
    rc = main(
        ["neda", str(files["visits"]), "--relapses", str(files["relapses"]),
         "--mri", str(files["mri"]), "--volume-col", "brain_volume",
         "--treatments", str(files["treatments"]), "--periods", "treatment",
         "--lag-days", "90", "--out", str(out)]
    )  # fmt: skip
    assert rc == 0
    for name in ("neda", "neda_persons", "neda_summary", "neda_epochs", "neda_events",
                 "neda_rates_by_drug", "neda_rates_by_class", "neda_rates_by_efficacy"):  # fmt: skip
        assert (out.parent / f"{name}.csv").stat().st_size > 0, name
    for name in ("neda.png", "neda_rates.png", "neda_settings.toml", "neda_methods.txt"):
        assert (out.parent / name).stat().st_size > 0, name
    periods = pd.read_csv(out)
    epochs = pd.read_csv(out.parent / "neda_epochs.csv")
    assert len(periods) == len(epochs)
    events = pd.read_csv(out.parent / "neda_events.csv")
    assert {"relapse", "PIRA"} <= set(events["kind"])
    settings = (out.parent / "neda_settings.toml").read_text()
    assert "[neda]" in settings and "[epochs]" in settings and "lag_days = 90.0" in settings


def test_treatment_periods_need_treatments(files, tmp_path, capsys):
    rc = main(
        ["neda", str(files["visits"]), "--periods", "treatment", "--out", str(tmp_path / "n.csv")]
    )
    assert rc == 2 and "--periods treatment needs --treatments" in capsys.readouterr().err


def test_a_bad_drug_is_named_with_its_row(files, tmp_path, capsys):
    t = pd.read_csv(files["treatments"])
    t.loc[2, "drug"] = "aspirin"
    bad = tmp_path / "t.csv"
    t.to_csv(bad, index=False)
    rc = main(
        ["neda", str(files["visits"]), "--treatments", str(bad), "--out", str(tmp_path / "n.csv")]
    )
    err = capsys.readouterr().err
    assert rc == 2 and f"{bad}, row 4, column 'drug': unknown drug (got 'aspirin')" in err
    assert not (tmp_path / "n.csv").exists()
