"""``smoulder demo``: the main job on the bundled demo cohort."""

from __future__ import annotations

import argparse
import time
from importlib import resources
from pathlib import Path
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="run the progression analysis on the bundled demo cohort",
        description=(
            "Analyse the bundled virtual cohort (EDSS, T25FW, 9HPT, SDMT, relapses, MRI activity, "
            "two trial arms): PIRA/RAW/PIRMA events, EDSS-plus composite, confirmed EDSS 6 milestone, "
            "Kaplan-Meier curves and a Cox hazard ratio by arm. Writes tables, reports and plots."
        ),
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path("smoulder-demo-output"),
        help="output folder (filled all or nothing; files of an earlier run are replaced)",
    )
    from smoulder.cli.progression import add_km_arguments

    add_km_arguments(p)
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.set_defaults(func=run)


def run_demo(out: Path, progress: Any = None, km_min_at_risk: int = 10) -> dict[str, Path]:
    """Run every clinical analysis on the bundled demo files; return the written paths.

    ``km_min_at_risk``: the Kaplan-Meier figures stop each curve where fewer than this many
    people remain at risk.
    """
    import matplotlib

    matplotlib.use("Agg")

    from smoulder.clinical.composite import composite_cdw
    from smoulder.clinical.milestones import confirmed_milestone
    from smoulder.clinical.progression import run_validated
    from smoulder.clinical.settings import ProgressionSettings
    from smoulder.clinical.survival import cox_hazard_ratio, hazard_ratio_text, kaplan_meier
    from smoulder.io.tables import read_columns, read_inputs, read_table, write_table
    from smoulder.pipelines import progression
    from smoulder.pipelines._files import figure_paths, save_figure

    out.mkdir(parents=True, exist_ok=True)
    data = resources.files("smoulder.data")
    if progress is not None:
        progress("reading the demo cohort")
    with (
        resources.as_file(data / "demo_visits.csv") as vpath,
        resources.as_file(data / "demo_relapses.csv") as rpath,
        resources.as_file(data / "demo_mri.csv") as mpath,
        resources.as_file(data / "demo_subjects.csv") as spath,
    ):
        table = read_columns(vpath, what="visits table")
        per_outcome = {}
        for outcome in ("edss", "t25fw", "nhpt", "sdmt"):
            got = read_inputs(
                table,
                rpath if outcome == "edss" else None,
                mpath if outcome == "edss" else None,
                value_col=outcome,
                outcome=outcome,
                relapse_end_col="end_date",
            )
            per_outcome[outcome] = got.visits
            if outcome == "edss":
                relapses, mri, report = got.relapses, got.mri_activity, got.report
        subjects = read_table(spath)

    paths: dict[str, Path] = {}
    settings = ProgressionSettings(event="multiple", baseline="roving", classify_cdw=True)
    if progress is not None:
        progress("scanning EDSS (the first run on a machine compiles the scan)")
    edss = run_validated(per_outcome["edss"], relapses, mri, settings, ingest=report)
    for k, v in progression.write(
        edss, out / "edss_events.csv", km_min_at_risk=km_min_at_risk
    ).items():
        paths[f"edss_{k}"] = v

    if progress is not None:
        progress("EDSS-plus composite, Kaplan-Meier and Cox by arm")
    comp = composite_cdw(
        {k: per_outcome[k] for k in ("edss", "t25fw", "nhpt")},
        relapses,
        mri,
        ProgressionSettings(classify_cdw=True),
    )
    write_table(comp.events, out / "composite_events.csv")
    paths["composite_events"] = out / "composite_events.csv"
    tte = comp.summary.rename(columns={"time_to_event_days": "duration_days"})[
        ["subject", "duration_days", "event"]
    ]
    groups = subjects[["subject", "arm"]].astype({"subject": str})
    km = kaplan_meier(tte, group=groups, label="composite CDW", min_at_risk=km_min_at_risk)
    hr = cox_hazard_ratio(tte, groups, "arm", reference="placebo")
    hr_lines = [
        f"{r.group} vs {r.reference}: {hazard_ratio_text(r._asdict())}" for r in hr.itertuples()
    ]
    fig = km.plot(annotation="\n".join(hr_lines) or None)
    written = save_figure(fig, out / "composite_km_by_arm")
    paths.update(figure_paths("composite_km_plot", written))
    write_table(hr, out / "composite_hazard_ratio.csv")
    paths["composite_hazard_ratio"] = out / "composite_hazard_ratio.csv"

    ms = confirmed_milestone(per_outcome["edss"], 6.0, relapses).summary
    write_table(ms, out / "milestone_edss6.csv")
    paths["milestone_edss6"] = out / "milestone_edss6.csv"

    c = edss.counts()
    row = hr.iloc[0] if len(hr) else None
    lines = [
        "# smoulder demo: bundled virtual cohort",
        "",
        f"- {c['subjects']} people, {c['visits']} EDSS visits, {len(relapses)} relapses, {len(mri)} MRI scans",
        f"- EDSS (multiple events, roving baseline): {c['cdw_events']} CDW events "
        f"({c['pira_events']} PIRA, {c['raw_events']} RAW, {c['undefined_cdw_events']} undefined; "
        f"{c['pirma_events']} PIRMA), {c['cdi_events']} CDI",
        f"- EDSS-plus composite first CDW: {int(comp.summary['event'].sum())} of {len(comp.summary)} people",
        f"- confirmed EDSS 6: {int(ms['reached'].sum())} people",
    ]
    if row is not None:
        lines.append(
            f"- composite CDW, {row['group']} vs {row['reference']}: hazard ratio {row['hazard_ratio']:.2f} "
            f"(95 % CI {row['ci_lower']:.2f} to {row['ci_upper']:.2f})"
        )
    lines.append(
        f"- the Kaplan-Meier figures stop each curve where fewer than {km_min_at_risk} people "
        f"remain at risk (--km-min-at-risk {km_min_at_risk})"
    )
    lines += ["", "## Methods (EDSS analysis)", "", edss.methods(), ""]
    paths["demo_report"] = out / "demo_report.md"
    paths["demo_report"].write_text("\n".join(lines), encoding="utf-8")
    return paths


def run(ns: argparse.Namespace) -> int:
    from smoulder.cli.progression import progress_display
    from smoulder.io.outputs import OutputPlan

    t0 = time.perf_counter()
    with OutputPlan().add_dir(ns.out, "--out").staged() as stage, progress_display(ns) as progress:
        staged = stage.dir(ns.out)
        paths = {
            k: ns.out / p.relative_to(staged)
            for k, p in run_demo(staged, progress, ns.km_min_at_risk).items()
        }
    if ns.quiet:
        return 0
    print(f"demo finished in {time.perf_counter() - t0:.1f} s; outputs in {ns.out}/:")
    for name, path in paths.items():
        print(f"  {name:28s} {path}")
    return 0
