"""Time-ordered UUIDs (RFC 9562 version 7): new rows land at the right edge of the primary-key
index instead of at random pages, which keeps inserts and id-ordered scans cheap at scale."""

import os
import time
import uuid


def new_id() -> uuid.UUID:
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version
    value |= (rand >> 68) << 64  # 12 random bits (rand_a)
    value |= 0b10 << 62  # variant
    value |= rand & ((1 << 62) - 1)  # 62 random bits (rand_b)
    return uuid.UUID(int=value)
