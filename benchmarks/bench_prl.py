"""PRL detection on phantom cohorts: accuracy per lesion and per subject, and speed on one 1 mm subject.

Prints figures; not a test. Run from the repository root::

    .venv/bin/python benchmarks/bench_prl.py            # full (about 10 minutes on 2 cores)
    .venv/bin/python benchmarks/bench_prl.py --quick    # a smaller cohort

For each resolution (1.0, 0.8, 0.65 mm; one cropped box of 112 x 96 x 40 mm)
and phase noise (0.025, 0.05, 0.1 rad; QSM is reconstructed from the same noisy
field), a cohort of phantom subjects is simulated and both classifiers run on
phase and on QSM: the consensus rule (default settings) and the trainable
random forest with cross-validation across subjects (GroupKFold, 4 folds).
Reported per lesion: ROC AUC, sensitivity, specificity and precision at the
default threshold, and precision re-weighted to a real-world prevalence of 6 %
PRLs; per subject: mean absolute and mean signed error of the PRL count.

These are phantoms: the published figures (APRL AUC 0.82, ALPaCA 0.91) were
measured on real scans and are not comparable.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from smoulder.imaging.prl import FEATURES, PRLSettings, detect_prl, make_estimator
from smoulder.synth.mri import simulate_mri_phantom

REAL_PREVALENCE = 0.06
BOX = ((-56, 56), (-60, 36), (4, 44))  # mm of MNI space: periventricular WM and centrum semiovale
RESOLUTIONS = {1.0: BOX, 0.8: BOX, 0.65: BOX}
NOISES = (0.025, 0.05, 0.1)


def cohort(
    vs: float,
    noise: float,
    n_subjects: int,
    n_lesions: int,
    seed0: int,
    settings: PRLSettings | None = None,
) -> pd.DataFrame:
    rows = []
    for s in range(n_subjects):
        seed = seed0 + s
        n = n_lesions
        while True:  # the rare draw that cannot place all lesions gets fewer
            try:
                ph = simulate_mri_phantom(
                    seed=seed,
                    voxel_size=vs,
                    n_lesions=n,
                    phase_noise_rad=noise,
                    box_mm=RESOLUTIONS.get(vs, BOX),
                )
                break
            except ValueError:
                n -= 1
        lab = np.asarray(ph.lesions.dataobj).astype(int)
        brain = np.asarray(ph.flair.dataobj) > 0
        for kind in ("phase", "qsm"):
            img = getattr(ph, kind)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = detect_prl(
                    np.asarray(img.dataobj),
                    lab,
                    img.affine,
                    input_kind=kind,
                    brain=brain,
                    settings=settings,
                )
            t = res.lesions.merge(ph.truth[["label", "kind", "is_prl"]], on="label")
            t["subject"] = seed
            t["input_kind"] = kind
            rows.append(t)
    return pd.concat(rows, ignore_index=True)


def metrics(
    y: np.ndarray, score: np.ndarray, pred: np.ndarray, subj: np.ndarray
) -> dict[str, float]:
    y = y.astype(bool)
    pred = pred.astype(bool)
    sens = pred[y].mean()
    spec = (~pred[~y]).mean()
    prec = pred[y].sum() / max(pred.sum(), 1)
    p = REAL_PREVALENCE
    prec_real = sens * p / max(sens * p + (1 - spec) * (1 - p), 1e-12)
    df = pd.DataFrame({"s": subj, "y": y, "p": pred}).groupby("s").sum()
    err = df["p"] - df["y"]
    return {
        "auc": roc_auc_score(y, score),
        "sens": sens,
        "spec": spec,
        "prec": prec,
        "prec6": prec_real,
        "count_mae": float(err.abs().mean()),
        "count_bias": float(err.mean()),
    }


def cross_validated(t: pd.DataFrame, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import GroupKFold, cross_val_predict

    x = t[FEATURES].to_numpy(dtype=float)
    y = t["is_prl"].to_numpy(dtype=bool)
    p = cross_val_predict(
        make_estimator(seed),
        x,
        y,
        groups=t["subject"].to_numpy(),
        cv=GroupKFold(4),
        method="predict_proba",
    )[:, 1]
    return p, p >= 0.5


def accuracy(
    n_subjects: int,
    n_lesions: int,
    resolutions: list[float],
    noises: list[float],
    settings: PRLSettings | None = None,
) -> pd.DataFrame:
    out = []
    for vs in resolutions:
        for noise in noises:
            t0 = time.perf_counter()
            data = cohort(vs, noise, n_subjects, n_lesions, seed0=1000, settings=settings)
            for kind in ("phase", "qsm"):
                t = data[data["input_kind"] == kind].reset_index(drop=True)
                y, subj = t["is_prl"].to_numpy(), t["subject"].to_numpy()
                m = metrics(y, t["rim_score"].to_numpy(), t["prl"].to_numpy(), subj)
                out.append(
                    {
                        "voxel_mm": vs,
                        "noise_rad": noise,
                        "input": kind,
                        "classifier": "consensus",
                        "lesions": len(t),
                        "prl": int(y.sum()),
                        **m,
                    }
                )
                p, pred = cross_validated(t)
                m = metrics(y, p, pred, subj)
                out.append(
                    {
                        "voxel_mm": vs,
                        "noise_rad": noise,
                        "input": kind,
                        "classifier": "forest (CV)",
                        "lesions": len(t),
                        "prl": int(y.sum()),
                        **m,
                    }
                )
            print(
                f"  cohort {vs} mm, noise {noise} rad: {time.perf_counter() - t0:.0f} s",
                file=sys.stderr,
            )
    return pd.DataFrame(out)


def speed(n_lesions: int = 50) -> dict[str, float]:
    """One 1 mm subject with 50 lesions, file to file through the CLI in a fresh process."""
    box = ((-66, 66), (-80, 50), (-6, 54))
    ph = simulate_mri_phantom(
        seed=7, voxel_size=1.0, n_lesions=n_lesions, box_mm=box, radius_mm=(2.5, 6.0)
    )
    with tempfile.TemporaryDirectory() as d:
        files = ph.save(d)
        res = {"voxels": int(np.prod(ph.flair.shape)), "lesions": int(len(ph.truth))}
        for kind in ("phase", "qsm"):
            out = os.path.join(d, f"out_{kind}")
            cmd = [
                sys.executable,
                "-m",
                "smoulder",
                "prl",
                "--flair",
                files["flair"],
                f"--{kind}",
                files[kind],
                "--lesions",
                files["lesions"],
                "--out",
                out,
                "--json",
            ]
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
            wall = time.perf_counter() - t0
            inner = json.loads(proc.stdout)["seconds"]
            res[f"{kind}_wall_s"] = wall
            res[f"{kind}_pipeline_s"] = inner
        res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="4 subjects per cohort, 1 mm only")
    ap.add_argument("--subjects", type=int, default=8)
    ap.add_argument("--lesions", type=int, default=12)
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--skip-accuracy", action="store_true")
    ap.add_argument("--resolutions", type=float, nargs="+", help="voxel sizes (mm)")
    ap.add_argument("--noises", type=float, nargs="+", help="phase noise SDs (rad)")
    ap.add_argument(
        "--no-coarse",
        action="store_true",
        help="12 sectors at 1.5 SE on every grid (the rule before coarse_* settings)",
    )
    a = ap.parse_args(argv)
    pd.set_option("display.width", 200)
    if not a.skip_accuracy:
        res = a.resolutions or (list(RESOLUTIONS) if not a.quick else [1.0])
        n = a.subjects if not a.quick else 4
        st = PRLSettings(coarse_inplane_mm=None) if a.no_coarse else None
        table = accuracy(n, a.lesions, res, a.noises or list(NOISES), st)
        print(
            f"Per-lesion accuracy on phantom cohorts ({n} subjects x {a.lesions} lesions per cohort; "
            f"prec6 = precision at a real-world 6 % PRL prevalence)"
        )
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if not a.skip_speed:
        s = speed()
        print(
            f"\nOne subject at 1 mm, {s['lesions']} lesions, {s['voxels']:,} voxels, through 'smoulder prl' "
            f"(read, label, features, rule, write outputs incl. QC page; no registration):"
        )
        print(
            f"  phase: {s['phase_pipeline_s']:.1f} s pipeline, {s['phase_wall_s']:.1f} s wall incl. start-up"
        )
        print(
            f"  qsm:   {s['qsm_pipeline_s']:.1f} s pipeline, {s['qsm_wall_s']:.1f} s wall incl. start-up"
        )
        print(f"  peak memory (max RSS of the runs): {s['peak_rss_mb']:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
