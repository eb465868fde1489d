"""The Python API and ``smoulder sel`` run one pipeline: the same files, byte for byte, and a result
that follows the one result pattern."""

from __future__ import annotations

import filecmp

import pandas as pd

from smoulder.imaging import SELResult, SELSettings
from smoulder.pipelines import sel


def test_result_write_gives_the_files_the_command_writes(small3_files, small_cli_run, tmp_path):
    _, cli, _ = small_cli_run
    f = small3_files
    result = sel.run(
        f["t1"], f["flair"], f["dates"], f["lesions"], syn_iterations=(5, 2), threads=1
    )
    assert isinstance(result, SELResult) and isinstance(result.settings, SELSettings)
    result.write(tmp_path / "api")
    names = sorted(p.name for p in cli.iterdir())
    assert names == sorted(p.name for p in (tmp_path / "api").iterdir())
    for name in names:
        assert filecmp.cmp(cli / name, tmp_path / "api" / name, shallow=False), name
    s = result.summary
    assert isinstance(s, pd.DataFrame) and s.loc[0, "n_lesions"] == 3
    assert set(result.tables()) == {"lesions", "summary"}
    assert "iterations 5, 2" in result.methods()
    ax = result.plot()
    assert len(ax.patches) == 3 and "definite" in ax.get_title()
