"""The restart policy of the worker and beat supervisor."""

from __future__ import annotations

from syndication.cli._supervise import RestartPolicy, exit_status


def test_restarts_are_allowed_up_to_the_limit_within_the_window() -> None:
    """Past max_restarts within the window the policy says give up."""
    policy = RestartPolicy(max_restarts=3, window=60.0)
    assert [policy.allow(t) for t in (0.0, 1.0, 2.0, 3.0)] == [True, True, True, False]


def test_restarts_older_than_the_window_are_forgotten() -> None:
    """A crash now and then, far apart, never exhausts the budget."""
    policy = RestartPolicy(max_restarts=2, window=60.0)
    assert all(policy.allow(t) for t in (0.0, 50.0, 111.0, 172.0, 233.0))


def test_delays_double_and_are_capped() -> None:
    """Consecutive restarts wait 1, 2, 4, ... seconds, never more than 30."""
    policy = RestartPolicy(max_restarts=10, window=1000.0)
    delays = []
    for t in range(8):
        assert policy.allow(float(t))
        delays.append(policy.delay(float(t)))
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]


def test_a_child_killed_by_a_signal_maps_to_128_plus_the_signal() -> None:
    """Return codes of children killed by a signal become shell-style statuses."""
    assert (exit_status(0), exit_status(1), exit_status(-9)) == (0, 1, 137)
