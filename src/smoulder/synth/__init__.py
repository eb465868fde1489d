"""Virtual patients with known ground truth, for tests, benchmarks and the demo."""

from smoulder.synth.clinical import Cohort, load_demo, simulate_cohort, write_cohort

__all__ = ["Cohort", "simulate_cohort", "write_cohort", "load_demo"]
