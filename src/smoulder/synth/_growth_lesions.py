"""Lesions of the held-out SEL phantom family: shapes, placement, growth in time, membership.

A lesion is a :class:`~smoulder.synth._growth_fields.StarShape` in anatomy (MNI mm) space with a
growth ``pattern``:

- ``push`` / ``push_compressive``: the anatomy itself deforms (see
  :func:`~smoulder.synth._growth_fields.push_inverse`); membership is the baseline shape at the
  pulled-back point;
- ``front``, ``eccentric``, ``one_sided``, ``front_shrink``: level-set growth on a 0.1-0.25 mm
  local grid: the lesion at time ``t`` is ``{sd(x) <= delta(t) speed(n)}`` with ``sd`` the signed
  distance to the baseline shape; ``delta(t)`` is chosen so the volume is exactly ``g(t)`` times
  the baseline volume (a quantile of ``sd / speed``);
- ``none``: stable; ``new``: a lesion that appears after baseline (beside an old one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage
from scipy.spatial.transform import Rotation

from smoulder.synth._growth_fields import StarShape

#: Diameter ranges (mm, sphere of equal volume) of the size classes.
SIZE_MM = {"small": (3.0, 5.0), "medium": (6.0, 10.0), "large": (12.0, 18.0)}
FRONT_PATTERNS = ("front", "eccentric", "one_sided", "front_shrink")


@dataclass
class FrontLesion:
    """One lesion: shape, growth pattern and rate, appearance; the level-set grid when needed."""

    kind: str
    pattern: str
    shape: StarShape
    shape_name: str
    size_class: str
    rate: float  # compound volume change per year, %, relative to the brain
    periventricular: bool
    mask_threshold: float
    flair_level: float
    t1_base: float
    onset: float = 0.0
    grow_dir: np.ndarray = field(default_factory=lambda: np.array([0.0, 0.0, 1.0]))
    ecc: float = 0.0
    v0: float = 0.0
    rmax: float = 0.0
    last_year: float = 2.0
    _grid: dict[str, Any] | None = None

    def factor(self, t: float) -> float:
        """Volume at ``t`` over baseline volume (relative to the brain)."""
        if self.pattern == "new":
            span = max(self.last_year - self.onset, 1e-6)
            return float((0.7 + 0.3 * np.clip((t - self.onset) / span, 0, 1)) ** 3)
        return float((1.0 + self.rate / 100.0) ** t)

    def present(self, t: float) -> bool:
        return t >= self.onset

    def reach_mm(self, t: float) -> float:
        g = max(self.factor(t), 1.0)
        boost = 2.0 if self.pattern == "one_sided" else 1.0 + self.ecc
        return self.rmax * (1.0 + boost * (g ** (1 / 3) - 1.0)) + 1.5

    def t1_level(self, t: float) -> float:
        return self.t1_base * (1.0 - (0.02 * t if self.kind == "expanding" else 0.0))

    def speed(self, n: np.ndarray) -> np.ndarray:
        cos = self.grow_dir @ n
        if self.pattern == "eccentric":
            return 1.0 + self.ecc * cos
        if self.pattern == "one_sided":
            return np.maximum(cos, 0.0)
        return np.ones(n.shape[1])

    def front_grid(self) -> dict[str, Any]:
        """Signed distance to the baseline shape on a local fine grid, and the sorted growth keys."""
        if self._grid is not None:
            return self._grid
        h = float(min(0.25, self.rmax / 12.0))
        ext = self.reach_mm(self.last_year) + 1.0
        n = int(np.ceil(2 * ext / h)) + 1
        ax = np.arange(n) * h - ext
        pts = np.stack(np.meshgrid(ax, ax, ax, indexing="ij")).reshape(3, -1)
        pts = pts + self.shape.center[:, None]
        r, d = self.shape.polar(pts)
        inside = (r <= self.shape.rho(d)).reshape(n, n, n)
        sd = (ndimage.distance_transform_edt(~inside) - ndimage.distance_transform_edt(inside)) * h
        sp = self.speed(d)
        key = np.where(sd.ravel() <= 0, sd.ravel(), sd.ravel() / np.maximum(sp, 1e-9))
        key[(sd.ravel() > 0) & (sp <= 1e-9)] = np.inf
        self._grid = {
            "sd": sd.astype(np.float32),
            "origin": self.shape.center - ext,
            "h": h,
            "keys": np.sort(key),
            "n0": int(inside.sum()),
        }
        return self._grid

    def delta(self, t: float) -> float:
        g = self.front_grid()
        k = int(round(self.factor(t) * g["n0"]))
        k = min(max(k, 1), g["keys"].size) - 1
        return float(g["keys"][k]) if k != g["n0"] - 1 else 0.0


def lesion_membership(les: FrontLesion, x: np.ndarray, t: float) -> np.ndarray:
    """True where anatomy points ``x`` (3, N) lie inside the lesion at time ``t``."""
    r, n = les.shape.polar(x)
    if les.pattern not in FRONT_PATTERNS:
        scale = les.factor(t) ** (1.0 / 3.0) if les.pattern == "new" else 1.0
        return r <= les.shape.rho(n) * scale
    g = les.front_grid()
    vox = (x - g["origin"][:, None]) / g["h"]
    sd = ndimage.map_coordinates(g["sd"], vox, order=1, mode="nearest")
    dl = les.delta(t)
    if dl >= 0:
        return sd <= dl * les.speed(n)
    return sd <= dl


def _shape(rng: np.random.Generator, name: str, center: np.ndarray, radius: float) -> StarShape:
    rot = Rotation.random(random_state=int(rng.integers(2**31))).as_matrix()
    if name == "sphere":
        axes = np.full(3, radius)
    else:
        axes = radius * np.array([rng.uniform(1.2, 1.6), rng.uniform(0.85, 1.1), 1.0])
    lobes = amp = None
    if name == "lobulated":
        k = int(rng.integers(3, 6))
        lobes = rng.normal(size=(3, k))
        lobes /= np.linalg.norm(lobes, axis=0, keepdims=True)
        amp = rng.uniform(0.15, 0.35, k)
    sh = StarShape(center=center, axes=axes, rot=rot, lobes=lobes, lobe_amp=amp)
    # scale to the requested equal-volume radius
    v = sh.volume()
    f = radius / np.cbrt(3.0 * v / (4.0 * np.pi))
    sh.axes = sh.axes * f
    return sh


def make_lesion_specs(
    rng: np.random.Generator,
    tpl: dict[str, Any],
    kinds: list[str],
    *,
    sizes: list[str],
    patterns: list[str],
    expansion: tuple[float, float],
    shrink: tuple[float, float],
    first_follow_up: float,
    ventricles: tuple[np.ndarray, ...],
    ventricle_core: float,
    fov_center: np.ndarray,
    fov: np.ndarray,
    last_year: float = 2.0,
) -> tuple[list[FrontLesion], list[FrontLesion]]:
    """Draw and place the baseline lesions (and the new lesions beside old ones)."""
    wm = tpl["maps"]["wm"]
    csf = np.clip(1 - wm - tpl["maps"]["gm"], 0, 1) * (tpl["maps"]["brain"] > 0.5)
    aff = np.linalg.inv(tpl["inv"])
    depth = ndimage.distance_transform_edt(wm > 0.5)
    ijk = np.argwhere(wm > 0.6)
    xyz = ijk @ aff[:3, :3].T + aff[:3, 3]
    vent = np.zeros(wm.shape, bool)
    vi = np.argwhere(csf > 0.5)
    vx = vi @ aff[:3, :3].T + aff[:3, 3]
    central = (np.abs(vx[:, 0]) < 25) & (vx[:, 1] > -45) & (vx[:, 1] < 25) & (vx[:, 2] > -5)
    central &= vx[:, 2] < 35
    vent[tuple(vi[central].T)] = True
    vdist = ndimage.distance_transform_edt(~vent)[tuple(ijk.T)]
    dep = depth[tuple(ijk.T)]
    placed: list[tuple[np.ndarray, float]] = []
    out: list[FrontLesion] = []
    new: list[FrontLesion] = []
    for i, kind in enumerate(kinds):
        size = sizes[i % len(sizes)] if len(sizes) > 1 else sizes[0]
        diam = rng.uniform(*SIZE_MM[size])
        radius = diam / 2.0
        shape_name = "sphere" if size == "small" and rng.random() < 0.5 else "ovoid"
        if size != "small" and rng.random() < 0.5:
            shape_name = "lobulated"
        if kind == "expanding":
            pattern = patterns[int(rng.integers(len(patterns)))]
            rate = float(np.exp(rng.uniform(np.log(expansion[0]), np.log(expansion[1]))))
        elif kind == "one_sided":
            pattern = "one_sided"
            rate = float(np.exp(rng.uniform(np.log(expansion[0]), np.log(expansion[1]))))
        elif kind == "shrinking":
            pattern = "push" if rng.random() < 0.5 else "front_shrink"
            rate = float(rng.uniform(*shrink))
        else:
            pattern, rate = "none", 0.0
        shape = _shape(rng, shape_name, np.zeros(3), radius)
        rmax = float(np.max(shape.rho(_dirs())))
        reach = rmax * 1.3 + 2.0 + (1.5 * radius if kind == "new_beside_old" else 0.0)
        periv = bool(rng.random() < 0.35)
        half = fov / 2.0 - 8.0 - reach
        ok = np.all(np.abs(xyz - fov_center) < half, axis=1) & (dep >= 0.4 * radius)
        for c in ventricles:
            ok &= np.linalg.norm(xyz - c, axis=1) >= 1.3 * ventricle_core + reach
        if periv:
            ok &= vdist <= radius + 4.0
        for pc, pr in placed:
            ok &= np.linalg.norm(xyz - pc, axis=1) >= reach + pr + 2.0
        if not ok.any() and periv:
            periv = False
            ok = np.all(np.abs(xyz - fov_center) < half, axis=1) & (dep >= 0.4 * radius)
            for pc, pr in placed:
                ok &= np.linalg.norm(xyz - pc, axis=1) >= reach + pr + 2.0
        if not ok.any():
            raise ValueError(
                f"could not place lesion {i + 1} of {len(kinds)} ({size}); use fewer lesions"
            )
        center = xyz[rng.choice(np.flatnonzero(ok))] + rng.uniform(-0.5, 0.5, 3)
        placed.append((center, reach))
        shape.center = center
        d = rng.normal(size=3)
        les = FrontLesion(
            kind=kind,
            pattern=pattern,
            shape=shape,
            shape_name=shape_name,
            size_class=size,
            rate=rate,
            periventricular=periv,
            mask_threshold=float(rng.uniform(0.35, 0.65)),
            flair_level=float(rng.uniform(0.95, 1.25)),
            t1_base=float(rng.uniform(0.45, 0.7)),
            grow_dir=d / np.linalg.norm(d),
            ecc=float(rng.uniform(0.5, 0.9)) if pattern == "eccentric" else 0.0,
            rmax=rmax,
            last_year=last_year,
        )
        les.v0 = shape.volume()
        out.append(les)
        if kind == "new_beside_old":
            dn = rng.normal(size=3)
            dn /= np.linalg.norm(dn)
            r_new = radius * rng.uniform(0.45, 0.75)
            gap = rng.uniform(-0.4 * r_new, 2.0)
            c_new = center + dn * (float(shape.rho(dn[:, None])[0]) + r_new + gap)
            nl = FrontLesion(
                kind="new",
                pattern="new",
                shape=_shape(rng, "sphere", c_new, r_new),
                shape_name="sphere",
                size_class=size,
                rate=0.0,
                periventricular=False,
                mask_threshold=0.5,
                flair_level=float(rng.uniform(0.95, 1.25)),
                t1_base=float(rng.uniform(0.6, 0.8)),
                onset=float(rng.uniform(0.2, 0.9) * first_follow_up),
                rmax=r_new,
                last_year=last_year,
            )
            nl.v0 = nl.shape.volume()
            new.append(nl)
    return out, new


def _dirs() -> np.ndarray:
    from smoulder.synth._growth_fields import fibonacci_sphere

    return fibonacci_sphere(2000)


__all__ = ["FrontLesion", "lesion_membership", "make_lesion_specs", "SIZE_MM"]
