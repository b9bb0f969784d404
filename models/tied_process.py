"""Child processes that do not outlive the tool that started them.

A load tool (`measure`, `loadtests/*`) starts real servers in sessions of their own, so that one signal stops
a server's whole process group. A tool killed by a signal it cannot catch cleanly (`timeout`'s SIGTERM, SIGKILL,
the out-of-memory killer) would leave such a server running on its port; on Linux the kernel sends the child
SIGTERM when the thread that started it ends (prctl PR_SET_PDEATHSIG). Start tied children from a thread that
lives as long as they should (the main thread, in this project's tools).
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import Any

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _parent_death_signal(parent_pid: int) -> Callable[[], None] | None:
    """What the child runs between fork and exec; None where the kernel offers no parent-death signal."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)  # loaded before the fork: the child only calls into it

    def tie() -> None:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent_pid:  # the parent died before the tie: nobody would send the signal
            os._exit(1)

    return tie


def popen_tied(command: Sequence[str], **options: Any) -> subprocess.Popen[bytes]:
    """`subprocess.Popen(command, **options)` whose process gets SIGTERM when the starting thread ends."""
    return subprocess.Popen(command, preexec_fn=_parent_death_signal(os.getpid()), **options)
