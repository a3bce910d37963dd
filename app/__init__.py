"""ViewLedger. Imported before anything else in each of the service's processes (the API,
the worker, the sandbox), so what is set here holds process-wide."""

import importlib.util
import sys

# httpx imports its command line (click, rich and pygments: ~4 MB and 80 modules in every
# process) whenever those are installed, as the development tools install them; the service
# never runs it. Marked absent before anything imports httpx, httpx falls back as it does
# where they are not installed (issue 24: the engine's memory).
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

# httpcore (httpx's own transport: the webhook client's) runs `import sniffio` inside every
# lock and event it sets up, several times per request. Without sniffio installed (anyio no
# longer brings it) each of those imports searches sys.path and fails: a third of a request's
# client CPU (issue 24). Recorded once as absent, the import fails at once; httpcore then
# assumes asyncio, as it does whenever sniffio is missing.
if "sniffio" not in sys.modules and importlib.util.find_spec("sniffio") is None:
    sys.modules["sniffio"] = None  # type: ignore[assignment]
