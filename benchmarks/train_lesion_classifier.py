"""Fit the candidate classifier of ``smoulder lesions`` on generator family A phantoms only.

Prints the coefficients as the Python source of ``src/smoulder/imaging/lesionseg/_model.py``
(copy them there by hand) and figures on the training seeds. Run from the repository root::

    .venv/bin/python benchmarks/train_lesion_classifier.py --seeds 0-5 --cache /tmp/prep

Each phantom (FLAIR + T1) is prepared once (N4, template, EM, z-maps; about a minute of CPU)
and may be cached as a pickle in ``--cache``. A candidate's target is 1 when any of its voxels
is in the phantom's lesion mask. The model is an L2-penalised logistic regression on
standardised features (Newton's method, numpy only); the threshold printed is the one that
maximises the lesion-wise F1 on the training candidates. Nothing of patient07 or family B is
used here.
"""

from __future__ import annotations

import argparse
import pickle
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def prepared(seed: int, cache: Path | None, work: Path) -> dict[str, Any]:
    """Prepared maps and the lesion mask of family-A phantom ``seed`` (cached when asked)."""
    from bench_lesions import _load, make_phantom

    path = cache / f"prep_A{seed}.pkl" if cache else None
    if path is not None and path.exists():
        with open(path, "rb") as fh:
            return pickle.load(fh)  # noqa: S301 - our own cache
    from smoulder.imaging.lesionseg.images import as_image
    from smoulder.imaging.lesionseg.prepare import prepare
    from smoulder.imaging.lesionseg.settings import LesionSegSettings
    from smoulder.io.templates import load_mni152
    from smoulder.pipelines.lesions import read_image

    files = make_phantom(work, seed, "A")
    f = as_image(read_image(str(files["flair"]), "--flair", "FLAIR"), "FLAIR", "--flair")
    t = as_image(read_image(str(files["t1"]), "--t1", "T1"), "T1", "--t1")
    p = prepare(
        f, t1=t, brain_mask=None, template=load_mni152(), priors=None, settings=LesionSegSettings()
    )
    out = {"p": p, "gt": _load(Path(files["gold"]))[0] > 0}
    if path is not None:
        with open(path, "wb") as fh:
            pickle.dump(out, fh)
    return out


def refresh(d: dict[str, Any], s: Any) -> dict[str, Any]:
    """Recompute the contrast maps of a cached ``prepare`` with the settings ``s`` (cheap)."""
    import dataclasses

    from scipy import ndimage

    from smoulder.imaging.lesionseg.prepare import contrast_maps

    p = d["p"]
    sig = [s.smooth_mm / float(z) for z in p.zooms]
    fs = ndimage.gaussian_filter(p.flair, sig) if s.smooth_mm > 0 else p.flair
    po = p.posteriors
    z, zg, con, _, _ = contrast_maps(
        p.flair, fs, p.brain, po["csf"], po["gm"], po["wm"], p.priors, p.zooms, s
    )
    z = np.where(p.brain, z, 0).astype(np.float32)
    return {**d, "p": dataclasses.replace(p, z=z, zg=zg, contrast=con)}


def fit_logistic(
    x: np.ndarray, y: np.ndarray, l2: float = 1.0, iterations: int = 50
) -> dict[str, Any]:
    """L2-penalised logistic regression on standardised ``x`` (Newton-Raphson)."""
    mean = x.mean(0)
    scale = x.std(0)
    scale[scale < 1e-9] = 1.0
    xs = np.column_stack([np.ones(len(x)), (x - mean) / scale])
    w = np.zeros(xs.shape[1])
    pen = np.full(xs.shape[1], l2)
    pen[0] = 0.0
    for _ in range(iterations):
        p = 1 / (1 + np.exp(-np.clip(xs @ w, -50, 50)))
        g = xs.T @ (p - y) + pen * w
        h = (xs * (p * (1 - p))[:, None]).T @ xs + np.diag(pen) + 1e-9 * np.eye(len(w))
        step = np.linalg.solve(h, g)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return {"mean": mean, "scale": scale, "coef": w[1:], "intercept": float(w[0])}


def main(argv: list[str] | None = None) -> int:
    from smoulder.imaging.lesionseg.classify import FEATURES, lesion_probability
    from smoulder.imaging.lesionseg.engine import all_candidates
    from smoulder.imaging.lesionseg.settings import LesionSegSettings

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", default="0-5", help="family-A seeds, e.g. 0-5")
    ap.add_argument("--cache", type=Path, default=None)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/train_lesions"))
    ap.add_argument("--l2", type=float, default=1.0)
    ns = ap.parse_args(argv)
    lo, _, hi = ns.seeds.partition("-")
    seeds = range(int(lo), int(hi or lo) + 1)
    ns.workdir.mkdir(parents=True, exist_ok=True)
    s = LesionSegSettings(classifier="logistic")
    xs, ys = [], []
    for seed in seeds:
        d = refresh(prepared(seed, ns.cache, ns.workdir), s)
        lab, feats = all_candidates(d["p"], s)
        n = int(lab.max())
        hit = np.zeros(n + 1, bool)
        hit[np.unique(lab[(lab > 0) & d["gt"]])] = True
        xs.append(feats)
        ys.append(hit[1:].astype(float))
        print(f"seed {seed}: {n} candidates, {int(hit[1:].sum())} on a lesion", file=sys.stderr)
    x, y = np.concatenate(xs), np.concatenate(ys)
    model = fit_logistic(x, y, ns.l2)
    prob = lesion_probability(x, model)
    best = max(
        (2 * ((prob >= t) & (y > 0)).sum() / max((prob >= t).sum() + (y > 0).sum(), 1), t)
        for t in np.arange(0.2, 0.81, 0.05)
    )
    print(f"# {len(y)} candidates, {int(y.sum())} true; best F1 {best[0]:.3f} at {best[1]:.2f}")
    print("MODEL_T1: dict[str, object] = {")
    print(f'    "features": {list(FEATURES)!r},')
    for k in ("mean", "scale", "coef"):
        print(f'    "{k}": [{", ".join(f"{v:.6g}" for v in model[k])}],')
    print(f'    "intercept": {model["intercept"]:.6g},')
    print("}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
