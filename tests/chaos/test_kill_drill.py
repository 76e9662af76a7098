"""Kill drill, CI-sized: servers SIGKILLed every 1-2 s while 3,000 tasks flow; nothing is lost.

The full-size drill is bench/drills/kill_drill.py (same code, bigger numbers).
"""

from __future__ import annotations

from .drill import DrillConfig, run_kill_drill, summary_rows


def test_kill_drill_loses_nothing_and_explains_every_duplicate() -> None:
    result, cluster = run_kill_drill(DrillConfig(tasks=3000, min_kills=5))
    try:
        print("\n" + "\n".join(f"{name:55} {value}" for name, value in summary_rows(result)))
        assert result.accepted == 3000
        assert result.kills >= 5
        assert result.lost == []
        assert result.unacknowledged == []
        assert result.unexplained_duplicates == [], "a task ran twice without a lease expiry"
        assert result.early_pickups == [], "a dead server's task was taken before its lease ended"
        assert result.stats_mismatch == {}
        assert result.recovery_after_expiry, "the kills must have caught tasks mid-run"
        assert max(result.recovery_after_expiry) < 5.0
    finally:
        cluster.close()
