"""Low-level file output shared by the library (checkpoints, normalizer statistics,
verification reports), and the one way a failed write is reported.

:func:`atomic_write_bytes` writes to a temporary file with a unique name in the target's
folder, flushes and fsyncs it, renames it over the target with :func:`os.replace` (atomic
on POSIX) and fsyncs the folder so that the rename is durable: a crash leaves either the
previous file or the new one, never a mix, and concurrent writers of the same path never
share a temporary file (the last rename wins, with a complete file).

A write that the operating system refuses (full disk, read-only or missing folder, a path
under a file) becomes an :class:`OutputError` naming the argument the path came from
(:func:`writing`, :func:`check_writable`): a :class:`~trustopt.ValidationError`, so the
command line reports it as one line with exit code 2, and an :class:`OSError` carrying the
original ``errno`` and ``filename``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile

from trustopt._validation import ValidationError

__all__ = ["OutputError", "atomic_write_bytes", "check_image_format", "check_writable", "make_folder", "output_error",
           "writing"]


class OutputError(ValidationError, OSError):
    """A file or folder could not be written; the message names the argument it came from.
    ``errno``, ``strerror`` and ``filename`` are those of the operating system's error."""

    def __str__(self):  # the message alone, not OSError's "[Errno N] ..." form
        return str(self.args[0]) if self.args else ""


def output_error(what: str, path, exc: OSError, *, action: str = "write", hint: str = "") -> OutputError:
    """An :class:`OutputError` ``"<what>: cannot <action> <path> (<reason>)<hint>"`` for ``exc``."""
    reason = exc.strerror or str(exc)
    err = OutputError(f"{what}: cannot {action} {os.fspath(path)} ({reason}){hint}")
    err.errno, err.strerror, err.filename = exc.errno, reason, os.fspath(path)
    return err


@contextlib.contextmanager
def writing(what: str, path, *, action: str = "write", hint: str = ""):
    """Turn an :class:`OSError` raised inside the block into :func:`output_error` (an
    :class:`OutputError` raised inside passes unchanged)."""
    try:
        yield
    except OutputError:
        raise
    except OSError as exc:
        raise output_error(what, path, exc, action=action, hint=hint) from exc


def make_folder(what: str, folder, path=None) -> None:
    """``os.makedirs(folder, exist_ok=True)``; an :class:`OutputError` about ``path`` (default
    ``folder``) if it cannot be made, naming the file that stands where a folder must be."""
    folder = os.fspath(folder)
    path = folder if path is None else os.fspath(path)
    probe = os.path.normpath(folder)  # as the user wrote it, for the message
    while probe and not os.path.lexists(probe) and os.path.dirname(probe) != probe:
        probe = os.path.dirname(probe)
    if probe and os.path.lexists(probe) and not os.path.isdir(probe):
        raise OutputError(f"{what}: cannot create {path}: {probe} exists and is not a folder")
    with writing(what, path, action="create"):
        os.makedirs(folder, exist_ok=True)


def check_writable(what: str, path) -> str:
    """Check, before any work is done, that the file ``path`` can be written: its folder is
    created if missing and must accept a new file, and ``path`` must not be a folder.
    Returns ``path`` (a str); :class:`OutputError` otherwise."""
    path = os.fspath(path)
    if not path:
        raise OutputError(f"{what}: expected a file name, got ''")
    if os.path.isdir(path) or _names_a_folder(path):
        raise OutputError(f"{what}: {path} is a folder; give a file name")
    folder = os.path.dirname(path) or os.curdir
    make_folder(what, folder, path)
    with writing(what, path):  # a file in the folder: fails on a read-only or full file system
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".tmp-probe-")
        os.close(fd)
        os.unlink(probe)
    return path


def _names_a_folder(path: str) -> bool:
    """``path`` names a folder whether or not one exists yet (``out/``, ``out/.``): a file written
    there would be a hidden ``out/.png``, or none at all. Not when a file stands at ``out``: then
    :func:`make_folder` says that, which is the mistake to fix."""
    if os.path.basename(path) not in ("", ".", ".."):
        return False
    trimmed = path.rstrip(os.sep + (os.altsep or ""))
    return not (trimmed and os.path.lexists(trimmed) and not os.path.isdir(trimmed))


def _new_file_mode() -> int:
    """The permissions ``open(path, "w")`` would give a new file: ``0o666`` less the umask. Linux
    states the umask in ``/proc/self/status``; elsewhere it is read by setting it and restoring it
    at once (the portable way, which another thread creating a file in between would see)."""
    try:
        with open("/proc/self/status") as f:
            umask = next(int(line.split()[1], 8) for line in f if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError, IndexError):
        umask = os.umask(0)
        os.umask(umask)
    return 0o666 & ~umask


def atomic_write_bytes(path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (unique temp file in the same folder, fsync,
    ``os.replace``, fsync of the folder). The file gets the permissions a plain write would give
    it (``mkstemp``'s temp file is owner-only, 0600, which would make a run's policy unreadable
    by the rest of a team)."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix="-" + os.path.basename(path))
    try:
        if hasattr(os, "fchmod"):  # POSIX; on Windows mkstemp's file is already the user's to share
            os.fchmod(fd, _new_file_mode())
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


def image_path(what: str, path) -> str:
    """The file Matplotlib's ``savefig(path)`` writes: ``path`` itself, or ``path + ".png"`` without a
    suffix (Matplotlib appends it); checked with :func:`check_image_format`."""
    check_image_format(what, path)
    path = os.fspath(path)
    return path if os.path.splitext(path)[1] or os.path.isdir(path) else path + ".png"  # (a folder: refused later)


def check_image_format(what: str, path) -> None:
    """``path`` must be a file name whose suffix is a format Matplotlib writes (no suffix: PNG);
    else a one-line :class:`~trustopt.ValidationError` naming the argument ``what``."""
    from matplotlib.backend_bases import FigureCanvasBase

    if not isinstance(path, (str, os.PathLike)):
        raise ValidationError(f"{what}: expected a file name, got {type(path).__name__}")
    if _names_a_folder(os.fspath(path)):
        raise ValidationError(f"{what}: {os.fspath(path)} is a folder; give a file name")
    suffix = os.path.splitext(os.fspath(path))[1][1:].lower()
    known = sorted(FigureCanvasBase.get_supported_filetypes())
    if suffix and suffix not in known:
        raise ValidationError(f"{what}: unknown image format {suffix!r} ({path}); known: {', '.join(known)}")
