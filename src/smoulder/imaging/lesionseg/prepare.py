"""From raw FLAIR (and T1) to the maps the detector reads: N4, priors, brain, tissue, z-scores."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from smoulder._progress import announce
from smoulder.imaging.lesionseg.images import Priors, TemplateLike
from smoulder.imaging.lesionseg.register import (
    brain_center_guess,
    foreground_threshold,
    n4_correct,
    register_template,
    rigid_to,
)
from smoulder.imaging.lesionseg.settings import LesionSegSettings
from smoulder.schema.images import Volume

__all__ = ["Prepared", "prepare", "template_regions", "tissue_em", "local_stats", "head_mask"]

#: Share of exact zeros above which an image may be skull-stripped (see :func:`stripped_brain`).
STRIPPED_ZERO_SHARE = 0.3
#: Volume (litres) of the non-zero part of a skull-stripped adult brain.
STRIPPED_LITRES = (0.7, 2.2)

#: Foreground parts at least this share of the largest belong to the head (:func:`head_mask`).
HEAD_PART_SHARE = 0.05

#: FLAIR-like contrast given to the template (white matter = 1) when no T1 is given.
FLAIR_TEMPLATE = {"csf": 0.3, "gm": 1.2, "wm": 1.0}


@dataclass
class Prepared:
    """Everything the detector needs, on the FLAIR grid."""

    flair: np.ndarray
    t1: np.ndarray | None
    affine: np.ndarray
    zooms: np.ndarray
    brain: np.ndarray
    priors: Priors
    posteriors: dict[str, np.ndarray]
    z: np.ndarray
    zg: np.ndarray
    contrast: np.ndarray
    nawm_sd: float
    notes: list[str] = field(default_factory=list)
    t1_ratio: np.ndarray | None = None


def head_mask(data: np.ndarray, zooms: np.ndarray) -> np.ndarray:
    """The head (or the brain of a skull-stripped image): foreground, largest part, holes filled."""
    d = np.asarray(data, np.float32)
    pos = d[d > 0]
    if pos.size == 0:
        return np.zeros(d.shape, bool)
    fg = d > foreground_threshold(d)
    lab, n = ndimage.label(fg)
    if n > 1:
        # every large part: on a head with a dark skull the brain is one part and scalp, face
        # and neck another (keeping only the largest dropped the brain)
        sizes = np.bincount(lab.ravel())
        sizes[0] = 0
        fg = np.isin(lab, np.flatnonzero(sizes >= HEAD_PART_SHARE * sizes.max()))
    filled = np.asarray(ndimage.binary_fill_holes(fg))
    # a scalp open towards the neck or the field of view encloses nothing in 3-D; in most
    # slices through the head it still does: fill each slice's holes along every axis
    for ax in range(3):
        moved = np.moveaxis(filled, ax, 0)
        for k in range(moved.shape[0]):
            if moved[k].any():
                moved[k] = ndimage.binary_fill_holes(moved[k])
    return filled


def stripped_brain(data: np.ndarray, zooms: np.ndarray) -> np.ndarray | None:
    """The brain of an already skull-stripped image (exact zeros outside it), else ``None``.

    An image counts as skull-stripped when at least :data:`STRIPPED_ZERO_SHARE` of its voxels are
    exactly zero, its largest non-zero part (holes filled) has a brain's volume
    (:data:`STRIPPED_LITRES`), and hardly any non-zero voxel lies outside that part. A scanner
    image has noise in its background and fails the first test.
    """
    d = np.asarray(data)
    nz = d != 0
    if 1.0 - float(nz.mean()) < STRIPPED_ZERO_SHARE:
        return None
    lab, n = ndimage.label(nz)
    if n == 0:
        return None
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    part = lab == int(np.argmax(sizes))
    outside = int(nz.sum() - part.sum())
    part = np.asarray(ndimage.binary_fill_holes(part))
    litres = float(part.sum()) * float(np.prod(zooms)) / 1e6
    if not STRIPPED_LITRES[0] <= litres <= STRIPPED_LITRES[1] or outside > 0.01 * part.sum():
        return None
    return part


def template_regions(tpl: TemplateLike) -> dict[str, np.ndarray]:
    """Regions defined once on the template grid: ventricles, cortex, infratentorial."""
    brain = np.asarray(tpl.brain_mask, bool)
    z = np.sqrt((np.asarray(tpl.affine)[:3, :3] ** 2).sum(0))
    depth = ndimage.distance_transform_edt(brain, sampling=z)
    vent = (np.asarray(tpl.csf) > 0.5) & (depth > 12)
    lab, n = ndimage.label(vent)
    if n:
        sizes = np.bincount(lab.ravel())
        sizes[0] = 0
        vent = np.isin(lab, np.flatnonzero(sizes >= 300 / float(np.prod(z))))
    cortex = np.asarray(tpl.gm) * (depth < 18)
    ijk = np.indices(brain.shape, dtype=np.float32).reshape(3, -1)
    xyz = (np.asarray(tpl.affine)[:3, :3] @ ijk + np.asarray(tpl.affine)[:3, 3:4]).reshape(
        3, *brain.shape
    )
    x, y, w = xyz
    # below the tentorium (approximate surface in MNI space) or in the brainstem
    infra = ((y < -38) & (w < -6 - 0.4 * np.abs(x))) | (
        (np.abs(x) < 15) & (y > -45) & (y < -8) & (w < -12)
    )
    return {
        "ventricles": vent.astype(np.float32),
        "cortex": cortex.astype(np.float32),
        "infratentorial": (infra & brain).astype(np.float32),
    }


def _priors_from_template(
    contrast: np.ndarray,
    affine: np.ndarray,
    tpl: TemplateLike,
    s: LesionSegSettings,
    *,
    use_t1: bool,
    fixed_mask: np.ndarray | None,
    head: np.ndarray | None = None,
) -> Priors:
    if use_t1:
        moving = np.asarray(tpl.t1, np.float32)
    else:
        moving = (
            FLAIR_TEMPLATE["csf"] * np.asarray(tpl.csf)
            + FLAIR_TEMPLATE["gm"] * np.asarray(tpl.gm)
            + FLAIR_TEMPLATE["wm"] * np.asarray(tpl.wm)
        ).astype(np.float32) * np.asarray(tpl.brain_mask)
    regions = template_regions(tpl)
    warp = {
        "wm": np.asarray(tpl.wm),
        "gm": np.asarray(tpl.gm),
        "csf": np.asarray(tpl.csf),
        "brain": np.asarray(tpl.brain_mask, np.float32),
        **regions,
    }
    center = brain_center_guess(contrast, affine) if fixed_mask is None else None
    w = register_template(
        contrast,
        affine,
        moving,
        np.asarray(tpl.affine, float),
        np.asarray(tpl.brain_mask, bool),
        warp,
        transform=s.registration,
        resolution_mm=s.registration_mm,
        fixed_mask=fixed_mask,
        head_mask=head,
        center_guess=center,
        seed=s.seed,
    )
    im = w.images
    notes = [
        f"{getattr(tpl, 'name', 'template')} registered to the "
        f"{'T1' if use_t1 else 'FLAIR'} ({'affine + SyN' if s.registration == 'syn' else 'affine'}, "
        f"{s.registration_mm:g} mm; mutual information {w.metric_affine:.3f}; start: "
        f"{w.start}, best of {w.n_starts} starting poses)"
    ]
    if w.check is not None:
        notes.append(
            f"registered brain {w.check.litres:.2f} L, {w.check.inside:.0%} inside the "
            f"{'brain mask' if fixed_mask is not None else 'head'}"
            + ("" if w.check.ok else " (outside the plausible range: check the QC page)")
        )
    return Priors(
        wm=im["wm"],
        gm=im["gm"],
        csf=im["csf"],
        brain=im["brain"],
        ventricles=im["ventricles"],
        cortex=im["cortex"],
        infratentorial=im["infratentorial"],
        notes=notes,
    )


def tissue_em(
    x: np.ndarray, mask: np.ndarray, priors: list[np.ndarray], iterations: int = 12
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Posterior probabilities of K Gaussian classes with spatial priors (EM, Ashburner-Friston).

    Parameters
    ----------
    x : numpy.ndarray
        One intensity channel.
    mask : numpy.ndarray of bool
        Voxels to model (the brain).
    priors : list of numpy.ndarray
        One prior probability map per class (normalised per voxel here).
    iterations : int
        EM iterations.

    Returns
    -------
    posteriors, means, sds
        One map per class (0 outside ``mask``), and the fitted means and standard deviations.
    """
    v = x[mask].astype(np.float64)
    p = np.stack([np.asarray(q)[mask] for q in priors], 1).astype(np.float64) + 1e-3
    p /= p.sum(1, keepdims=True)
    r = p.copy()
    k = p.shape[1]
    mu = np.array([np.sum(r[:, j] * v) / r[:, j].sum() for j in range(k)])
    sd = np.array([np.sqrt(np.sum(r[:, j] * (v - mu[j]) ** 2) / r[:, j].sum()) for j in range(k)])
    for _ in range(iterations):
        sd = np.maximum(sd, 1e-3 * (np.abs(mu).max() + 1e-9))
        lik = p * np.exp(-0.5 * ((v[:, None] - mu) / sd) ** 2) / sd
        r = lik / np.maximum(lik.sum(1, keepdims=True), 1e-300)
        w = r.sum(0) + 1e-9
        mu = (r * v[:, None]).sum(0) / w
        sd = np.sqrt((r * (v[:, None] - mu) ** 2).sum(0) / w)
    out = []
    for j in range(k):
        a = np.zeros(x.shape, np.float32)
        a[mask] = r[:, j]
        out.append(a)
    return out, mu, sd


def _factors(zooms: np.ndarray, target_mm: float) -> tuple[int, int, int]:
    return tuple(int(max(1, round(target_mm / float(z)))) for z in zooms)  # type: ignore[return-value]


def _block_sum(a: np.ndarray, f: tuple[int, int, int]) -> np.ndarray:
    """Sum over f-sized blocks (the array is zero-padded to a multiple of f)."""
    pad = [(0, (-n) % k) for n, k in zip(a.shape, f, strict=True)]
    a = np.pad(a, pad)
    s = a.shape
    return a.reshape(s[0] // f[0], f[0], s[1] // f[1], f[1], s[2] // f[2], f[2]).sum(axis=(1, 3, 5))


def _upsample(c: np.ndarray, f: tuple[int, int, int], shape: tuple[int, ...]) -> np.ndarray:
    """Linear interpolation of block values (block centres) back onto the fine grid."""
    coords = [
        (np.arange(n, dtype=np.float32) + 0.5) / k - 0.5 for n, k in zip(shape, f, strict=True)
    ]
    out = c.astype(np.float32)
    for ax in range(3):
        x = np.clip(coords[ax], 0, c.shape[ax] - 1)
        lo = np.clip(np.floor(x).astype(int), 0, max(c.shape[ax] - 2, 0))
        hi = np.minimum(lo + 1, c.shape[ax] - 1)
        w = (x - lo).astype(np.float32)
        shp = [1, 1, 1]
        shp[ax] = -1
        out = np.take(out, lo, axis=ax) * (1 - w).reshape(shp) + np.take(
            out, hi, axis=ax
        ) * w.reshape(shp)
    return out


def local_stats(
    x: np.ndarray,
    ref: np.ndarray,
    sigma_mm: float,
    zooms: np.ndarray,
    *,
    iterations: int = 3,
    k: float = 2.5,
    block_mm: float = 2.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Local mean and SD of ``x`` over the reference voxels, Gaussian-weighted, outliers trimmed.

    Each pass drops reference voxels more than ``k`` local SDs from the local mean (lesions inside
    the reference do not bias it). The weighted sums are pooled in blocks of about ``block_mm``
    and smoothed there (the statistics vary over ``sigma_mm``, several blocks), then interpolated
    back. Returns mean, SD and the local weight (density) of the reference.
    """
    f = _factors(zooms, block_mm)
    cz = np.asarray(zooms, float) * np.array(f)
    sig = [sigma_mm / float(z) for z in cz]
    m = ref.copy()
    mean = sd = den = np.zeros(x.shape, np.float32)
    xf = x.astype(np.float32)
    nvox = float(np.prod(f))
    for _ in range(iterations):
        w0 = ndimage.gaussian_filter(_block_sum(m, f).astype(np.float64), sig, truncate=3.0)
        w1 = ndimage.gaussian_filter(
            _block_sum(np.where(m, xf, 0), f).astype(np.float64), sig, truncate=3.0
        )
        mean = _upsample(w1 / np.maximum(w0, 1e-4), f, x.shape)
        # the spread around the local mean itself (a slow trend does not inflate it)
        r2 = np.where(m, (xf - mean) ** 2, 0).astype(np.float64)
        w2 = ndimage.gaussian_filter(_block_sum(r2, f), sig, truncate=3.0)
        sd = np.sqrt(_upsample(w2 / np.maximum(w0, 1e-4), f, x.shape))
        den = _upsample(w0 / nvox, f, x.shape)
        m = ref & (np.abs(xf - mean) < k * np.maximum(sd, 1e-6))
    return mean, sd, den


def _blend_local(
    x: np.ndarray, ref: np.ndarray, sigma_mm: float, zooms: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Local mean/SD, falling back to a 3x wider scale where the reference is sparse."""
    mu, sd, den = local_stats(x, ref, sigma_mm, zooms)
    mu2, sd2, _ = local_stats(x, ref, 3 * sigma_mm, zooms)
    w = np.clip(den / 0.15, 0, 1)
    return w * mu + (1 - w) * mu2, w * sd + (1 - w) * sd2


def prepare(
    flair: Volume,
    *,
    t1: Volume | None,
    brain_mask: np.ndarray | None,
    template: TemplateLike | None,
    priors: Priors | None,
    settings: LesionSegSettings,
) -> Prepared:
    """N4, template priors, brain mask, tissue classes and the FLAIR z-maps on the FLAIR grid."""
    s = settings
    aff = np.asarray(flair.affine, float)
    zooms = np.asarray(flair.zooms, float)
    f = np.clip(np.asarray(flair.data, np.float32), 0, None)
    notes: list[str] = []
    t1_on = None
    if t1 is not None:
        same = np.shape(t1.data) == f.shape and np.allclose(t1.affine, aff, atol=1e-3)
        if same:
            t1_on = np.clip(np.asarray(t1.data, np.float32), 0, None)
        else:
            announce("the T1 onto the FLAIR (rigid registration)")
            t1_on = rigid_to(
                f,
                aff,
                np.asarray(t1.data, np.float32),
                np.asarray(t1.affine, float),
                seed=s.seed,
                source=t1.source,
            )
            notes.append(
                "T1 registered rigidly to the FLAIR (mutual information) and resampled onto its grid"
            )
    stripped = False
    if brain_mask is None:
        found = stripped_brain(f, zooms)
        if found is not None:
            brain_mask, stripped = found, True
            notes.append(
                f"the FLAIR is already skull-stripped (zeros outside {found.sum() * np.prod(zooms) / 1e6:.2f} L): "
                "its non-zero part is the brain"
            )
    head = head_mask(f, zooms) if brain_mask is None else np.asarray(brain_mask, bool)
    if s.n4:
        announce("correcting the bias field (N4)")
        f, _ = n4_correct(f, aff, mask=head)
        if t1_on is not None:
            t1_on, _ = n4_correct(
                t1_on, aff, mask=head_mask(t1_on, zooms) if brain_mask is None else head
            )
        notes.append("N4 bias-field correction (antspyx)")
    if priors is None:
        if template is None:
            raise ValueError("segment_lesions needs a template (or priors) to find white matter")
        contrast = t1_on if t1_on is not None else f
        announce("placing the MNI152 template (brain, white matter, ventricles, cortex)")
        priors = _priors_from_template(
            contrast,
            aff,
            template,
            s,
            use_t1=t1_on is not None,
            fixed_mask=brain_mask,
            head=head if t1_on is None or brain_mask is not None else head_mask(t1_on, zooms),
        )
    notes.extend(priors.notes)
    if brain_mask is not None:
        brain = np.asarray(brain_mask, bool)
        if not stripped:
            notes.append("brain mask given")
    else:
        brain = (priors.brain > 0.5) & head
        brain = np.asarray(ndimage.binary_fill_holes(brain))
        notes.append("brain mask from the registered template")
    channel = t1_on if t1_on is not None else f
    sig = [s.smooth_mm / float(z) for z in zooms]
    chan_s = ndimage.gaussian_filter(channel, sig) if s.smooth_mm > 0 else channel
    announce("tissue classes and local white-matter contrast")
    post, mu, sd = tissue_em(chan_s, brain, [priors.csf, priors.gm, priors.wm], s.tissue_iterations)
    pc, pg, pw = post
    fs = ndimage.gaussian_filter(f, sig) if s.smooth_mm > 0 else f
    z, zg, contrast, gsd, nawm = contrast_maps(f, fs, brain, pc, pg, pw, priors, zooms, s)
    t1_ratio = None
    if t1_on is not None:
        # T1 over its local normal-appearing white matter (lesions are hypo- or isointense)
        mu_t1, _ = _blend_local(chan_s, nawm, s.nawm_sigma_mm, zooms)
        t1_ratio = np.where(brain, chan_s / np.maximum(mu_t1, 1e-6), 0).astype(np.float32)
    notes.append(
        f"tissue classes by EM on the {'T1' if t1_on is not None else 'FLAIR'} with the registered priors "
        f"(means {', '.join(f'{m:.3g}' for m in mu)})"
    )
    return Prepared(
        flair=f,
        t1=t1_on,
        affine=aff,
        zooms=zooms,
        brain=brain,
        priors=priors,
        posteriors={"csf": pc, "gm": pg, "wm": pw},
        z=z,
        zg=zg,
        contrast=contrast,
        nawm_sd=gsd,
        notes=notes,
        t1_ratio=t1_ratio,
    )


def contrast_maps(
    f: np.ndarray,
    fs: np.ndarray,
    brain: np.ndarray,
    pc: np.ndarray,
    pg: np.ndarray,
    pw: np.ndarray,
    priors: Priors,
    zooms: np.ndarray,
    s: LesionSegSettings,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, np.ndarray]:
    """FLAIR in local NAWM SDs (``z``) and cortex SDs (``zg``), unsmoothed contrast to NAWM.

    ``fs`` is the smoothed FLAIR ``f``. The NAWM reference is white matter by the tissue classes
    (``pw > 0.9``, eroded), plus brainstem/cerebellar white matter by the registered prior. With
    ``nawm_exclude_contrast`` > 0 the reference leaves out voxels brighter than ``1 +`` that times
    a first local mean (a large or confluent lesion that the classes call white matter, as a
    T1-isointense one, must not raise its own reference), and ``nawm_sd_cap`` > 0 caps the local
    SD at that many times the median one (a lesion inside the neighbourhood inflates it).
    Returns z, zg, contrast, the median NAWM SD and the reference mask.
    """
    erode = ndimage.binary_erosion(pw > 0.5, iterations=1)
    nawm = brain & (pw > 0.9) & erode
    if s.infratentorial_prior_wm > 0:
        # brainstem and cerebellar white matter: FLAIR (and often T1) class it poorly, so the
        # local reference there is the registered white-matter prior (not CSF); without it the
        # reference comes from the cerebrum and the whole pons looks hyperintense
        nawm |= (
            brain
            & (priors.infratentorial > 0.5)
            & (priors.wm >= s.infratentorial_prior_wm)
            & (pc < 0.2)
        )
    if nawm.sum() < 50:
        nawm = brain & (pw > 0.5)
    mu_w, sd_w = _blend_local(fs, nawm, s.nawm_sigma_mm, zooms)
    if s.nawm_exclude_contrast > 0:
        clean = nawm & (fs <= (1 + s.nawm_exclude_contrast) * mu_w)
        if clean.sum() >= 50:
            nawm = clean
            mu_w, sd_w = _blend_local(fs, nawm, s.nawm_sigma_mm, zooms)
    gsd = float(np.median(sd_w[nawm])) if nawm.any() else 1.0
    sd_used = np.maximum(sd_w, 0.5 * gsd)
    if s.nawm_sd_cap > 0:
        sd_used = np.minimum(sd_used, s.nawm_sd_cap * gsd)
    z = (fs - mu_w) / sd_used
    cortex_ref = brain & (pg > 0.9) & (priors.cortex > 0.3)
    if cortex_ref.sum() < 50:
        cortex_ref = brain & (pg > 0.5)
    mu_g, sd_g = _blend_local(fs, cortex_ref, 1.5 * s.nawm_sigma_mm, zooms)
    gsd_g = float(np.median(sd_g[cortex_ref])) if cortex_ref.any() else 1.0
    zg = (fs - mu_g) / np.maximum(sd_g, 0.5 * gsd_g)
    z = np.where(brain, z, 0).astype(np.float32)
    zg = np.where(brain, zg, 0).astype(np.float32)
    # unsmoothed contrast to the local white matter: the lesion's edge is drawn on it
    contrast = np.where(brain, (f - mu_w) / np.maximum(mu_w, 1e-6), 0).astype(np.float32)
    return z, zg, contrast, gsd, nawm
