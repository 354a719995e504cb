"""The server's garbage-collection policy: no automatic full collection while turns run, one when they stop,
and everything as it was once the server stops."""

from __future__ import annotations

import asyncio
import gc

from web.quiet_gc import NEVER, QuietGC


class Cycle:
    def __init__(self) -> None:
        self.me = self


async def test_full_collections_wait_for_a_quiet_moment():
    busy = {"now": True}
    before = gc.get_threshold()
    quiet = QuietGC(lambda: busy["now"], check_s=0.02, max_interval_s=60)
    quiet.start()
    try:
        assert gc.get_threshold()[2] == NEVER and gc.get_freeze_count() > 0
        for _ in range(200):  # cyclic garbage a young collection cannot free
            Cycle()
        await asyncio.sleep(0.1)
        assert quiet.full_collections == 0  # busy: nothing stops the streams
        busy["now"] = False
        for _ in range(100):
            await asyncio.sleep(0.02)
            if quiet.full_collections:
                break
        assert quiet.full_collections == 1
        assert not [o for o in gc.get_objects() if type(o) is Cycle]
    finally:
        quiet.stop()
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


async def test_a_long_busy_stretch_still_collects_at_the_interval():
    quiet = QuietGC(lambda: True, check_s=0.02, max_interval_s=0.05)
    quiet.start()
    try:
        for _ in range(100):
            await asyncio.sleep(0.02)
            if quiet.full_collections:
                break
        assert quiet.full_collections >= 1
    finally:
        quiet.stop()
