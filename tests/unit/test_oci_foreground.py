"""barque-oci's signal forwarding for a foreground run/exec: signals that
come before the process exists are queued, then delivered to it."""

from __future__ import annotations

import signal
import subprocess

from services.runtime.oci import foreground


def test_signals_before_the_pid_are_queued_then_delivered():
    forwarder = foreground.Forwarder()
    forwarder(signal.SIGUSR1, None)
    forwarder(signal.SIGTERM, None)
    assert forwarder.queued == [signal.SIGUSR1, signal.SIGTERM]
    child = subprocess.Popen(["sleep", "30"])
    try:
        forwarder.target(child.pid)
        assert forwarder.queued == []
        assert child.wait(timeout=10) == -signal.SIGUSR1  # the first one, in order
    finally:
        child.kill()
        child.wait()
    forwarder(signal.SIGTERM, None)  # the process is gone: nothing raised


def test_forwarding_restores_the_handlers():
    before = signal.getsignal(signal.SIGTERM)
    with foreground.forwarding() as forwarder:
        assert signal.getsignal(signal.SIGTERM) is forwarder
    assert signal.getsignal(signal.SIGTERM) is before
