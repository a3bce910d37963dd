"""A worker process loads what it runs: httpx's command line (click and rich), which
development installs bring along, stays out of it (app/__init__.py), ~4 MB of the engine's
peak (issue 24)."""

import subprocess
import sys

from app.settings import PROJECT_ROOT


def test_a_worker_process_does_not_load_httpx_s_command_line() -> None:
    probe = (
        "import sys, app.workers.main, httpx\n"
        "loaded = [m for m in ('httpx._main', 'rich', 'click') if sys.modules.get(m)]\n"
        "print(','.join(loaded))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == ""
