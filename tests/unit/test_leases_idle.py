"""services/images/leases.py: a collection held back by leases is finished
once the last lease ends (the soak found a snapshot nothing needed, kept
while a build held a lease and never collected after)."""

from __future__ import annotations

from services.images.leases import Leases


def test_the_idle_callback_runs_once_when_the_last_lease_ends_after_a_deferral():
    leases = Leases()
    calls: list[int] = []
    leases.on_idle = lambda: calls.append(len(leases.held()))
    with leases.hold("pull a"):
        with leases.hold("nested: the same lease"):
            pass
        leases.defer()
        with Leases().hold("another store's"):
            pass
        assert calls == []
    assert calls == [0]  # once, with nothing held
    with leases.hold("pull b"):
        pass
    assert calls == [0]  # no deferral since: nothing to finish


def test_a_deferral_waits_for_every_lease():
    import threading

    leases = Leases()
    calls: list[str] = []
    leases.on_idle = lambda: calls.append("collected")
    first_in, second_done = threading.Event(), threading.Event()

    def other() -> None:
        with leases.hold("build"):
            first_in.set()
            second_done.wait(5)

    t = threading.Thread(target=other)
    t.start()
    first_in.wait(5)
    with leases.hold("pull"):
        leases.defer()
    assert calls == []  # the build still holds its lease
    second_done.set()
    t.join(5)
    assert calls == ["collected"]


def test_a_failing_callback_does_not_fail_the_operation():
    leases = Leases()

    def boom() -> None:
        raise OSError("disk gone")

    leases.on_idle = boom
    with leases.hold("pull"):
        leases.defer()
    assert leases.held() == []
