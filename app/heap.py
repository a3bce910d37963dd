"""The collector's settings for a long-running process (an API worker, the engine), applied
once it has started."""

import gc

# Young objects are collected once this many more have been made than freed (Python: 700).
# The API serves requests: few, short pauses in their path matter most. The engine makes
# some cyclic garbage with every write (SQLAlchemy's statements built per call): collected
# sooner, it holds less memory (bench.refresh at 30,000 posts: 50,000 read 125 MB peak RSS,
# 10,000 117 MB, 2,000 114-115 MB and the best rate, 700 880 posts/s against 946-1,019).
SERVING = 50_000
ENGINE = 2_000


def settle(young: int) -> None:
    """Everything allocated so far (modules, mapped classes, compiled statements, pools)
    lives as long as the process: freeze it, so no collection walks it again, and collect
    young objects after `young`. Full collections were the API's latency tail, and a tenth
    of the engine's CPU (19 of ~100 ms each in a 30,000-post pipeline run)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(young, 20, 100)
