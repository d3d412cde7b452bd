"""Silence pybullet's C-level chatter (build time, "argv[0]=") on import and connect.

pybullet prints to the process's file descriptor 1 when first imported and on
every ``connect``, which would pollute the output of CLIs and of the ROS node's
stdout logging. The GUI client is left alone because its messages help users
with display problems. Import this module before anything else imports
pybullet (the package ``__init__`` does).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys


def _flush_c_stdout() -> None:
    # No C library handle on unusual platforms: then there is nothing to flush.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).fflush(None)


@contextlib.contextmanager
def _fds_to_devnull(*fds: int):
    """Point the given OS file descriptors at /dev/null for the duration."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        saved = [os.dup(fd) for fd in fds]
    except (OSError, ValueError):  # no real stdout/stderr (some runners): nothing to hide
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        for fd in fds:
            os.dup2(devnull, fd)
        yield
    finally:
        _flush_c_stdout()  # C stdio buffers when stdout is not a tty: flush into devnull
        for fd, copy in zip(fds, saved, strict=True):
            os.dup2(copy, fd)
            os.close(copy)
        os.close(devnull)


with _fds_to_devnull(1, 2):
    # The first import prints "pybullet build time: ..." from C; hide it once here
    # (an import error is still raised, as a Python exception, after restoring).
    import pybullet
    from pybullet_utils.bullet_client import BulletClient


def connect(gui: bool = False) -> BulletClient:
    """A new private pybullet client (GUI or headless DIRECT)."""
    if gui:
        return BulletClient(pybullet.GUI)
    with _fds_to_devnull(1):
        return BulletClient(pybullet.DIRECT)
