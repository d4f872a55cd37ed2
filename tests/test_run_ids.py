"""The run ids of the committed profiles do not change by accident: an upgrade of the code reuses every
completed run of an unchanged profile (tests/fixtures/make_run_ids.py says how to record a deliberate change)."""

import json
import sys
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"
sys.path.insert(0, str(FIXTURES))

from make_run_ids import PROFILES, current  # noqa: E402


def test_run_ids_of_the_committed_profiles_are_the_recorded_ones():
    recorded = json.loads((FIXTURES / "run_ids.json").read_text())
    now = current()
    for name in PROFILES:
        new = sorted(set(now[name]) - set(recorded[name]))
        gone = sorted(set(recorded[name]) - set(now[name]))
        assert not new and not gone, f"{name}: {len(new)} new run ids ({new[:3]}...), {len(gone)} gone ({gone[:3]}...)"
