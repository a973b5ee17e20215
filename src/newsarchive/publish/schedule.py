"""Ready-made schedules for running update + publish every hour: a crontab line, a systemd service
and timer, a GitHub Actions workflow. Text only: nothing is installed."""

from __future__ import annotations

import hashlib
import json
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any

KINDS = ("cron", "systemd", "github")


def _minute(root: Path) -> int:
    """A fixed minute per archive, so that many archives do not all fetch at :00."""
    return int(hashlib.sha256(str(root).encode()).hexdigest(), 16) % 60


def _command() -> str:
    found = shutil.which("newsarchive")
    return shlex.quote(found) if found else f"{shlex.quote(sys.executable)} -m newsarchive"


def cron(root: Path) -> str:
    archive = shlex.quote(str(root))
    log = shlex.quote(str(root / ".newsarchive" / "cron.log"))
    command = _command()
    return (
        "# newsarchive: update every hour, then commit and push to the mirrors (add it with `crontab -e`)\n"
        f"{_minute(root)} * * * * {command} update --archive {archive} >> {log} 2>&1;"
        f" {command} publish --push --archive {archive} >> {log} 2>&1\n"
    )


def systemd(root: Path) -> str:
    command = _command()
    archive = shlex.quote(str(root))
    return f"""# ~/.config/systemd/user/newsarchive.service
[Unit]
Description=newsarchive: archive the news feeds and publish them
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
WorkingDirectory={root}
# update exits 1 when some outlets failed; the rest is archived and still published
ExecStart=-{command} update --archive {archive}
ExecStartPost={command} publish --push --archive {archive}
TimeoutStartSec=30min

# ~/.config/systemd/user/newsarchive.timer
[Unit]
Description=Run newsarchive every hour

[Timer]
OnCalendar=hourly
RandomizedDelaySec=10min
Persistent=true

[Install]
WantedBy=timers.target

# then: systemctl --user daemon-reload && systemctl --user enable --now newsarchive.timer
"""


def requirement_from(direct_url: dict[str, Any] | None, version: str) -> str:
    """The pip requirement that installs newsarchive as this copy was installed, from pip's record of it (PEP 610
    ``direct_url.json``): from a package index (no record), a VCS at the same commit, an archive's or a folder's
    address. (Not a folder's git origin: its commit may never have been pushed.)"""
    if not direct_url:
        return f"newsarchive=={version}"
    url = str(direct_url["url"])
    vcs = direct_url.get("vcs_info")
    if vcs:
        return f"newsarchive @ {vcs['vcs']}+{url}@{vcs['commit_id']}"
    return f"newsarchive @ {url}"


def installed_requirement() -> str:
    """How this running copy of newsarchive was installed, as a requirement pip understands."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        found = distribution("newsarchive")
    except PackageNotFoundError:  # run from a source tree
        from ..version import __version__

        return f"newsarchive=={__version__}"
    record = found.read_text("direct_url.json")
    return requirement_from(json.loads(record) if record else None, found.version)


def only_here(requirement: str) -> bool:
    """A requirement only this machine can install from (a local folder or file), not a GitHub runner."""
    return " @ file:" in requirement


def github(root: Path, package: str | None = None) -> str:
    """The workflow; ``package`` is what pip installs (default: newsarchive as this copy was installed)."""
    del root
    install = shlex.quote(package or installed_requirement())
    return f"""# .github/workflows/newsarchive.yml: update and publish every hour on GitHub Actions
name: newsarchive
on:
  schedule:
    - cron: "23 * * * *"
  workflow_dispatch:
permissions:
  contents: write
concurrency:
  group: newsarchive
  cancel-in-progress: false
jobs:
  update:
    runs-on: ubuntu-latest
    timeout-minutes: 45
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "3.12"
      - name: Restore the index (derived data; `newsarchive reindex` would rebuild it)
        uses: actions/cache@v4
        with:
          path: .newsarchive
          key: newsarchive-index-${{{{ github.run_id }}}}
          restore-keys: newsarchive-index-
      - name: Install newsarchive
        run: |
          python -m pip install {install}
      - name: Update (exit 1 means some outlets failed; the rest is archived and published)
        run: newsarchive update || test $? -eq 1
      - name: Commit, push here and to the mirrors
        run: |
          git config user.name "newsarchive"
          git config user.email "newsarchive@users.noreply.github.com"
          newsarchive publish --push || echo "::warning::a mirror could not be pushed; it is retried next hour"
          git push origin HEAD
      - name: Keep the schedule alive (GitHub disables it after 60 days without commits)
        run: |
          if [ "$(git log -1 --format=%ct)" -lt "$(date -d '50 days ago' +%s)" ]; then
            git commit --allow-empty -m "keep-alive" && git push origin HEAD
          fi
"""


def render(kind: str, root: Path, package: str | None = None) -> str:
    if kind == "cron":
        return cron(root)
    if kind == "systemd":
        return systemd(root)
    return github(root, package)
