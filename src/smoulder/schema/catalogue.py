"""The catalogue of digital measures: units, direction, variability and detectable change.

Every measure that smoulder reads from phones, wearables, home tests or questionnaires is
described here once. It reads no files and imports nothing but the standard library, so that both
layers that need it can: the readers (:mod:`smoulder.io.measures`, :mod:`smoulder.io.fhir`,
:mod:`smoulder.io.apple_health`) use it to check names, convert units and reject impossible
values; the engines (:mod:`smoulder.digital`) use it to know which direction is worse, whether a
practice (learning) phase must be handled first, and how large a change is meaningful.

Numbers come from the literature summarised in the project's domain reference (section 4):
weekly 2-minute walk SD about 65 m around 130 m in Lam et al. 2023 is a between-week spread that
includes real change; test-retest ICCs of smartphone tests are 0.6-0.9; the MS sherpa smartphone
SDMT has a smallest detectable change of 7 points; an MSIS-29 physical change of 8 points is
meaningful. Where no published figure exists the field is ``None`` and the detectors fall back to
the person's own variability.

Examples
--------
>>> from smoulder.schema.catalogue import get_measure
>>> m = get_measure("walking_speed")
>>> m.unit, m.worse
('m/s', 'lower')
>>> m.to_canonical(3.6, "km/h")
1.0
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Literal

from smoulder.exceptions import InputDataError, SettingsError

__all__ = ["Measure", "MEASURES", "get_measure", "measure_names", "to_canonical"]

Direction = Literal["lower", "higher"]
Kind = Literal["passive", "home_test", "pro", "clinic"]
Aggregation = Literal["sum", "mean", "median", "last", "max", "min"]


@dataclass(frozen=True)
class Measure:
    """One digital measure.

    Parameters
    ----------
    name : str
        Canonical name used in the long table (``measure`` column).
    unit : str
        Canonical unit; values are stored in this unit.
    worse : {"lower", "higher"}
        Which direction is worse for the person.
    kind : {"passive", "home_test", "pro", "clinic"}
        Passive sensor stream, active home test, patient-reported outcome, or a clinic outcome
        (EDSS and the timed tests, read from EHR exports; smoulder progression analyses them).
    daily : {"sum", "mean", "median", "last", "max", "min"}
        How records of one day combine into the daily value (steps add up; speeds average).
    valid_range : tuple of float
        Physically possible values in the canonical unit, inclusive; anything outside is rejected.
    units : dict
        Accepted unit spellings and the factor that converts them to the canonical unit
        (``value_canonical = value * factor``).
    within_person_cv : float or None
        Typical within-person coefficient of variation of one measurement (fraction), used by the
        simulator and as a prior; detectors estimate each person's own noise.
    sdc : float or None
        Smallest detectable (or minimal important) change in the canonical unit, where published.
    practice_effect : bool
        True when repeated testing improves scores early on (learning phase).
    transform : {"log", "identity"}
        Scale on which changes are judged: ``log`` for positive ratio-scale measures (a change
        is a percentage), ``identity`` for bounded scores.
    loinc : str or None
        LOINC code written on FHIR Observations (and read), where one means exactly this
        measure.
    loinc_also : tuple of str
        Further LOINC codes read as this measure (never written): the same quantity over another
        time span or from another method, e.g. HL7 mHealth's 55423-8 *Number of steps in
        unspecified time Pedometer* for steps (a day's records add up).
    apple_types : tuple of str
        Apple Health record types mapped to this measure.
    description : str
        One line for tables and plots.
    outcome : bool
        False for helper streams that qualify other measures (wear time) and are not judged
        for worsening themselves.
    """

    name: str
    unit: str
    worse: Direction
    kind: Kind
    daily: Aggregation
    valid_range: tuple[float, float]
    units: dict[str, float] = field(default_factory=dict)
    within_person_cv: float | None = None
    sdc: float | None = None
    practice_effect: bool = False
    transform: Literal["log", "identity"] = "log"
    loinc: str | None = None
    loinc_also: tuple[str, ...] = ()
    apple_types: tuple[str, ...] = ()
    description: str = ""
    outcome: bool = True

    @property
    def sign(self) -> int:
        """+1 when higher is worse, -1 when lower is worse."""
        return 1 if self.worse == "higher" else -1

    def to_canonical(self, value: float, unit: str | None) -> float:
        """Convert ``value`` given in ``unit`` to the canonical unit.

        Raises
        ------
        InputDataError
            When the unit is not one this measure accepts.
        """
        return value * self.unit_factor(unit)

    def unit_factor(self, unit: str | None) -> float:
        """Factor from ``unit`` to the canonical unit (``None`` or empty means canonical)."""
        if unit is None or unit == "" or unit == self.unit:
            return 1.0
        try:
            return self.units[unit]
        except KeyError:
            allowed = ", ".join(sorted({self.unit, *self.units}))
            raise InputDataError(
                f"unit {unit!r} is not known for measure '{self.name}'",
                column="unit",
                expected=f"one of {allowed}",
            ) from None


def _m(**kw) -> Measure:
    return Measure(**kw)


_MEASURES: tuple[Measure, ...] = (
    # passive streams (phone and watch)
    _m(
        name="steps",
        unit="count",
        worse="lower",
        kind="passive",
        daily="sum",
        valid_range=(0, 100_000),
        units={"count/day": 1.0, "steps": 1.0, "/d": 1.0},
        within_person_cv=0.35,
        loinc="41950-7",
        loinc_also=("55423-8",),
        apple_types=("HKQuantityTypeIdentifierStepCount",),
        description="steps per day",
    ),
    _m(
        name="walking_speed",
        unit="m/s",
        worse="lower",
        kind="passive",
        daily="median",
        valid_range=(0.05, 3.0),
        units={
            "km/h": 1 / 3.6,
            "km/hr": 1 / 3.6,
            "m/min": 1 / 60,
            "mph": 0.44704,
            "mi/hr": 0.44704,
        },
        within_person_cv=0.08,
        # 41957-2 is the mean walking speed of 24 h: read as the day's level, never written
        # (smoulder's daily value is the median of the day's samples)
        loinc_also=("41957-2",),
        apple_types=("HKQuantityTypeIdentifierWalkingSpeed",),
        description="usual walking speed",
    ),
    _m(
        name="walking_distance",
        unit="m",
        worse="lower",
        kind="passive",
        daily="sum",
        valid_range=(0, 100_000),
        units={"km": 1000.0, "mi": 1609.344, "ft": 0.3048, "yd": 0.9144},
        within_person_cv=0.4,
        loinc="41953-1",
        loinc_also=("55430-3",),
        apple_types=("HKQuantityTypeIdentifierDistanceWalkingRunning",),
        description="distance walked per day (Apple Health: walking and running)",
    ),
    _m(
        name="step_length",
        unit="m",
        worse="lower",
        kind="passive",
        daily="median",
        valid_range=(0.1, 1.5),
        units={"cm": 0.01, "in": 0.0254, "ft": 0.3048},
        within_person_cv=0.05,
        apple_types=("HKQuantityTypeIdentifierWalkingStepLength",),
        description="walking step length",
    ),
    _m(
        name="walking_asymmetry",
        unit="%",
        worse="higher",
        kind="passive",
        daily="median",
        valid_range=(0, 100),
        units={"fraction": 100.0},
        transform="identity",
        within_person_cv=None,
        apple_types=("HKQuantityTypeIdentifierWalkingAsymmetryPercentage",),
        description="share of steps with asymmetric timing",
    ),
    _m(
        name="double_support",
        unit="%",
        worse="higher",
        kind="passive",
        daily="median",
        valid_range=(0, 100),
        units={"fraction": 100.0},
        transform="identity",
        within_person_cv=0.06,
        apple_types=("HKQuantityTypeIdentifierWalkingDoubleSupportPercentage",),
        description="share of the gait cycle with both feet on the ground",
    ),
    _m(
        name="six_minute_walk_estimate",
        unit="m",
        worse="lower",
        kind="passive",
        daily="last",
        valid_range=(1, 1000),
        units={"km": 1000.0, "mi": 1609.344, "ft": 0.3048, "yd": 0.9144},
        within_person_cv=0.06,
        apple_types=("HKQuantityTypeIdentifierSixMinuteWalkTestDistance",),
        description="six-minute-walk distance estimated by the watch",
    ),
    _m(
        name="flights_climbed",
        unit="count",
        worse="lower",
        kind="passive",
        daily="sum",
        valid_range=(0, 500),
        units={"flights": 1.0},
        within_person_cv=0.6,
        transform="identity",
        apple_types=("HKQuantityTypeIdentifierFlightsClimbed",),
        description="flights of stairs climbed per day",
    ),
    _m(
        name="sleep_hours",
        unit="h",
        worse="lower",
        kind="passive",
        daily="sum",
        valid_range=(0, 24),
        units={"min": 1 / 60, "s": 1 / 3600},
        within_person_cv=0.15,
        transform="identity",
        loinc="93832-4",
        apple_types=("HKCategoryTypeIdentifierSleepAnalysis",),
        description="hours asleep per night",
    ),
    _m(
        name="hrv_sdnn",
        unit="ms",
        worse="lower",
        kind="passive",
        daily="median",
        valid_range=(1, 500),
        units={"s": 1000.0},
        within_person_cv=0.25,
        apple_types=("HKQuantityTypeIdentifierHeartRateVariabilitySDNN",),
        description="heart-rate variability (SDNN)",
    ),
    _m(
        name="heart_rate",
        unit="/min",
        worse="higher",
        kind="passive",
        daily="median",
        valid_range=(20, 250),
        units={"count/min": 1.0, "{beats}/min": 1.0, "beats/min": 1.0, "bpm": 1.0, "1/min": 1.0},
        loinc="8867-4",
        outcome=False,
        # Apple Health heart-rate samples give wear time (wear_hours), not this measure
        description="heart rate (context; not judged for worsening)",
    ),
    _m(
        name="body_weight",
        unit="kg",
        worse="lower",
        kind="passive",
        daily="median",
        valid_range=(1, 500),
        units={"g": 0.001, "lb": 0.45359237, "oz": 0.028349523125, "st": 6.35029318},
        loinc="29463-7",
        outcome=False,
        apple_types=("HKQuantityTypeIdentifierBodyMass",),
        description="body weight (context; not judged for worsening)",
    ),
    _m(
        name="wear_hours",
        unit="h",
        worse="lower",
        kind="passive",
        daily="sum",
        valid_range=(0, 24),
        units={"min": 1 / 60},
        transform="identity",
        outcome=False,
        description="hours the wearable was worn (used for the wear rule only)",
    ),
    # active home tests (smartphone batteries such as Floodlight, MS sherpa, dreaMS)
    _m(
        name="two_minute_walk",
        unit="m",
        worse="lower",
        kind="home_test",
        daily="median",
        valid_range=(1, 500),
        units={"km": 1000.0, "ft": 0.3048, "yd": 0.9144},
        within_person_cv=0.10,
        practice_effect=False,
        description="two-minute walk test distance",
    ),
    _m(
        name="u_turn_speed",
        unit="rad/s",
        worse="lower",
        kind="home_test",
        daily="median",
        valid_range=(0.05, 10),
        units={"deg/s": 0.017453292519943295},
        within_person_cv=0.12,
        practice_effect=True,
        description="U-turn test turn speed",
    ),
    _m(
        name="static_balance",
        unit="m/s2",
        worse="higher",
        kind="home_test",
        daily="median",
        valid_range=(0, 20),
        within_person_cv=0.20,
        practice_effect=True,
        description="static balance test sway path (higher is more sway)",
    ),
    _m(
        name="pinch",
        unit="count",
        worse="lower",
        kind="home_test",
        daily="median",
        valid_range=(0, 200),
        units={"pinches": 1.0},
        within_person_cv=0.15,
        practice_effect=True,
        description="tomatoes squeezed in the pinching test",
    ),
    _m(
        name="draw_shape",
        unit="score",
        worse="lower",
        kind="home_test",
        daily="median",
        valid_range=(0, 1),
        within_person_cv=0.10,
        practice_effect=True,
        transform="identity",
        description="draw-a-shape accuracy (0 to 1)",
    ),
    _m(
        name="sdmt_phone",
        unit="score",
        worse="lower",
        kind="home_test",
        daily="median",
        valid_range=(0, 120),
        units={"points": 1.0, "correct": 1.0},
        within_person_cv=0.08,
        sdc=7.0,
        practice_effect=True,
        description="smartphone symbol digit modalities test (correct answers)",
    ),
    # patient-reported outcomes
    _m(
        name="msis29_physical",
        unit="score",
        worse="higher",
        kind="pro",
        daily="last",
        valid_range=(0, 100),
        within_person_cv=None,
        sdc=8.0,
        transform="identity",
        description="MSIS-29 physical impact, 0 to 100",
    ),
    _m(
        name="msis29_psychological",
        unit="score",
        worse="higher",
        kind="pro",
        daily="last",
        valid_range=(0, 100),
        within_person_cv=None,
        transform="identity",
        description="MSIS-29 psychological impact, 0 to 100",
    ),
    _m(
        name="msws12",
        unit="score",
        worse="higher",
        kind="pro",
        daily="last",
        valid_range=(0, 100),
        within_person_cv=None,
        transform="identity",
        description="MS Walking Scale (MSWS-12), 0 to 100",
    ),
    _m(
        name="pdds",
        unit="score",
        worse="higher",
        kind="pro",
        daily="last",
        valid_range=(0, 8),
        within_person_cv=None,
        sdc=1.0,
        transform="identity",
        description="Patient Determined Disease Steps, 0 to 8",
    ),
    # clinic outcomes, as EHR exports carry them; no LOINC code means these (see docs/fhir.md),
    # so FHIR uses smoulder's own code system for them. smoulder progression analyses them from
    # the visits table; digital detection does not judge them.
    _m(
        name="edss",
        unit="score",
        worse="higher",
        kind="clinic",
        daily="last",
        valid_range=(0, 10),
        transform="identity",
        outcome=False,
        description="Expanded Disability Status Scale, 0 to 10 (clinic)",
    ),
    _m(
        name="t25fw",
        unit="s",
        worse="higher",
        kind="clinic",
        daily="last",
        valid_range=(1, 300),
        units={"min": 60.0},
        outcome=False,
        description="timed 25-foot walk, seconds (clinic)",
    ),
    _m(
        name="nhpt",
        unit="s",
        worse="higher",
        kind="clinic",
        daily="last",
        valid_range=(1, 600),
        units={"min": 60.0},
        outcome=False,
        description="9-hole peg test, mean seconds of both hands (clinic)",
    ),
    _m(
        name="sdmt",
        unit="score",
        worse="lower",
        kind="clinic",
        daily="last",
        valid_range=(0, 110),
        units={"points": 1.0, "correct": 1.0},
        transform="identity",
        outcome=False,
        description="symbol digit modalities test, correct answers in 90 s (clinic)",
    ),
)

MEASURES: dict[str, Measure] = {m.name: m for m in _MEASURES}


def measure_names() -> list[str]:
    """Names of all catalogued measures, sorted.

    Returns
    -------
    list of str
    """
    return sorted(MEASURES)


def get_measure(name: str) -> Measure:
    """Look a measure up by name; unknown names raise a clear error with suggestions.

    Parameters
    ----------
    name : str
        A catalogue name (``steps``, ``walking_speed`` ...).

    Returns
    -------
    Measure

    Raises
    ------
    SettingsError
        When ``name`` is not in the catalogue.
    """
    try:
        return MEASURES[name]
    except KeyError:
        close = difflib.get_close_matches(name, MEASURES, n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise SettingsError(
            f"unknown measure {name!r}{hint}; known measures: {', '.join(measure_names())}"
        ) from None


def to_canonical(name: str, value: float, unit: str | None = None) -> float:
    """Convert ``value`` of measure ``name`` from ``unit`` to its canonical unit.

    Parameters
    ----------
    name : str
        A catalogue name.
    value : float
        The value in ``unit``.
    unit : str, optional
        A spelling the measure accepts (default: the canonical unit).

    Returns
    -------
    float
        The value in the canonical unit.

    Examples
    --------
    >>> to_canonical("step_length", 2.5, "ft")
    0.762
    """
    return get_measure(name).to_canonical(value, unit)
