"""One writer per domain: a lock file naming its holder, taken by every command that writes a domain.

The lock is ``outputs/<domain>/work/.lock``: a JSON record of the holder (pid, host, command, start time,
a random token) on a file held with ``flock``. The operating system releases the ``flock`` when the
holder dies, however it dies, so a lock left by a killed process is recognised as stale, reported and
taken over; a live holder makes a second writer stop at once with :class:`DomainLocked`, naming it.

Processes a holder starts (the notebook kernels of ``run``) inherit the holder's token through the
environment variable :data:`TOKEN_ENV` and write under their parent's lock instead of waiting for it.

Example::

    with domain_lock(paths.lock, "run"):
        ...  # nobody else writes this domain meanwhile
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

__all__ = ["TOKEN_ENV", "DomainLocked", "domain_lock", "holder"]

TOKEN_ENV = "NBUTILS_DOMAIN_LOCK"

try:
    import fcntl
except ImportError:  # Windows: fall back to checking whether the holder's pid is alive
    fcntl = None


class DomainLocked(RuntimeError):
    """Another live process writes this domain; the message names it."""


def holder(path: str | Path) -> dict | None:
    """The record of the lock's last holder, or ``None`` when there is none (or it cannot be read)."""
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8") or "null")
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _describe(record: dict | None) -> str:
    if not record:
        return "another process"
    return (
        f"pid {record.get('pid')} on {record.get('host')} ({record.get('command')!r}, started {record.get('started')})"
    )


def _inherited(path: Path) -> bool:
    """Whether this process runs under a parent that holds the lock (same token in the environment)."""
    token = os.environ.get(TOKEN_ENV, "")
    record = holder(path)
    return bool(token) and bool(record) and token == f"{path.resolve()}|{record.get('token')}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


@contextmanager
def domain_lock(path: str | Path, command: str, report=None) -> Iterator[dict]:
    """Hold the domain lock at ``path`` for the ``with`` block.

    Args:
        command: what the holder does, shown to anyone refused (e.g. ``"run"``, ``"registry promote"``).
        report: called with a one-line message when a stale lock is taken over (default: print to stderr).

    Yields:
        The holder record written to the lock file.

    Raises:
        DomainLocked: when a live process holds it, naming that process and the lock file.
    """
    path = Path(path)
    if _inherited(path):
        yield holder(path) or {}
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        previous = holder(path)
        if not _acquire(fd, previous):
            raise DomainLocked(
                f"the domain is in use by {_describe(previous)}; wait for it to finish or stop it (lock file: {path})"
            )
        if previous and previous.get("pid") is not None:
            message = f"note: {_describe(previous)} ended without releasing {path}; the stale lock is taken over"
            (report or (lambda m: print(m, file=sys.stderr, flush=True)))(message)
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": command,
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "token": secrets.token_hex(8),
        }
        _write(fd, record)
        saved = os.environ.get(TOKEN_ENV)
        os.environ[TOKEN_ENV] = f"{path.resolve()}|{record['token']}"
        try:
            yield record
        finally:
            if saved is None:
                os.environ.pop(TOKEN_ENV, None)
            else:
                os.environ[TOKEN_ENV] = saved
            _write(fd, {})  # released cleanly: no holder, nothing stale
    finally:
        os.close(fd)  # releases the flock


def _acquire(fd: int, previous: dict | None) -> bool:
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True
    pid = (previous or {}).get("pid")
    same_host = (previous or {}).get("host") == socket.gethostname()
    return not (pid and (not same_host or _pid_alive(int(pid))))


def _write(fd: int, record: dict) -> None:
    data = (json.dumps(record) + "\n").encode() if record else b""
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, data)
    os.fsync(fd)
