"""``smoulder prl --raw-phase`` end to end through the command line, and its refusals.

The phantom is smoulder's raw-phase simulator (small grid, fixed seed): wrapped Siemens
integers with the head's background field and a receiver phase offset; its true local field
and its ideal phase (the local field with the scan's own noise) are known independently of
the pipeline.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

nib = pytest.importorskip("nibabel")

from smoulder.cli import main  # noqa: E402


def _save(path: Path, data: np.ndarray, affine: np.ndarray | None = None) -> Path:
    nib.save(nib.Nifti1Image(np.asarray(data), np.eye(4) if affine is None else affine), path)
    return path


def _auc(scores: pd.Series, truth: pd.Series) -> float:
    """Probability that a true PRL scores above a non-PRL (ties count half), by hand."""
    pos, neg = scores[truth].to_numpy(), scores[~truth].to_numpy()
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return float(wins) / (len(pos) * len(neg))


@pytest.fixture(scope="module")
def raw_scan(tmp_path_factory):
    """A 2 mm slab, six lesions (three with rims), written as NIfTI + dcm2niix-like sidecars."""
    from smoulder.synth.raw_phase import simulate_raw_phase

    scan = simulate_raw_phase(
        seed=3, voxel_size=2.0, n_lesions=6, fov_mm=(160.0, 192.0), slab_mm=40.0
    )
    d = tmp_path_factory.mktemp("rawscan")
    return scan, {k: Path(v) for k, v in scan.save(str(d)).items()}


def _prl(args: list[str], capsys) -> tuple[int, str, str]:
    code = main(["prl", *args])
    cap = capsys.readouterr()
    return code, cap.out, cap.err


@pytest.mark.slow
def test_raw_phase_runs_end_to_end_and_recovers_the_local_field(raw_scan, tmp_path, capsys):
    scan, f = raw_scan
    out = tmp_path / "raw"
    code, stdout, err = _prl(
        [
            "--flair", str(f["flair"]), "--phase", str(f["phase"]), "--raw-phase",
            "--magnitude", str(f["magnitude"]), "--lesions", str(f["lesions"]),
            "--out", str(out), "--json",
        ],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    summary = json.loads(stdout)
    assert summary["lesions"] == 6
    assert sorted(p.name for p in out.iterdir()) == [
        "lesions.json",
        "lesions.tsv",
        "lesions_dseg.nii.gz",
        "local_field_ppm.nii.gz",
        "prl_mask.nii.gz",
        "qc.html",
    ]
    # the local field written is the phantom's: correlated, a few ppb from it
    got = np.asarray(nib.load(str(out / "local_field_ppm.nii.gz")).dataobj)
    valid = got != 0
    assert valid.sum() > 0.6 * scan.brain.sum()
    truth = scan.local_field_ppm[valid] - scan.local_field_ppm[valid].mean()
    est = got[valid] - got[valid].mean()
    assert np.corrcoef(est, truth)[0, 1] > 0.5
    assert np.sqrt(np.mean((est - truth) ** 2)) < 0.008  # ppm
    # echo time, field strength and encoding came from the sidecar and are reported
    meta = json.loads((out / "lesions.json").read_text())
    assert meta["RawPhase"]["echo_time_ms"] == 20.0
    assert meta["RawPhase"]["field_strength_t"] == 3.0
    assert meta["RawPhase"]["encoding"] == "siemens"
    assert meta["MethodsParagraph"].startswith("Raw phase (Siemens integers")
    assert meta["Acquisition"]["Inputs"]["--phase"]["ImageType"][2] == "P"

    # rim lesions rank above the rest, as from the ideal (already processed) phase
    ideal = tmp_path / "ideal"
    code, _, err = _prl(
        [
            "--flair", str(f["flair"]), "--phase", str(f["ideal_phase"]),
            "--lesions", str(f["lesions"]), "--out", str(ideal),
        ],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    is_prl = scan.truth.set_index("label")["is_prl"].astype(bool)
    raw_t = pd.read_csv(out / "lesions.tsv", sep="\t").set_index("label")
    ideal_t = pd.read_csv(ideal / "lesions.tsv", sep="\t").set_index("label")
    auc_raw = _auc(raw_t["rim_score"], is_prl.loc[raw_t.index])
    auc_ideal = _auc(ideal_t["rim_score"], is_prl.loc[ideal_t.index])
    assert auc_raw >= 0.9 and auc_raw >= auc_ideal - 0.1


@pytest.mark.slow
def test_flags_win_over_the_sidecar_and_a_difference_is_warned(raw_scan, tmp_path, capsys):
    _, f = raw_scan
    out = tmp_path / "o"
    code, stdout, err = _prl(
        [
            "--flair", str(f["flair"]), "--phase", str(f["phase"]), "--raw-phase",
            "--lesions", str(f["lesions"]), "--echo-time-ms", "25", "--out", str(out),
        ],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    assert "--echo-time-ms 25 differs from the sidecar's 20; --echo-time-ms was used" in err
    meta = json.loads((out / "lesions.json").read_text())
    assert meta["RawPhase"]["echo_time_ms"] == 25.0
    assert meta["RawPhase"]["magnitude_used"] is False  # no --magnitude, NIfTI phase


def _raw_like(tmp_path: Path, shape=(40, 40, 20)) -> dict[str, Path]:
    """A head-sized sphere of wrapped Siemens phase, its magnitude and a FLAIR (no sidecars)."""
    g = np.indices(shape).astype(float)
    c = (np.array(shape) - 1) / 2
    r = np.sqrt(sum((g[i] - c[i]) ** 2 for i in range(3)))
    head = r < 15
    rng = np.random.default_rng(5)
    phi = 0.05 * ((g[0] - c[0]) ** 2 + (g[1] - c[1]) ** 2) / 4  # wraps several times
    phase = np.where(head, np.angle(np.exp(1j * phi)), rng.uniform(-np.pi, np.pi, shape))
    ints = (np.round(phase * 4096 / np.pi / 2) * 2).clip(-4096, 4094).astype(np.int16)
    mag = np.where(head, 2000, 20).astype(np.int16) + rng.integers(0, 20, shape).astype(np.int16)
    return {
        "phase": _save(tmp_path / "phase.nii.gz", ints),
        "magnitude": _save(tmp_path / "mag.nii.gz", mag),
        "flair": _save(tmp_path / "flair.nii.gz", head.astype(np.float32)),
        "swi": _save(tmp_path / "swi.nii.gz", (mag * 0.8).astype(np.int16)),
    }


def test_raw_phase_needs_echo_time_and_field_strength(tmp_path, capsys):
    f = _raw_like(tmp_path)
    out = tmp_path / "out"
    code, _, err = _prl(
        ["--flair", str(f["flair"]), "--phase", str(f["phase"]), "--raw-phase", "--out", str(out)],
        capsys,
    )
    assert code == 2
    assert "give --echo-time-ms and --field-strength-t" in err
    assert "Traceback" not in err and not out.exists()  # nothing written


def test_swi_or_magnitude_given_as_raw_phase_is_refused(tmp_path, capsys):
    f = _raw_like(tmp_path)
    for name in ("swi", "magnitude"):
        out = tmp_path / f"out_{name}"
        code, _, err = _prl(
            [
                "--flair", str(f["flair"]), "--phase", str(f[name]), "--raw-phase",
                "--echo-time-ms", "20", "--field-strength-t", "3", "--out", str(out),
            ],
            capsys,
        )  # fmt: skip
        assert code == 2
        assert "looks like a magnitude or SWI image, not phase" in err
        assert str(f[name]) in err  # the file is named
        assert not out.exists()


def test_a_magnitude_sidecar_refuses_the_image_as_phase(tmp_path, capsys):
    f = _raw_like(tmp_path)
    (tmp_path / "phase.json").write_text(json.dumps({"ImageType": ["ORIGINAL", "PRIMARY", "M"]}))
    code, _, err = _prl(
        ["--flair", str(f["flair"]), "--phase", str(f["phase"]), "--raw-phase",
         "--echo-time-ms", "20", "--field-strength-t", "3", "--out", str(tmp_path / "o")],
        capsys,
    )  # fmt: skip
    assert code == 2
    assert "marks a magnitude image, not phase" in err and "phase.nii.gz" in err


def test_raw_integers_without_the_flag_point_to_it(tmp_path, capsys):
    f = _raw_like(tmp_path)
    code, _, err = _prl(
        ["--flair", str(f["flair"]), "--phase", str(f["phase"]), "--out", str(tmp_path / "o")],
        capsys,
    )
    assert code == 2
    assert "looks like raw scanner phase" in err and "--raw-phase" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--raw-phase", "--echo-time-ms", "0.02", "--field-strength-t", "3"], "--echo-time-ms must be in milliseconds"),
        (["--raw-phase", "--echo-time-ms", "20", "--field-strength-t", "127.7"], "--field-strength-t must be in tesla"),
        (["--echo-time-ms", "20"], "--echo-time-ms apply to raw scanner phase: add --raw-phase"),
    ],
)  # fmt: skip
def test_bad_raw_phase_flags_are_named(tmp_path, capsys, args, message):
    f = _raw_like(tmp_path)
    code, _, err = _prl(
        ["--flair", str(f["flair"]), "--phase", str(f["phase"]), "--out", str(tmp_path / "o"), *args],
        capsys,
    )  # fmt: skip
    assert code == 2
    assert message in err


def test_raw_phase_with_qsm_is_refused(tmp_path, capsys):
    f = _raw_like(tmp_path)
    code, _, err = _prl(
        ["--flair", str(f["flair"]), "--qsm", str(f["flair"]), "--raw-phase", "--out", str(tmp_path / "o")],
        capsys,
    )  # fmt: skip
    assert code == 2 and "--raw-phase applies to --phase" in err


def test_a_magnitude_on_another_grid_is_refused(tmp_path, capsys):
    f = _raw_like(tmp_path)
    other = _save(
        tmp_path / "mag2.nii.gz", np.full((40, 40, 10), 100, np.int16), np.diag([1, 1, 2, 1])
    )
    code, _, err = _prl(
        ["--flair", str(f["flair"]), "--phase", str(f["phase"]), "--raw-phase",
         "--magnitude", str(other), "--echo-time-ms", "20", "--field-strength-t", "3",
         "--out", str(tmp_path / "o")],
        capsys,
    )  # fmt: skip
    assert code == 2
    assert "mag2.nii.gz" in err and "magnitude image (must be on the raw phase's grid)" in err


def test_lesions_outside_the_valid_local_field_are_named():
    from types import SimpleNamespace

    from smoulder.pipelines.prl import raw_phase_notes

    labels = np.zeros((10, 10, 10), np.int32)
    labels[1:3, 1:3, 1:3] = 1  # 8 voxels, all valid
    labels[6:8, 6:8, 6:8] = 2  # 8 voxels, 2 invalid: 25 %
    labels[6:8, 1:3, 1:3] = 3  # 8 voxels, 1 invalid: 12.5 %
    valid = np.ones(labels.shape, bool)
    valid[6, 6, 6:8] = False
    valid[6, 1, 1] = False
    notes = raw_phase_notes(SimpleNamespace(labels=labels), valid)  # type: ignore[arg-type]
    assert len(notes) == 1 and "1 lesion(s) (label 2) lie more than 20% outside" in notes[0]
    assert raw_phase_notes(SimpleNamespace(labels=labels), np.ones_like(valid)) == []  # type: ignore[arg-type]
