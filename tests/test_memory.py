"""`memory.release` hands the heap's free pages back to the OS (glibc's malloc_trim)."""

import psutil
import pytest

from driftlab.models import memory


@pytest.mark.skipif(memory._trim is None, reason="malloc_trim is glibc's")
def test_release_returns_freed_heap_pages():
    rss = psutil.Process().memory_info
    # 64 KB blocks (under glibc's mmap threshold, so they live in the heap), each followed by a
    # small block that stays: freeing the big ones leaves holes glibc keeps resident
    memory.release()
    before = rss().rss
    big, pins = [], []
    for _ in range(3200):
        big.append(b"\x01" * 65536)
        pins.append(b"\x01" * 600)
    del big
    kept = rss().rss - before
    memory.release()
    returned = kept - (rss().rss - before)
    assert kept > 100 * 2**20, f"the freed blocks were returned at once ({kept / 2**20:.0f} MB)"
    assert returned > 0.9 * kept, f"release returned {returned / 2**20:.0f} of {kept / 2**20:.0f} MB"
    del pins
