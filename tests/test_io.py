"""``trustopt._io.atomic_write_bytes``: complete files only, no temporary files left,
concurrent writers of one path never interleave."""

import os
import stat
import threading

import pytest

from trustopt._io import atomic_write_bytes


def test_writes_and_replaces(tmp_path):
    path = tmp_path / "f.bin"
    atomic_write_bytes(path, b"first")
    assert path.read_bytes() == b"first"
    atomic_write_bytes(str(path), b"second, longer")
    assert path.read_bytes() == b"second, longer"
    assert os.listdir(tmp_path) == ["f.bin"]


def test_failed_write_keeps_the_old_file_and_no_temp(tmp_path):
    path = tmp_path / "f.bin"
    atomic_write_bytes(path, b"old")
    with pytest.raises(TypeError):
        atomic_write_bytes(path, "not bytes")  # fails inside the write, before the rename
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f.bin"]


def test_concurrent_writers_leave_one_complete_file(tmp_path):
    path = tmp_path / "f.bin"
    payloads = [bytes([i]) * 200_000 for i in range(8)]
    threads = [threading.Thread(target=atomic_write_bytes, args=(path, p)) for p in payloads]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert path.read_bytes() in payloads  # one writer's data, whole (a shared temp name could mix them)
    assert os.listdir(tmp_path) == ["f.bin"]


def test_a_refused_write_is_one_output_error_naming_the_argument(tmp_path):
    import errno

    from trustopt._io import OutputError, check_writable, writing
    from trustopt._validation import ValidationError

    with pytest.raises(OutputError) as exc:
        with writing("out", tmp_path / "f.bin", hint="; try again"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    err = exc.value
    assert str(err) == f"out: cannot write {tmp_path / 'f.bin'} (No space left on device); try again"
    assert isinstance(err, ValidationError) and isinstance(err, OSError)  # both ways of catching it work
    assert err.errno == errno.ENOSPC and err.filename == str(tmp_path / "f.bin")
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    with pytest.raises(OutputError, match=f"^x: cannot create {blocker}/a/b.png: {blocker} exists and is not a folder$"):
        check_writable("x", blocker / "a" / "b.png")
    with pytest.raises(OutputError, match=f"^x: {tmp_path} is a folder; give a file name$"):
        check_writable("x", tmp_path)
    for folder in (f"{tmp_path}/new/", f"{tmp_path}/new/."):  # folders before they exist
        with pytest.raises(OutputError, match=f"^x: {folder} is a folder; give a file name$"):
            check_writable("x", folder)
    with pytest.raises(OutputError, match=f"^x: cannot create {blocker}/: {blocker} exists and is not a folder$"):
        check_writable("x", f"{blocker}/")  # the file in the way is what to fix
    assert check_writable("x", tmp_path / "new" / "r.json") == str(tmp_path / "new" / "r.json")
    assert os.listdir(tmp_path / "new") == []  # the folder is made; the probe file is gone


@pytest.mark.skipif(not hasattr(os, "fchmod"), reason="POSIX permissions")
@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_the_file_gets_the_permissions_of_a_plain_write(tmp_path, umask):
    """mkstemp's temp file is 0600; the written file must be what ``open(path, "w")`` gives
    (a run's policy.npz readable by the team with umask 022)."""
    old = os.umask(umask)
    try:
        atomic_write_bytes(tmp_path / "atomic", b"x")
        (tmp_path / "plain").write_bytes(b"x")
    finally:
        os.umask(old)
    mode = lambda name: stat.S_IMODE((tmp_path / name).stat().st_mode)  # noqa: E731
    assert mode("atomic") == mode("plain") == 0o666 & ~umask
