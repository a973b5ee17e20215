"""schedule --print: the three schedules name this archive and run update, then publish."""

from __future__ import annotations

from pathlib import Path

from .test_cli import explain, run


def test_cron_systemd_and_github(tmp_path: Path) -> None:
    run("init", tmp_path)
    cron = run("schedule", "--print", "cron", "--archive", tmp_path)
    assert cron.returncode == 0, explain(cron)
    line = next(entry for entry in cron.stdout.splitlines() if not entry.startswith("#"))
    minute, hour, *_ = line.split()
    assert 0 <= int(minute) < 60 and hour == "*"
    assert f"update --archive {tmp_path}" in line and f"publish --push --archive {tmp_path}" in line
    systemd = run("schedule", "--print", "systemd", "--archive", tmp_path).stdout
    assert "OnCalendar=hourly" in systemd and "Persistent=true" in systemd and f"WorkingDirectory={tmp_path}" in systemd
    github = run("schedule", "--print", "github", "--archive", tmp_path, "--package", "newsarchive==0.1.0").stdout
    for expected in ("cron:", "actions/cache@v4", "pip install newsarchive==0.1.0", "newsarchive publish --push", "keep-alive"):
        assert expected in github
    assert "\t" not in github  # YAML forbids tabs
    bad = run("schedule", "--print", "windows", "--archive", tmp_path)
    assert bad.returncode == 2 and "cron, systemd, github" in bad.stderr, explain(bad)
