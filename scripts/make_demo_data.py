"""Regenerate the bundled demo cohort in src/smoulder/data/ (60 subjects, seed 2026)."""

from __future__ import annotations

from pathlib import Path

from smoulder.synth import simulate_cohort, write_cohort

HERE = Path(__file__).resolve().parent.parent / "src" / "smoulder" / "data"


def main() -> None:
    cohort = simulate_cohort(
        60,
        seed=2026,
        relapse_rate_per_year=0.35,
        frac_progressors=0.5,
        pira_drift_per_year=(0.1, 0.35),
    )
    paths = write_cohort(cohort, HERE, fmt="csv")
    for name, path in paths.items():
        path.rename(HERE / f"demo_{name}.csv")
        print(HERE / f"demo_{name}.csv")


if __name__ == "__main__":
    main()
