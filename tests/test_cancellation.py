import os
import signal
import time
import types

import pytest

from dbt_cloud_action.cancellation import CancelSignals, WorkflowCancelled, cancel_signals


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


def test_windows_ctrl_break_is_a_cancel_signal_where_the_signal_module_has_it() -> None:
    windows = types.ModuleType("signal")
    windows.SIGINT, windows.SIGTERM, windows.SIGBREAK = 2, 15, 21  # type: ignore[attr-defined]
    assert cancel_signals(windows) == (2, 15, 21)
    posix = types.ModuleType("signal")
    posix.SIGINT, posix.SIGTERM = 2, 15  # type: ignore[attr-defined]
    assert cancel_signals(posix) == (2, 15)


def test_sigbreak_cancels_like_sigint(monkeypatch: pytest.MonkeyPatch) -> None:
    """Windows' SIGBREAK played by SIGUSR1 on this OS: it raises the one WorkflowCancelled."""
    monkeypatch.setattr(signal, "SIGBREAK", signal.SIGUSR1, raising=False)
    before = signal.getsignal(signal.SIGUSR1)
    signals = CancelSignals()
    with pytest.raises(WorkflowCancelled) as caught, signals.installed():
        assert signal.getsignal(signal.SIGUSR1) == signals._handle  # else the kill ends pytest
        os.kill(os.getpid(), signal.SIGUSR1)
        time.sleep(5)
    assert caught.value.signum == signal.SIGUSR1
    signal.signal(signal.SIGUSR1, before)
