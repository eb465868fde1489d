"""``smoulder multiverse`` with a grid given as data (CSV and TOML)."""

from __future__ import annotations

import pandas as pd
import pytest

from smoulder.cli import main
from smoulder.synth import simulate_cohort, write_cohort


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return write_cohort(simulate_cohort(80, seed=4), tmp_path_factory.mktemp("mv"))


def test_a_csv_grid_of_definitions(files, tmp_path):
    grid = tmp_path / "grid.csv"
    grid.write_text(
        "name,baseline,conf_days,relapse_indep.event,relapse_indep.conf,confirmation_magnitude\n"
        'short,roving,[84],"[90, 30]","[90, 30]",baseline\n'
        'strict,roving_wors,[168],"[90, 0]","[open, 0]",event\n'
    )
    out = tmp_path / "res" / "mv.csv"
    rc = main(["multiverse", str(files["visits"]), "--relapses", str(files["relapses"]),
               "--grid", str(grid), "--workers", "1", "--out", str(out)])  # fmt: skip
    assert rc == 0
    t = pd.read_csv(out)
    assert t["definition"].tolist() == ["short", "strict"]
    assert (t["n_pira"] <= t["n_cdw"]).all() and t.loc[1, "n_pira"] <= t.loc[0, "n_pira"] + 50
    for name in ("mv_settings.toml", "mv_methods.txt", "mv.png", "mv.svg", "mv.pdf"):
        assert (out.parent / name).stat().st_size > 0
    assert '"open"' in (out.parent / "mv_settings.toml").read_text()


def test_a_toml_grid_of_dimensions(files, tmp_path):
    grid = tmp_path / "grid.toml"
    grid.write_text(
        "[multiverse.base]\nevent = 'multiple'\nclassify_cdw = true\n"
        "[multiverse.dimensions.confirmation]\n'12 weeks' = {conf_days = [84]}\n"
        "'24 weeks' = {conf_days = [168]}\n'48 weeks' = {conf_days = [336]}\n"
        "[multiverse.dimensions.sustained]\nno = {require_sust_days = 0}\n"
        "'to the end' = {require_sust_days = inf}\n"
    )
    out = tmp_path / "mv.csv"
    assert main(["multiverse", str(files["visits"]), "--relapses", str(files["relapses"]),
                 "--grid", str(grid), "--workers", "1", "--no-plots", "--out", str(out)]) == 0  # fmt: skip
    t = pd.read_csv(out)
    assert len(t) == 6 and set(t["sustained"]) == {"no", "to the end"}
    # a sustained requirement can only remove worsening events
    for conf, g in t.groupby("confirmation"):
        g = g.set_index("sustained")
        assert g.loc["to the end", "n_cdw"] <= g.loc["no", "n_cdw"], conf


def test_a_bad_grid_is_named(files, tmp_path, capsys):
    grid = tmp_path / "grid.csv"
    grid.write_text("name,baseline\nodd,rolling\n")
    rc = main(
        ["multiverse", str(files["visits"]), "--grid", str(grid), "--out", str(tmp_path / "m.csv")]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "definition 'odd'" in err and "baseline" in err and "'rolling'" in err


@pytest.mark.slow
def test_two_workers_give_the_same_table_as_one(files, tmp_path):
    from smoulder.clinical.multiverse import MultiverseSettings, mueller2025_dimensions
    from smoulder.pipelines import multiverse as pipeline

    dims = dict(list(mueller2025_dimensions().items())[3:])  # 5 x 4 relapse windows
    s = MultiverseSettings(dimensions=dims)
    one = pipeline.run(files["visits"], files["relapses"], grid=s, workers=1).table
    two = pipeline.run(files["visits"], files["relapses"], grid=s, workers=2).table
    pd.testing.assert_frame_equal(one, two)
