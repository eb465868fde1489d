"""Fixtures for the progression tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def run():
    """Run the engine on validated tables with keyword settings."""
    from smoulder.clinical import make_settings, run_validated

    def _run(visits, relapses=None, mri=None, **options):
        return run_validated(visits, relapses, mri, make_settings(**options))

    return _run
