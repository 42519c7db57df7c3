"""Ctrl-C during ``trainer.fit()`` stops like everywhere else in the CLI: a message and exit 130.

Ray Train installs its own SIGINT handler inside ``fit()`` (``DataParallelTrainer._register_sigint_handler``,
Ray 2.60): it aborts the run gracefully (checkpoints kept) and then leaves the process through
``sys.exit`` with status 1 and no word. We keep its graceful abort, note that it happened, and turn the
end of ``fit()`` into the ``KeyboardInterrupt`` the CLI reports ("interrupted; … a rerun resumes").
"""
from __future__ import annotations

import signal
from typing import Any


def interruptible(trainer_cls: type) -> type:
    """``trainer_cls`` whose ``fit()`` raises KeyboardInterrupt after Ray Train's graceful abort."""

    class Interruptible(trainer_cls):
        interrupted = False

        def _register_sigint_handler(self, controller: Any) -> None:
            super()._register_sigint_handler(controller)
            ray_abort = signal.getsignal(signal.SIGINT)

            def on_sigint(signum, frame):
                self.interrupted = True
                try:
                    ray_abort(signum, frame)   # asks the controller to abort: workers stop, checkpoints stay
                except SystemExit:
                    pass                        # leave through fit(), not from inside a signal handler

            signal.signal(signal.SIGINT, on_sigint)

        def fit(self):
            try:
                result = super().fit()
            except Exception:
                if self.interrupted:
                    raise KeyboardInterrupt from None
                raise
            finally:
                signal.signal(signal.SIGINT, signal.default_int_handler)
            if self.interrupted:
                raise KeyboardInterrupt
            return result

    Interruptible.__name__ = Interruptible.__qualname__ = f"Interruptible{trainer_cls.__name__}"
    return Interruptible
