"""What the README tells a reader to run or to expect matches the service (issue 22 item 17:
a demo command that failed as written, an error code the API never sends, an event missing
from the list)."""

import os
import re
import subprocess
import sys
from pathlib import Path

from app.settings import PROJECT_ROOT
from app.webhooks.events import EventType

README = (PROJECT_ROOT / "README.md").read_text()


def _shell_lines() -> list[str]:
    blocks = re.findall(r"^```sh\n(.*?)^```", README, re.S | re.M)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def test_every_webhook_event_type_is_in_the_readme_s_list() -> None:
    match = re.search(r"\*\*Events\*\*: (.*?)\. The body is", README, re.S)
    assert match is not None
    listed = set(re.findall(r"`([a-z_]+\.[a-z_]+)`", match.group(1)))
    assert listed == {event.value for event in EventType}


def test_each_bulk_outcome_the_readme_names_is_one_the_service_can_give() -> None:
    match = re.search(r"each line's outcome with\nits reason: (.*?)\. A video", README, re.S)
    assert match is not None
    named = re.findall(r"`([a-z_]+)`", match.group(1))
    assert "short_link_invalid" in named
    source = "\n".join(p.read_text() for p in (PROJECT_ROOT / "app").rglob("*.py"))
    unknown = [code for code in named if f'"{code}"' not in source]
    assert unknown == [], unknown


def test_the_readme_s_python_commands_use_the_project_s_python() -> None:
    commands = [line for line in _shell_lines() if re.match(r"(\S*/)?python3? ", line)]
    assert any("app.discord.demo" in c for c in commands)
    assert [c for c in commands if not c.startswith(".venv/bin/python ")] == []


def test_the_discord_demo_runs_as_the_readme_writes_it_without_an_activated_venv() -> None:
    """With only the system's directories on PATH (no venv activated), from the project's
    directory, as `make run` leaves it."""
    python = Path(sys.executable)
    venv_python = PROJECT_ROOT / ".venv" / "bin" / "python"
    # Under the test runner this is the project's venv; either way, the path the README names.
    command = venv_python if venv_python.exists() else python
    env = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp")}
    done = subprocess.run(
        [str(command), "-m", "app.discord.demo", "--help"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "connect" in done.stdout
