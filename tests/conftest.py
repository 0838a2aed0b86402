"""Test configuration: hypothesis profiles, chosen by the HYPOTHESIS_PROFILE variable.

- ``ci`` (default): deterministic (derandomized, fixed examples), no deadline, modest
  example counts, so that CI is reproducible and fast.
- ``explore``: random, many more examples, for hunting counterexamples locally:
  ``HYPOTHESIS_PROFILE=explore make test``.
"""

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    max_examples=60,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "explore",
    deadline=None,
    max_examples=2000,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def _shm_segments() -> set:
    """``multiprocessing``'s named shared-memory segments and semaphores."""
    if not os.path.isdir("/dev/shm"):
        return set()
    return {n for n in os.listdir("/dev/shm") if n.startswith(("psm_", "sem.mp-"))}


@pytest.fixture(scope="session", autouse=True)
def nothing_left_in_shared_memory():
    """The suite leaves no shared-memory segment or semaphore behind (killed runs included).

    tqdm's write lock is one ``multiprocessing.RLock`` per process, made by the first bar and
    kept until exit. Under a start method other than fork (Python 3.14's forkserver default)
    it is a named semaphore the whole time, so it is made before the count starts."""
    import tqdm

    tqdm.tqdm.get_lock()
    before = _shm_segments()
    yield
    leaked = _shm_segments() - before
    assert not leaked, f"shared-memory segments left in /dev/shm by the tests: {sorted(leaked)}"
