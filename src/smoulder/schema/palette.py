"""One colour and one mark per measure, signal and event kind, for every figure smoulder draws.

The web page (plotly), the PDF reports (matplotlib) and the command line's plots take their colours
from here, so a measure looks the same for every person and in every outlet: PIRA is the same red
on the person page, in the consultation report and in ``smoulder progression --plot``.

The colours come from Paul Tol's colour-blind-safe schemes ("vibrant" and "muted"), chosen so that
marks that share a panel differ in hue for readers with deuteranopia or protanopia, and each kind
also has its own marker shape, so that nothing depends on colour alone. Every kind has a short
label for legends (``label``) and a sentence that says what the mark means (``meaning``).

Device measures that are not listed get a colour from a fixed cycle chosen by a stable hash of
their name (the same colour for the same name on every run and machine).

Examples
--------
>>> colour("PIRA")
'#CC3311'
>>> mark("relapse").plotly, mark("relapse").matplotlib
('star', '*')
>>> colour("steps") == colour("steps") and colour("steps") != colour("two_minute_walk")
True
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass

__all__ = ["Mark", "MARKS", "colour", "mark", "as_dict", "DEVICE_CYCLE"]


@dataclass(frozen=True)
class Mark:
    """How one kind is drawn and explained.

    Parameters
    ----------
    colour : str
        Hex colour ``#RRGGBB``.
    plotly : str
        plotly.js marker symbol.
    matplotlib : str
        matplotlib marker.
    label : str
        Short legend text for clinicians and researchers.
    meaning : str
        What the mark means, in a sentence (legends, hover text, figure captions).
    """

    colour: str
    plotly: str
    matplotlib: str
    label: str
    meaning: str


MARKS: dict[str, Mark] = {
    # clinic scores
    "edss": Mark("#332288", "circle", "o", "EDSS", "EDSS at a clinic visit (0-10, steps of 0.5)"),
    "sdmt": Mark(
        "#117733",
        "square",
        "s",
        "SDMT (points)",
        "Symbol Digit Modalities Test, correct answers in 90 s (higher is better)",
    ),
    "t25fw": Mark(
        "#44AA99",
        "diamond",
        "D",
        "T25FW",
        "timed 25-foot walk, seconds, as % of the first visit (higher is slower)",
    ),
    "nhpt": Mark(
        "#999933",
        "triangle-right",
        ">",
        "9HPT",
        "9-hole peg test, seconds, as % of the first visit (higher is slower)",
    ),
    "meaningful_band": Mark(
        "#DDDDDD",
        "square",
        "s",
        "meaningful change",
        "band of a change too small to count (T25FW and 9HPT within 20 % of the first visit)",
    ),
    # confirmed changes in disability
    "PIRA": Mark(
        "#CC3311",
        "triangle-up",
        "^",
        "PIRA",
        "confirmed worsening with no relapse nearby (progression independent of relapse activity)",
    ),
    "RAW": Mark(
        "#EE7733",
        "triangle-up-open",
        "^",
        "RAW",
        "confirmed worsening shortly after a relapse (relapse-associated worsening)",
    ),
    "undefined": Mark(
        "#777777",
        "triangle-up-dot",
        "^",
        "worsening, cause undefined",
        "confirmed worsening that cannot be attributed to a relapse or to its absence",
    ),
    "CDI": Mark(
        "#0077BB",
        "triangle-down",
        "v",
        "improvement",
        "confirmed disability improvement",
    ),
    # context
    "relapse": Mark("#AA4499", "star", "*", "relapse", "onset of a relapse"),
    "treatment": Mark(
        "#88CCEE",
        "square",
        "s",
        "treatment",
        "disease-modifying treatment course (bar from start to stop)",
    ),
    "last_visit": Mark(
        "#000000", "line-ns", "|", "last visit", "date of the most recent clinic visit"
    ),
    # MRI
    "t2_lesions": Mark("#882255", "circle", "o", "T2 lesions", "T2/FLAIR lesions on the scan"),
    "new_enlarging": Mark(
        "#EE3377",
        "square",
        "s",
        "new/enlarging T2",
        "new or enlarging T2 lesions since the previous scan",
    ),
    "gd_enhancing": Mark(
        "#BB5566",
        "diamond",
        "D",
        "Gd+",
        "gadolinium-enhancing lesions",
    ),
    "mri_active": Mark(
        "#EE3377",
        "x",
        "x",
        "MRI activity",
        "new/enlarging or enhancing lesions (counts not recorded)",
    ),
    "mri_quiet": Mark(
        "#BBBBBB", "circle-open", "o", "no MRI activity", "no new, enlarging or enhancing lesions"
    ),
    "PRL": Mark(
        "#CC6677",
        "circle",
        "o",
        "PRL",
        "paramagnetic rim lesions on the scan (rated by the PRL analysis)",
    ),
    "SEL": Mark(
        "#0099AA",
        "hexagon",
        "h",
        "SEL",
        "definite slowly expanding lesions (rated by the SEL analysis)",
    ),
    # phones and wearables
    "digital_decline": Mark(
        "#CC3311",
        "x-thin-open",
        "X",
        "sustained decline",
        "onset of a sustained decline, marked on the measured curve",
    ),
    "device_baseline": Mark(
        "#555555", "line-ew", "_", "baseline level", "the level before the decline (dashed)"
    ),
    "steps": Mark("#009988", "circle", "o", "steps per day", "daily steps, weekly median"),
    "two_minute_walk": Mark(
        "#0077BB", "circle", "o", "two-minute walk (m)", "two-minute walk test distance, weekly"
    ),
    "walking_speed": Mark("#33BBEE", "circle", "o", "walking speed (m/s)", "usual walking speed"),
    "sdmt_phone": Mark("#117733", "circle", "o", "phone SDMT", "smartphone SDMT, correct answers"),
    "sleep_hours": Mark("#332288", "circle", "o", "sleep (h)", "hours asleep per night"),
}

#: colours for device measures that are not listed above (picked by a stable hash of the name)
DEVICE_CYCLE = ("#009988", "#0077BB", "#33BBEE", "#EE7733", "#AA4499", "#999933", "#882255")


def _cycle(name: str) -> str:
    h = int(hashlib.sha256(name.encode()).hexdigest()[:8], 16)
    return DEVICE_CYCLE[h % len(DEVICE_CYCLE)]


def mark(kind: str) -> Mark:
    """How ``kind`` is drawn; an unlisted device measure gets a stable colour from the cycle."""
    found = MARKS.get(kind)
    if found is not None:
        return found
    return Mark(_cycle(kind), "circle", "o", kind.replace("_", " "), f"{kind.replace('_', ' ')}")


def colour(kind: str) -> str:
    """The colour of ``kind`` (a measure, signal or event kind)."""
    return mark(kind).colour


def as_dict(extra: tuple[str, ...] = ()) -> dict[str, dict[str, str]]:
    """Every listed mark (and the ``extra`` kinds, e.g. a person's device measures) as plain
    data, for the web page's script."""
    out = {k: asdict(v) for k, v in MARKS.items()}
    for k in extra:
        out.setdefault(k, asdict(mark(k)))
    return out
