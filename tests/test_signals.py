"""StopOnSignals: the first SIGINT/SIGTERM sets a flag, a second one acts as before."""

from __future__ import annotations

import os
import signal

import pytest

from sonomtl.signals import StopOnSignals


def test_the_first_sigint_only_sets_the_flag_and_a_second_one_interrupts():
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        with StopOnSignals() as stop:
            os.kill(os.getpid(), signal.SIGINT)
            assert stop() and stop.exit_status == 130
            os.kill(os.getpid(), signal.SIGINT)  # Python's own handler: KeyboardInterrupt
    assert signal.getsignal(signal.SIGINT) is before  # restored on the way out


def test_handlers_are_restored_and_nothing_is_flagged_without_a_signal():
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    with StopOnSignals() as stop:
        assert signal.getsignal(signal.SIGTERM) is not before[0]
    assert not stop() and stop.exit_status == 0 and stop.signal_number is None
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before
