"""Lesion segmentation: voxel Dice, lesion-wise sensitivity and false discovery, by lesion size.

Prints figures; not a test. Run from the repository root::

    .venv/bin/python benchmarks/bench_lesions.py                 # everything (about 30-60 min on 2 cores)
    .venv/bin/python benchmarks/bench_lesions.py --only real     # the real scan and its degraded copy
    .venv/bin/python benchmarks/bench_lesions.py --phantoms 4    # fewer held-out phantoms

Datasets

(a) ``../shared/realdata/lesjak2017-patient07`` (Lesjak et al., Neuroinformatics 2017,
    doi:10.1007/s12021-017-9348-7, CC-BY): FLAIR and T1 (1 mm, skull-stripped, MNI space) and the
    consensus mask of three raters (GOLD). Read in place, never copied.
(b) the same scan made to look clinical by :func:`smoulder.synth.flair_phantom.degrade_to_clinical`:
    a synthetic skull, scalp, face and neck, a tilted pose, 4 mm axial FLAIR slices (slice
    averaging), a bias field (40 % peak to peak); the T1 stays 1 mm with its own pose and head.
    GOLD is carried to the FLAIR grid by the same geometry (lesion fraction >= 0.5).
(c) phantoms of generator family B (:data:`smoulder.synth.flair_phantom.FAMILY_B`), seeds 100000+;
    the segmentation's defaults were chosen on family A (seeds 0-7) and on (a) together.

Methods: "today" is smoulder's previous fallback (global FLAIR threshold + 3-D opening,
``smoulder.imaging.lesions.fallback_segmentation``) on the same FLAIR; "smoulder lesions" is
:func:`smoulder.pipelines.lesions.run` with default settings, with and without the T1;
``--classifier`` adds FLAIR + T1 with the opt-in candidate classifier (``classifier = "logistic"``).

Metrics: GT lesions are 26-connected components of the reference mask (the dataset README counts
49 lesions with 6-connectivity; both are printed for (a)); a GT lesion is detected when any of
its voxels is segmented; a segmented lesion is a false discovery when none of its voxels is in
the reference. "brain" is the Dice of the brain mask used with the phantom's true brain ("refused":
the template could not be placed and the run stopped with a message). Sizes are GT voxels on the evaluated grid. Time: wall and CPU seconds of one run in
a fresh process (ITK threads = --threads), peak resident memory of that process.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np


def _find_real() -> Path:
    """``../shared/realdata/lesjak2017-patient07`` beside the repository (or a worktree's main)."""
    env = os.environ.get("SMOULDER_REALDATA")
    if env:
        return Path(env) / "lesjak2017-patient07"
    for parent in Path(__file__).resolve().parents[1:4]:
        cand = parent / "shared" / "realdata" / "lesjak2017-patient07"
        if cand.exists():
            return cand
    return (
        Path(__file__).resolve().parents[1].parent / "shared" / "realdata" / "lesjak2017-patient07"
    )


REAL = _find_real()
SIZES = (("<=10", 1, 10), ("11-100", 11, 100), (">100", 101, 10**12))
CITATION = "Lesjak et al., Neuroinformatics 2017, doi:10.1007/s12021-017-9348-7 (CC-BY)"


def evaluate(pred: np.ndarray, gt: np.ndarray, connectivity: int = 3) -> dict[str, Any]:
    """Dice, lesion-wise sensitivity / false discovery rate, and both by size class."""
    from scipy import ndimage

    pred, gt = pred > 0, gt > 0
    st = ndimage.generate_binary_structure(3, connectivity)
    dice = 2 * float((pred & gt).sum()) / max(int(pred.sum() + gt.sum()), 1)
    lg, ng = ndimage.label(gt, st)
    lp, npred = ndimage.label(pred, st)
    hit = np.zeros(ng + 1, bool)
    hit[np.unique(lg[pred & gt])] = True
    tp = np.zeros(npred + 1, bool)
    tp[np.unique(lp[pred & gt])] = True
    gsz = np.bincount(lg.ravel(), minlength=ng + 1)[1:]
    psz = np.bincount(lp.ravel(), minlength=npred + 1)[1:]
    out: dict[str, Any] = {
        "dice": dice,
        "sens": float(hit[1:].mean()) if ng else float("nan"),
        "fdr": float(1 - tp[1:].mean()) if npred else 0.0,
        "n_gt": ng,
        "n_pred": npred,
        "vox_gt": int(gt.sum()),
        "vox_pred": int(pred.sum()),
    }
    for name, lo, hi in SIZES:
        g = (gsz >= lo) & (gsz <= hi)
        p = (psz >= lo) & (psz <= hi)
        out[f"found {name}"] = (int(hit[1:][g].sum()), int(g.sum()))
        out[f"false {name}"] = (int((~tp[1:][p]).sum()), int(p.sum()))
    return out


def _load(path: Path) -> tuple[np.ndarray, np.ndarray]:
    import nibabel as nib

    img = nib.load(str(path))
    return np.asarray(img.dataobj, dtype=np.float32), np.asarray(img.affine, float)


def _run_case(case: dict[str, Any]) -> dict[str, Any]:
    """One segmentation in this (fresh) process: metrics, seconds, peak memory."""
    os.environ["ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"] = str(case["threads"])
    from smoulder.imaging.lesions import fallback_segmentation
    from smoulder.pipelines import lesions as pipeline

    gt, _ = _load(Path(case["gt"]))
    brain_dice = float("nan")
    t0, c0 = time.perf_counter(), time.process_time()
    if case["method"] == "today":
        f, aff = _load(Path(case["flair"]))
        zooms = np.sqrt((aff[:3, :3] ** 2).sum(0))
        pred = fallback_segmentation(f, zooms)
        brain_ml = float("nan")
    else:
        from smoulder.exceptions import InputDataError
        from smoulder.imaging.lesionseg import LesionSegSettings

        settings = LesionSegSettings(**case.get("settings", {}))
        try:
            res = pipeline.run(
                case["flair"], t1=case.get("t1"), out=case.get("out"), settings=settings
            )
        except InputDataError as exc:  # a refused registration: no lesions, and say so
            print(f"  refused: {case['dataset']}: {exc}", file=sys.stderr, flush=True)
            res = None
        pred = res.labels if res is not None else np.zeros(gt.shape, np.int32)
        brain_ml = res.brain_volume_ml if res is not None else float("nan")
        truth_brain = Path(case["gt"]).with_name("brainmask.nii.gz")
        if res is not None and truth_brain.exists():
            tb = _load(truth_brain)[0] > 0
            brain_dice = 2 * float((tb & res.brain_mask).sum()) / (tb.sum() + res.brain_mask.sum())
        elif res is None:
            brain_dice = float("nan")
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    m = evaluate(pred, gt)
    m6 = evaluate(pred, gt, connectivity=1)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return {
        **case,
        **m,
        "sens6": m6["sens"],
        "n_gt6": m6["n_gt"],
        "seconds": wall,
        "cpu_seconds": cpu,
        "peak_mb": rss_mb,
        "brain_ml": brain_ml,
        "brain_dice": brain_dice,
        "refused": case["method"] != "today" and brain_ml != brain_ml,
    }


def make_degraded(workdir: Path) -> dict[str, Path]:
    """(b): patient07 with a fake head, tilted, 4 mm FLAIR slices, bias; written to workdir."""
    import nibabel as nib

    from smoulder.synth.flair_phantom import degrade_to_clinical

    out = {k: workdir / f"degraded_{k}.nii.gz" for k in ("flair", "t1", "gold")}
    if all(p.exists() for p in out.values()):
        return out
    f, fa = _load(REAL / "FLAIR.nii.gz")
    t, ta = _load(REAL / "T1.nii.gz")
    g, _ = _load(REAL / "GOLD.nii.gz")
    a = degrade_to_clinical(
        np.clip(f, 0, None),
        fa,
        seed=1,
        slice_mm=4.0,
        slice_axis=2,
        rotation_deg=(8, -5, 6),
        bias_peak_to_peak=0.4,
        labels=g > 0,
        head=True,
        contrast="flair",
        head_seed=7,
    )
    b = degrade_to_clinical(
        np.clip(t, 0, None),
        ta,
        seed=2,
        slice_mm=1.0,
        slice_axis=2,
        rotation_deg=(-4, 3, -7),
        bias_peak_to_peak=0.3,
        head=True,
        contrast="t1",
        head_seed=7,
    )
    nib.save(nib.Nifti1Image(a["image"], a["affine"]), str(out["flair"]))
    nib.save(nib.Nifti1Image(b["image"], b["affine"]), str(out["t1"]))
    nib.save(nib.Nifti1Image(a["labels"].astype(np.int16), a["affine"]), str(out["gold"]))
    return out


def make_phantom(workdir: Path, seed: int, family: str = "B") -> dict[str, Path]:
    from smoulder.synth.flair_phantom import FAMILY_A, FAMILY_B, FAMILY_C, simulate_flair_phantom

    d = workdir / f"family{family}_{seed}"
    if not (d / "flair.nii.gz").exists():
        fam = {"A": FAMILY_A, "B": FAMILY_B, "C": FAMILY_C}[family]
        simulate_flair_phantom(seed, fam).save(str(d))
    return {"flair": d / "flair.nii.gz", "t1": d / "t1.nii.gz", "gold": d / "lesions.nii.gz"}


def _fmt_pair(p: tuple[int, int]) -> str:
    return f"{p[0]}/{p[1]}"


def report(rows: list[dict[str, Any]]) -> None:
    head = (
        f"{'dataset':<34} {'method':<22} {'Dice':>5} {'sens':>5} {'FDR':>5} {'GT':>4} {'seg':>4}  "
        + "  ".join(f"found {n:<6}" for n, *_ in SIZES)
        + "  "
        + "  ".join(f"false {n:<6}" for n, *_ in SIZES)
        + f"  {'wall s':>6} {'cpu s':>6} {'MB':>6} {'brain':>6}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['dataset']:<34} {r['label']:<22} {r['dice']:5.2f} {r['sens']:5.2f} {r['fdr']:5.2f} "
            f"{r['n_gt']:4d} {r['n_pred']:4d}  "
            + "  ".join(f"{_fmt_pair(r['found ' + n]):<12}" for n, *_ in SIZES)
            + "  "
            + "  ".join(f"{_fmt_pair(r['false ' + n]):<12}" for n, *_ in SIZES)
            + f"  {r['seconds']:6.0f} {r['cpu_seconds']:6.0f} {r['peak_mb']:6.0f}"
            + ("  refused" if r.get("refused") else f" {r.get('brain_dice', float('nan')):6.2f}")
        )


def summarise(
    rows: list[dict[str, Any]], dataset_prefix: str, label: str
) -> dict[str, float] | None:
    sel = [r for r in rows if r["dataset"].startswith(dataset_prefix) and r["label"] == label]
    if not sel:
        return None
    gt = {n: sum(r["found " + n][1] for r in sel) for n, *_ in SIZES}
    hit = {n: sum(r["found " + n][0] for r in sel) for n, *_ in SIZES}
    npred = sum(r["n_pred"] for r in sel)
    nfalse = sum(sum(r["false " + n][0] for n, *_ in SIZES) for r in sel)
    return {
        "dice_mean": float(np.mean([r["dice"] for r in sel])),
        "sens_pooled": sum(hit.values()) / max(sum(gt.values()), 1),
        "fdr_pooled": nfalse / max(npred, 1),
        **{f"sens {n}": hit[n] / gt[n] if gt[n] else float("nan") for n in gt},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", choices=["real", "phantoms", "all"], default="all")
    ap.add_argument(
        "--phantoms", type=int, default=6, help="held-out family-B phantoms (default 6)"
    )
    ap.add_argument(
        "--first-seed", type=int, default=None, help="first seed (default 100000 for B, 0 for A)"
    )
    ap.add_argument(
        "--family",
        choices=["A", "B", "C"],
        default="B",
        help="phantom family (A: the tuning family; B and C held out, C seeds from 200000)",
    )
    ap.add_argument("--threads", type=int, default=2, help="ITK threads per run (default 2)")
    ap.add_argument(
        "--workdir", type=Path, default=None, help="where inputs are made (default: a temp dir)"
    )
    ap.add_argument("--no-today", action="store_true", help="skip the previous fallback method")
    ap.add_argument("--no-flair-only", action="store_true", help="skip the runs without the T1")
    ap.add_argument(
        "--classifier",
        action="store_true",
        help="also run FLAIR + T1 with the opt-in candidate classifier (classifier = logistic)",
    )
    ns = ap.parse_args(argv)
    work = ns.workdir or Path(tempfile.mkdtemp(prefix="bench_lesions_"))
    work.mkdir(parents=True, exist_ok=True)
    cases: list[dict[str, Any]] = []

    def add(dataset: str, files: dict[str, Path]) -> None:
        base = {
            "dataset": dataset,
            "flair": str(files["flair"]),
            "gt": str(files["gold"]),
            "threads": ns.threads,
        }
        if not ns.no_today:
            cases.append({**base, "method": "today", "label": "today (threshold+open)"})
        cases.append(
            {**base, "method": "ours", "label": "smoulder FLAIR+T1", "t1": str(files["t1"])}
        )
        if ns.classifier:
            cases.append(
                {
                    **base,
                    "method": "ours",
                    "label": "smoulder T1 classifier",
                    "t1": str(files["t1"]),
                    "settings": {"classifier": "logistic"},
                }
            )
        if not ns.no_flair_only:
            cases.append({**base, "method": "ours", "label": "smoulder FLAIR only"})

    if ns.only in ("real", "all"):
        if not (REAL / "FLAIR.nii.gz").exists():
            print(f"(a)/(b) skipped: {REAL} not found", file=sys.stderr)
        else:
            add(
                "(a) patient07 1 mm",
                {
                    "flair": REAL / "FLAIR.nii.gz",
                    "t1": REAL / "T1.nii.gz",
                    "gold": REAL / "GOLD.nii.gz",
                },
            )
            add("(b) patient07 clinical 4 mm+head", make_degraded(work))
    if ns.only in ("phantoms", "all"):
        first = (
            ns.first_seed
            if ns.first_seed is not None
            else {"A": 0, "B": 100000, "C": 200000}[ns.family]
        )
        for k in range(ns.phantoms):
            seed = first + k
            add(f"(c) family {ns.family} seed {seed}", make_phantom(work, seed, ns.family))
    rows = []
    with ProcessPoolExecutor(max_workers=1, max_tasks_per_child=1) as ex:
        for r in ex.map(_run_case, cases):
            rows.append(r)
            print(
                f"  done: {r['dataset']} / {r['label']}: Dice {r['dice']:.2f} sens {r['sens']:.2f} "
                f"FDR {r['fdr']:.2f} ({r['seconds']:.0f} s)",
                file=sys.stderr,
                flush=True,
            )
    print(f"\nReal data: {CITATION}. Inputs made in {work}.\n")
    report(rows)
    print()
    for prefix in ("(a)", "(b)", "(c)"):
        for label in sorted({r["label"] for r in rows}):
            s = summarise(rows, prefix, label)
            if s:
                extra = ""
                if prefix == "(a)":
                    r6 = next(
                        r for r in rows if r["dataset"].startswith(prefix) and r["label"] == label
                    )
                    extra = (
                        f"  (6-connected GT lesions: {r6['n_gt6']}, sensitivity {r6['sens6']:.2f})"
                    )
                print(
                    f"{prefix} {label:<22} Dice {s['dice_mean']:.2f}  sensitivity {s['sens_pooled']:.2f}  "
                    f"FDR {s['fdr_pooled']:.2f}  sensitivity by size "
                    + ", ".join(f"{n} {s['sens ' + n]:.2f}" for n, *_ in SIZES)
                    + extra
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
