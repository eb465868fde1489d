"""One colour for a measure everywhere (issue 15): the command line's figures take their colours
from :mod:`smoulder.schema.palette`, as the web page and the PDF do (PIRA was purple in the CLI's
multiverse figure and red elsewhere; the phone plot had colours of its own)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.colors import to_hex

from smoulder.schema.palette import colour


def test_device_series_plot_uses_the_palette():
    from smoulder.digital import DetectSettings, detect
    from smoulder.digital.plots import plot_series

    monday = pd.Timestamp("2024-01-01")
    v = np.tile([130.0, 143.0], 26)
    v[20:] *= 0.6  # a sustained 40 % drop
    days = [(monday + pd.Timedelta(weeks=i, days=2)).date().isoformat() for i in range(52)]
    long = pd.DataFrame({"subject": "p1", "date": days, "measure": "two_minute_walk", "value": v})
    res = detect(long, settings=DetectSettings())
    assert len(res.events), "the drop is found"
    rel = pd.DataFrame({"subject": ["p1"], "date": ["2024-05-15"]})
    ax = plot_series(res, "p1", "two_minute_walk", relapses=rel)
    line_colours = {to_hex(ln.get_color()).upper() for ln in ax.get_lines()}
    assert colour("two_minute_walk").upper() in line_colours  # the weekly level
    assert colour("digital_decline").upper() in line_colours  # onset and detection lines
    assert colour("relapse").upper() in line_colours
    assert "#C0392B" not in line_colours and "#1F4E79" not in line_colours


def test_multiverse_pira_rate_is_the_palettes_pira():
    from smoulder.clinical.multiverse import MultiverseResult

    table = pd.DataFrame(
        {
            "definition": ["a", "b"],
            "pira_per_10py": [1.0, 2.0],
            "pira_ci_low": [0.5, 1.5],
            "pira_ci_high": [1.5, 2.5],
            "persistence": [0.5, 0.7],
            "conf_days": [90, 180],
        }
    )
    from smoulder.clinical.multiverse import MultiverseSettings

    res = MultiverseResult(table=table, dimensions=["conf_days"], settings=MultiverseSettings())
    fig = res.plot()
    dots = [ln for ln in fig.axes[0].get_lines() if ln.get_marker() == "."]
    assert to_hex(dots[0].get_color()).upper() == colour("PIRA").upper()
