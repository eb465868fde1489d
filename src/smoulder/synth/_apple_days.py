"""The records of a batch of days of a simulated Apple Health export
(:mod:`smoulder.synth.apple_health`), with the ground truth the reader must recover."""

from __future__ import annotations

import numpy as np

_SLEEP_VALUES = np.array(
    [
        b"HKCategoryValueSleepAnalysisAsleepCore",
        b"HKCategoryValueSleepAnalysisAsleepDeep",
        b"HKCategoryValueSleepAnalysisAsleepREM",
        b"HKCategoryValueSleepAnalysisAwake",
        b"HKCategoryValueSleepAnalysisInBed",
    ],
    dtype=object,
)


def _civil(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Year, month, day of days since 1970-01-01 (Hinnant's algorithm), vectorised."""
    z = days + 719468
    era = np.floor_divide(z, 146097)
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + np.where(mp < 10, 3, -9)
    return y + (m <= 2), m, d


def _fmt_dates(utc: np.ndarray, off: np.ndarray) -> list[bytes]:
    """Apple date strings ``YYYY-MM-DD hh:mm:ss +hhmm`` as bytes, vectorised."""
    loc = utc + off
    days = np.floor_divide(loc, 86400)
    sod = loc - days * 86400
    y, m, d = _civil(days)
    n = len(utc)
    out = np.empty((n, 25), dtype=np.uint8)

    def put(col: int, width: int, v: np.ndarray) -> None:
        for k in range(width - 1, -1, -1):
            out[:, col + k] = 48 + v % 10
            v = v // 10

    put(0, 4, y)
    out[:, 4] = out[:, 7] = ord("-")
    put(5, 2, m)
    put(8, 2, d)
    out[:, 10] = out[:, 19] = ord(" ")
    put(11, 2, sod // 3600)
    out[:, 13] = out[:, 16] = ord(":")
    put(14, 2, sod % 3600 // 60)
    put(17, 2, sod % 60)
    out[:, 20] = np.where(off < 0, ord("-"), ord("+"))
    a = np.abs(off)
    put(21, 2, a // 3600)
    put(23, 2, a % 3600 // 60)
    return out.view("S25").ravel().tolist()


_CLOSE = b'"/>\n'


def _simulate_days(
    rng: np.random.Generator,
    days: np.ndarray,
    day0: int,
    first_hour: int,
    offs: np.ndarray,
    steps_mean: float,
    speed: float,
    decline_day: int | None,
    decline: float,
    off_prob: float,
    other_types: bool,
    steps_truth: dict[int, float],
    sleep_truth: dict[int, float],
    speed_truth: dict[int, float],
    wear_truth: dict[int, set[int]],
    distance_truth: dict[int, float] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[bytes], list[bytes]]:
    """Records of a batch of days: kind, start, end (UTC seconds), value bytes, closing bytes."""
    kinds: list[np.ndarray] = []
    starts: list[np.ndarray] = []
    ends: list[np.ndarray] = []
    values: list[list[bytes]] = []
    extras: list[list[bytes]] = []

    def emit(
        kind: int | np.ndarray,
        s: np.ndarray,
        e: np.ndarray,
        v: list[bytes],
        x: list[bytes] | None = None,
    ) -> None:
        n = len(s)
        kinds.append(np.broadcast_to(np.asarray(kind, dtype=np.int64), (n,)).copy())
        starts.append(s.astype(np.int64))
        ends.append(e.astype(np.int64))
        values.append(v)
        extras.append(x if x is not None else [_CLOSE] * n)

    # UTC hours of the batch (a local day is near these hours; we work hour by hour in UTC)
    h_lo = (day0 + int(days[0])) * 24 - first_hour
    h_hi = (day0 + int(days[-1]) + 1) * 24 - first_hour
    hours = np.arange(h_lo, h_hi)
    utc_h = (first_hour + hours) * 3600
    off = offs[hours]
    local = utc_h + off
    lday = np.floor_divide(local, 86400)
    lhour = np.floor_divide(local - lday * 86400, 3600)
    uniq_days = np.unique(lday)
    # per local day: activity level, decline, watch worn
    dow = (uniq_days + 3) % 7  # 0 = Monday
    level = np.exp(rng.normal(0, 0.25, len(uniq_days))) * np.where(dow >= 5, 0.85, 1.0)
    factor = np.ones(len(uniq_days))
    if decline_day is not None:
        factor = np.where(uniq_days >= decline_day, 1.0 - decline, 1.0)
    watch_day = rng.random(len(uniq_days)) >= off_prob
    di = np.searchsorted(uniq_days, lday)
    awake = (lhour >= 7) & (lhour <= 22)
    profile = np.where(awake, 1.0 + 0.8 * np.exp(-((lhour - 12.5) ** 2) / 8.0), 0.0)
    true_steps = np.round(
        steps_mean / 17.0 * profile * level[di] * factor[di] * rng.gamma(2.0, 0.5, len(hours))
    )
    worn = watch_day[di] & ~((lhour == 19) & (rng.random(len(hours)) < 0.6))
    carried = awake & (rng.random(len(hours)) < 0.75)
    watch_steps = np.where(worn, true_steps, 0)
    phone_steps = np.where(carried, np.round(true_steps * rng.uniform(0.6, 0.95, len(hours))), 0)
    counted = np.where(watch_steps > 0, watch_steps, phone_steps)
    for d, v in zip(lday.tolist(), counted.tolist(), strict=True):
        if v > 0:
            steps_truth[d] = steps_truth.get(d, 0.0) + v

    metres: dict[
        int, np.ndarray
    ] = {}  # per source kind: metres walked in each hour, from the values as written

    def split(total: np.ndarray, kind: int, per: float) -> None:
        has = total > 0
        hi = np.flatnonzero(has)
        k = np.clip((total[hi] // per).astype(np.int64) + 1, 1, 10)
        idx = np.repeat(hi, k)
        j = np.arange(len(idx)) - np.repeat(np.cumsum(k) - k, k)
        slot = 3600 // np.repeat(k, k)
        s = utc_h[idx] + j * slot + (rng.random(len(idx)) * slot * 0.4).astype(np.int64)
        e = s + 30 + (rng.random(len(idx)) * slot * 0.5).astype(np.int64)
        w = rng.random(len(idx)) + 0.05
        wsum = np.add.reduceat(w, np.cumsum(k) - k)
        v = np.floor(total[idx] * w / np.repeat(wsum, k))
        first = np.cumsum(k) - k
        rest = total[hi] - np.add.reduceat(v, first)
        v[first] += rest
        ok = v > 0
        emit(kind, s[ok], e[ok], np.char.mod(b"%d", v[ok].astype(np.int64)).tolist())
        if other_types:  # a distance record for every step record, as the devices write them
            km = v[ok] * 0.00072 * rng.uniform(0.9, 1.1, int(ok.sum()))
            text = np.char.mod(b"%.5f", km)
            emit(kind + 2, s[ok], e[ok], text.tolist())
            written = text.astype(np.float64) * 1000.0
            metres[kind] = np.bincount(idx[ok], weights=written, minlength=len(hours))

    split(watch_steps, 0, 120)
    split(phone_steps, 1, 250)
    if other_types and distance_truth is not None:
        walked = np.where(watch_steps > 0, metres[0], metres[1])
        for d, v in zip(lday.tolist(), walked.tolist(), strict=True):
            if v > 0:
                distance_truth[d] = distance_truth.get(d, 0.0) + v

    # gait metrics from the phone, about one sample per carried waking hour
    gait = np.flatnonzero(carried & (rng.random(len(hours)) < 0.6))
    if len(gait):
        gs = utc_h[gait] + rng.integers(0, 3000, len(gait))
        ge = gs + rng.integers(20, 300, len(gait))
        dd = di[gait]
        day_speed = speed * factor * np.exp(rng.normal(0, 0.03, len(uniq_days)))
        true_v = day_speed[dd]
        for d, v in zip(uniq_days.tolist(), day_speed.tolist(), strict=True):
            speed_truth[d] = v
        v = true_v * np.exp(rng.normal(0, 0.08, len(gait)))
        emit(7, gs, ge, np.char.mod(b"%.3f", v * 3.6).tolist())
        emit(
            8,
            gs,
            ge,
            np.char.mod(
                b"%.1f", 100 * 0.55 * (v / speed) ** 0.5 * rng.uniform(0.95, 1.05, len(gait))
            ).tolist(),
        )
        emit(
            9, gs, ge, np.char.mod(b"%.4f", np.clip(rng.gamma(1.5, 0.02, len(gait)), 0, 1)).tolist()
        )
        emit(
            10,
            gs,
            ge,
            np.char.mod(b"%.4f", np.clip(rng.normal(0.28, 0.02, len(gait)), 0, 1)).tolist(),
        )
        fl = gait[rng.random(len(gait)) < 0.25]
        if len(fl):
            fs = utc_h[fl] + 3200
            emit(11, fs, fs + 40, np.char.mod(b"%d", rng.integers(1, 5, len(fl))).tolist())

    # six-minute-walk estimate once a week (Sunday 09:00 local)
    sund = np.flatnonzero((lhour == 9) & ((lday + 3) % 7 == 6))
    if len(sund):
        sw = 460 * factor[di[sund]] * rng.normal(1, 0.04, len(sund))
        emit(13, utc_h[sund], utc_h[sund], np.char.mod(b"%.1f", sw).tolist())

    # watch: HRV a few times a night, with instantaneous beats as children
    night = np.flatnonzero(worn & ((lhour >= 1) & (lhour <= 5)) & (rng.random(len(hours)) < 0.8))
    if len(night):
        hs = utc_h[night] + rng.integers(0, 3000, len(night))
        he = hs + 60
        children = []
        for t in _fmt_dates(hs, off[night]):
            tt = t[11:19].decode()
            children.append(
                (
                    '">\n  <HeartRateVariabilityMetadataList>\n'
                    + "".join(
                        f'   <InstantaneousBeatsPerMinute bpm="{58 + j}" time="{tt}.{j}0 AM"/>\n'
                        for j in range(4)
                    )
                    + "  </HeartRateVariabilityMetadataList>\n </Record>\n"
                ).encode()
            )
        emit(
            12,
            hs,
            he,
            np.char.mod(b"%.3f", rng.lognormal(np.log(45), 0.3, len(night))).tolist(),
            children,
        )

    # sleep per local night, in the offset of that evening
    for k, d in enumerate(uniq_days.tolist()):
        ev = np.flatnonzero((lday == d) & (lhour == 23))
        if not len(ev):
            continue
        o = int(off[ev[0]])
        bed = (d * 86400 + 23 * 3600 - o) + int(rng.normal(0, 1800))
        wake = bed + int(rng.normal(7.8, 0.6) * 3600)
        emit(15, np.array([bed - 900]), np.array([wake + 600]), [_SLEEP_VALUES[4]])
        if not watch_day[k] or (k + 1 < len(watch_day) and not watch_day[k + 1]):
            continue
        cuts = np.sort(rng.integers(bed + 600, wake - 600, 5))
        bounds = np.concatenate([[bed], cuts, [wake]])
        stages = np.array([0, 1, 0, 3, 2, 0])
        emit(14, bounds[:-1], bounds[1:], [_SLEEP_VALUES[i] for i in stages])
        # each asleep segment counts for the local date of (its end + 6 h), in the offset of its end
        seg_end = bounds[1:]
        end_loc = seg_end + offs[np.floor_divide(seg_end, 3600) - first_hour]
        nights = np.floor_divide(end_loc + 6 * 3600, 86400)
        for nd, hours in zip(
            nights[stages != 3].tolist(),
            (np.diff(bounds)[stages != 3] / 3600.0).tolist(),
            strict=True,
        ):
            sleep_truth[nd] = sleep_truth.get(nd, 0.0) + hours

    if other_types:
        on = np.flatnonzero(worn)
        for lh in np.floor_divide(local[on], 3600).tolist():
            wear_truth.setdefault(lh // 24, set()).add(lh)
        rep = 12
        idx = np.repeat(on, rep)
        j = np.tile(np.arange(rep), len(on))
        hs = utc_h[idx] + j * 300 + rng.integers(0, 200, len(idx))
        hr = np.where(awake[idx], 78, 58) + rng.normal(0, 6, len(idx))
        emit(4, hs, hs, np.char.mod(b"%d", np.round(hr).astype(np.int64)).tolist())
        emit(6, hs, hs + 290, np.char.mod(b"%.3f", rng.uniform(4.8, 5.6, len(idx))).tolist())
        act = np.flatnonzero(worn & awake)
        rep = 20
        idx = np.repeat(act, rep)
        j = np.tile(np.arange(rep), len(act))
        hs = utc_h[idx] + j * 180 + rng.integers(0, 100, len(idx))
        emit(5, hs, hs + 60, np.char.mod(b"%.3f", rng.gamma(1.2, 0.6, len(idx))).tolist())

    kind = np.concatenate(kinds)
    s = np.concatenate(starts)
    e = np.concatenate(ends)
    vals = [v for lst in values for v in lst]
    ext = [x for lst in extras for x in lst]
    return kind, s, e, vals, ext
