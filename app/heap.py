"""The collector's settings for a long-running process (an API worker, the engine), applied
once it has started."""

import gc

# When the collector runs, by generation (gc.set_threshold). The API serves requests: few,
# short pauses in their path matter most. The engine keeps Python's own: with its startup
# heap frozen its collections are cheap, and collected less often its garbage (SQLAlchemy's
# statements built per write) holds memory (bench.refresh at 100,000 posts, peak RSS: with
# SERVING's thresholds 128 MB, (2,000, 10, 10) 116 MB, Python's 113 MB at the best rate).
SERVING = (50_000, 20, 100)
ENGINE = (700, 10, 10)


def settle(thresholds: tuple[int, int, int]) -> None:
    """Everything allocated so far (modules, mapped classes, compiled statements, pools)
    lives as long as the process: freeze it, so no collection walks it again. Full
    collections walking it were the API's latency tail, and a tenth of the engine's CPU
    (19 of ~100 ms each, the event loop stopped, in a 30,000-post pipeline run)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*thresholds)
