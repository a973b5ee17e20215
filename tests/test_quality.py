"""The code stays ruff clean and mypy strict clean."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


FOLDERS = ["src", "tests", "bench"]


@pytest.mark.parametrize("command", [["ruff", "check", *FOLDERS], ["ruff", "format", "--check", *FOLDERS], ["mypy"]])
def test_linters_pass(command: list[str]) -> None:
    if shutil.which(command[0]) is None and command[0] != "mypy":
        pytest.skip(f"{command[0]} is not installed (pip install -e '.[test]')")
    argv = [sys.executable, "-m", *command]
    result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
