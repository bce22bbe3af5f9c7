"""SIGINT and SIGTERM stop a CLI run within seconds and leave nothing behind.

systemd, Kubernetes and a Prefect worker's cancel send SIGTERM; a terminal sends SIGINT. Python's
default for SIGTERM ends the process at once: no ``finally`` runs, so the staging folder and the
temporary Prefect API were left behind. A CLI started in the background by a shell inherits SIGINT
ignored. Both signals are therefore turned into ``Interrupted`` in the main thread: the flow's own
clean-up runs (staging removed, lock released), Prefect records the run as Crashed, and the CLI exits
128 + the signal's number (130, 143) after stopping the temporary API.

Prefect's flow engine puts its own SIGTERM bridge in place while a flow runs; it removes the run's
state and then re-sends the signal to the handler it replaced, which is this one.

Threads still running a task cannot be interrupted, and the task runner waits for them. So the first
signal also arms a watchdog: if the process has not exited ``grace_s`` later, it runs the caller's
emergency clean-up and ends the process. A second signal ends it at once (the default action).
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """The run was asked to stop by a signal (a KeyboardInterrupt, so nothing catches it as an error)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


@contextmanager
def stop_on_signals(emergency: Callable[[], None], grace_s: float = 10.0) -> Iterator[None]:
    """Raise ``Interrupted`` in the main thread on SIGINT/SIGTERM while the block runs (see above).

    ``emergency`` runs only if the process is still alive ``grace_s`` after the first signal.
    """

    def hard_exit(signum: int) -> None:
        try:
            emergency()
        finally:
            os._exit(128 + signum)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        for sig in SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
        watchdog = threading.Timer(grace_s, hard_exit, args=(signum,))
        watchdog.daemon = True
        watchdog.start()
        raise Interrupted(signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            if signal.getsignal(sig) is on_signal:
                signal.signal(sig, handler)
