"""pytest plugin: tests parametrized over `release` (the SGLang matrix) run last, release by release.

Each release's worker costs seconds and ~0.9 GB to start (sglang_support),
and at most a few are kept. Grouping every matrix test of one release
together starts each worker once; starting the next release's worker as the
current one's tests begin overlaps its import with them (2 cores: up to
twice as fast). Tests without a `release` parameter keep their order and run
first.
"""
from __future__ import annotations

import pytest

import sglang_support as sg

# Releases whose workers earlier tests may have started already come first.
ORDER = tuple(sg.STANDALONE) + tuple(v for v in sg.VERSIONS if v not in sg.STANDALONE)
PARAM = "release"


def _release(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get(PARAM) if callspec is not None else None


def pytest_collection_modifyitems(session, config, items):
    def key(pair):
        index, item = pair
        release = _release(item)
        rank = ORDER.index(release) + 1 if release in ORDER else 0
        return (rank, index if rank == 0 else 0, index)

    items[:] = [item for _, item in sorted(enumerate(items), key=key)]


@pytest.fixture(autouse=True)
def _prefetch_next_release(request):
    release = _release(request.node)
    if release in ORDER:
        at = ORDER.index(release)
        keep = ORDER[at:at + max(sg.MAX_WORKERS, 1)]
        for upcoming in keep:
            sg.prefetch(upcoming, protect=keep)
    yield
