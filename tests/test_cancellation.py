import os
import signal
import time

import pytest

from dbt_cloud_action.cancellation import CancelSignals, WorkflowCancelled


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_first_signal_interrupts_a_sleep(sig: signal.Signals) -> None:
    signals = CancelSignals()
    started = time.monotonic()
    with pytest.raises(WorkflowCancelled) as caught, signals.installed():
        os.kill(os.getpid(), sig)
        time.sleep(5)
    assert time.monotonic() - started < 2
    assert caught.value.signum == sig
    assert caught.value.exit_code == 128 + sig


def test_later_signals_are_recorded_not_raised() -> None:
    signals = CancelSignals()
    with signals.installed():
        signals.disarm()
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)
    assert signals.received == [signal.SIGTERM]


def test_handlers_are_restored() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with CancelSignals().installed():
        assert signal.getsignal(signal.SIGTERM) is not before
    assert signal.getsignal(signal.SIGTERM) is before


def test_after_a_cancel_later_signals_are_ignored() -> None:
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    signals = CancelSignals()
    try:
        with pytest.raises(WorkflowCancelled), signals.installed():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
        os.kill(os.getpid(), signal.SIGTERM)  # the default handler would end pytest here
        time.sleep(0.05)
        assert signals.received == [signal.SIGINT]
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
