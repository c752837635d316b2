"""How many CPU threads torch uses while an experiment runs."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

__all__ = ["QUICK_THREADS", "torch_threads"]

#: Threads for ``--scale quick``: its small tensors gain little from a second thread, and two
#: threads on a shared 2-core machine made steps several times slower (docs/reproducing.md).
QUICK_THREADS = 1


@contextlib.contextmanager
def torch_threads(threads: int | None, *, scale: str) -> Iterator[int | None]:
    """Run the block with ``threads`` torch threads, restoring the previous count after.

    ``None`` means :data:`QUICK_THREADS` for the ``quick`` scale and torch's own
    setting otherwise. Yields the thread count in force (``None``: unchanged).
    """
    from sonomtl.inference.device import torch_threads as scoped

    if threads is None and scale == "quick":
        threads = QUICK_THREADS
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise ValueError(f"threads: expected a positive int, got {threads!r}")
    with scoped(threads):
        yield threads
