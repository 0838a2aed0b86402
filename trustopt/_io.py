"""Low-level file output shared by the library (checkpoints, normalizer statistics,
verification reports).

:func:`atomic_write_bytes` writes to a temporary file with a unique name in the target's
folder, flushes and fsyncs it, renames it over the target with :func:`os.replace` (atomic
on POSIX) and fsyncs the folder so that the rename is durable: a crash leaves either the
previous file or the new one, never a mix, and concurrent writers of the same path never
share a temporary file (the last rename wins, with a complete file).
"""

from __future__ import annotations

import os
import tempfile

__all__ = ["atomic_write_bytes"]


def atomic_write_bytes(path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (unique temp file in the same folder, fsync,
    ``os.replace``, fsync of the folder)."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix="-" + os.path.basename(path))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    try:  # make the rename durable
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:  # pragma: no cover - some filesystems refuse fsync on directories
        pass
