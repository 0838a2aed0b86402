"""Atomic, integrity-checked checkpoints and atomic file writes for training runs.

File format: ``MAGIC`` (16 bytes) | SHA-256 of the payload (32 bytes) | pickled payload.
Writes go to a temporary file in the same folder, are flushed and fsync'ed, then renamed
over the target with :func:`os.replace` (atomic on POSIX): a crash or SIGKILL leaves either
the previous checkpoint or the new one, never a mix. Loading checks the magic and the hash,
so a truncated or corrupted file gets a :class:`CheckpointError`, not an unpickling crash.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle

from trustopt._io import atomic_write_bytes
from trustopt._validation import ValidationError

__all__ = ["CheckpointError", "atomic_write_bytes", "save_checkpoint", "load_checkpoint", "MAGIC"]

MAGIC = b"TRUSTOPT-CKPT-01"
assert len(MAGIC) == 16


class CheckpointError(ValidationError):
    """A checkpoint that is missing, corrupt, written by another version, or of a different configuration."""


def save_checkpoint(path, payload: dict) -> None:
    """Pickle ``payload`` with a header (magic + SHA-256) and write it atomically."""
    buf = io.BytesIO()
    pickle.dump(payload, buf, protocol=pickle.HIGHEST_PROTOCOL)
    body = buf.getvalue()
    atomic_write_bytes(path, MAGIC + hashlib.sha256(body).digest() + body)


def load_checkpoint(path) -> dict:
    """Read what :func:`save_checkpoint` wrote; :class:`CheckpointError` if missing or corrupt."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint: {path} does not exist") from None
    except OSError as exc:  # a folder in its place, no permission, an I/O error
        raise CheckpointError(f"checkpoint: cannot read {path} ({exc.strerror or exc})") from None
    if len(data) < 48 or data[:16] != MAGIC:
        raise CheckpointError(f"checkpoint: {path} is not a trustopt checkpoint (bad header)")
    digest, body = data[16:48], data[48:]
    if hashlib.sha256(body).digest() != digest:
        raise CheckpointError(f"checkpoint: {path} is corrupt (checksum mismatch; truncated or modified)")
    try:
        payload = pickle.loads(body)
    except Exception as exc:  # noqa: BLE001 - a valid hash but classes this version does not have
        raise CheckpointError(f"checkpoint: {path} was written by another version of trustopt and cannot be read "
                              f"by this one ({type(exc).__name__}: {exc}); continue it with that version, or start "
                              "a new run in another --out") from None
    if not isinstance(payload, dict) or "config" not in payload:
        raise CheckpointError(f"checkpoint: {path} has an unexpected layout")
    return payload
