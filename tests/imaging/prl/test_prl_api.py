"""The Python API and the command line run one pipeline: same files, and a result that follows the
one result pattern (summary table, methods, tables, plot, write)."""

from __future__ import annotations

import filecmp
import json

import pandas as pd

from smoulder.cli import main
from smoulder.imaging import PRLResult, PRLSettings
from smoulder.pipelines import prl


def test_result_write_gives_the_files_the_command_writes(phantom_files, tmp_path):
    f = phantom_files
    cli = tmp_path / "cli"
    args = ["--flair", f["flair"], "--qsm", f["qsm"], "--lesions", f["lesions"]]
    assert main(["prl", *args, "--out", str(cli), "--quiet"]) == 0
    result = prl.run(f["flair"], qsm=f["qsm"], lesions=f["lesions"])
    assert isinstance(result, PRLResult)
    paths = result.write(tmp_path / "api")
    assert sorted(p.name for p in paths.values()) == sorted(
        p.name for p in cli.iterdir() if p.suffix != ".json"
    )
    for p in sorted(cli.iterdir()):
        assert filecmp.cmp(p, tmp_path / "api" / p.name, shallow=False), p.name


def test_the_result_pattern(phantom_files):
    f = phantom_files
    result = prl.run(f["flair"], qsm=f["qsm"], lesions=f["lesions"], min_slices=3)
    assert isinstance(result.settings, PRLSettings) and result.settings.min_slices == 3
    assert PRLSettings.from_toml(result.settings.to_toml()) == result.settings
    s = result.summary
    assert isinstance(s, pd.DataFrame) and len(s) == 1
    assert s.loc[0, "n_lesions"] == 8 and s.loc[0, "n_prl"] == result.n_prl
    assert s.loc[0, "lesion_volume_mm3"] == result.lesions["volume_mm3"].sum()
    assert set(result.tables()) == {"lesions", "summary"}
    assert "on each of at least 3 consecutive acquisition slices" in result.methods()
    assert "normal to voxel axis k, the voxel axis closest to B0" in result.methods()
    ax = result.plot()
    assert ax.get_title() == f"{result.n_prl} of 8 lesions classified as PRL"
    assert len(ax.patches) == 8


def test_the_sidecar_holds_the_methods_of_the_run(phantom_files, tmp_path):
    f = phantom_files
    result = prl.run(f["flair"], qsm=f["qsm"], lesions=f["lesions"], out=tmp_path / "o")
    side = json.loads((tmp_path / "o" / "lesions.json").read_text())
    assert side["MethodsParagraph"] == result.methods()
    assert side["Settings"]["rim"] == PRLSettings().model_dump()
