"""ViewLedger. Imported before anything else in each of the service's processes (the API,
the worker, the sandbox), so what is set here holds process-wide."""

import sys

# httpx imports its command line (click, rich and pygments: ~4 MB and 80 modules in every
# process) whenever those are installed, as the development tools install them; the service
# never runs it. Marked absent before anything imports httpx, httpx falls back as it does
# where they are not installed (issue 24: the engine's memory).
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
