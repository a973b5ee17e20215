"""Time newsarchive's start-up: `--version`, `--help` and `COMMAND --help` as whole processes, and where it goes.

    python bench/startup_bench.py [--runs 20] [--baseline SRC] [--command='update --help' ...]

Each command runs in a fresh interpreter as the console script runs it (`python -c "from newsarchive.__main__
import main; main()" ARGS`, with PYTHONPATH at this checkout's src), --runs times after one untimed run that writes
the bytecode caches (pip writes them when it installs; PYTHONDONTWRITEBYTECODE is dropped for the runs). For each it
prints the median wall time and CPU time (user + system, from wait4) and how many modules were imported. Given
--baseline SRC (the `src` folder of another version, e.g. main's: `git worktree add /tmp/main main`), the same
command of that version runs interleaved with each run, and the median of the run-by-run ratios is printed.

Then where the time goes, for `--help` and `update --help`: four processes, each doing one step more than the one
before (`python -c pass`, `import typer`, `import newsarchive.cli`, the command), interleaved --runs times; each
step's cost is the difference of the medians. The last step is typer building the command line from the command
functions, parsing the arguments and printing the help.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
MAIN = "from newsarchive.__main__ import main; main()"
COUNT = """
import sys
from newsarchive.__main__ import main
try:
    main()
except SystemExit:
    pass
print(len(sys.modules), file=sys.stderr)
"""
COMMANDS = ["--version", "--help", "update --help", "search --help", "opml export --help"]
TARGET_MS = 100  # issue 14: --version and --help under 100 ms


def environment(src: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "PYTHONPATH": str(src), "NO_COLOR": "1", "COLUMNS": "80"}


def run(src: Path, *args: str, code: str = MAIN) -> tuple[float, float, str]:
    """One process: (wall seconds, CPU seconds, its stderr)."""
    command = [sys.executable, "-c", code, *args]
    started = time.perf_counter()
    process = subprocess.Popen(command, env=environment(src), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    err = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(command)} failed:\n{err}")
    return wall, usage.ru_utime + usage.ru_stime, err


def module_count(src: Path, args: list[str]) -> int:
    return int(run(src, *args, code=COUNT)[2].split()[-1])


def time_commands(commands: list[list[str]], runs: int, baseline: Path | None) -> None:
    heading = f"{'command':<24}{'wall ms':>9}{'CPU ms':>8}{'modules':>9}"
    print(heading + (f"{'baseline wall':>15}{'CPU':>7}{'ratio':>7}" if baseline else ""))
    for args in commands:
        versions = [SRC, baseline] if baseline else [SRC]
        for src in versions:
            run(src, *args)  # writes the bytecode caches
        times: dict[Path, list[tuple[float, float]]] = {src: [] for src in versions}
        for _ in range(runs):
            for src in versions:
                times[src].append(run(src, *args)[:2])
        wall, cpu = (statistics.median(t[i] for t in times[SRC]) * 1000 for i in (0, 1))
        line = f"{' '.join(args):<24}{wall:>9.0f}{cpu:>8.0f}{module_count(SRC, args):>9}"
        if baseline:
            old_wall, old_cpu = (statistics.median(t[i] for t in times[baseline]) * 1000 for i in (0, 1))
            ratio = statistics.median(new[0] / old[0] for new, old in zip(times[SRC], times[baseline], strict=True))
            line += f"{old_wall:>15.0f}{old_cpu:>7.0f}{ratio:>6.2f}x"
        print(line + ("" if wall < TARGET_MS else f"   over the {TARGET_MS} ms target"))


def where_it_goes(args: list[str], runs: int) -> None:
    """Whole processes that each do one step more than the one before, interleaved; the step's cost is the
    difference of their medians."""
    steps = [
        ("Python starting (python -c pass)", "pass", []),
        ("importing typer, and the standard library it uses", "import typer", []),
        ("importing newsarchive's command line (the rest)", "import newsarchive.cli", []),
        ("typer building the command line, parsing, printing", MAIN, args),
    ]
    times: list[list[tuple[float, float]]] = [[] for _ in steps]
    for _, code, step_args in steps:
        run(SRC, *step_args, code=code)  # writes the bytecode caches
    for _ in range(runs):
        for step, (_, code, step_args) in enumerate(steps):
            times[step].append(run(SRC, *step_args, code=code)[:2])
    print(f"\nwhere `newsarchive {' '.join(args)}` goes (medians of {runs} interleaved runs, ms):{'wall':>8}{'CPU':>8}")
    wall_before = cpu_before = 0.0
    for (label, _, _), measured in zip(steps, times, strict=True):
        wall, cpu = (statistics.median(t[i] for t in measured) * 1000 for i in (0, 1))
        print(f"  {label:<62}{wall - wall_before:8.1f}{cpu - cpu_before:8.1f}")
        wall_before, cpu_before = wall, cpu
    print(f"  {'the whole':<62}{wall_before:8.1f}{cpu_before:8.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--baseline", type=Path, metavar="SRC", help="another version's src folder, run interleaved")
    parser.add_argument("--command", action="append", metavar="ARGS", help="a command line to time instead of the default ones")
    options = parser.parse_args()
    if options.baseline and not (options.baseline / "newsarchive" / "__main__.py").is_file():
        parser.error(f"--baseline {options.baseline}: no newsarchive/__main__.py there; give the src folder")
    commands = [shlex.split(command) for command in options.command or COMMANDS]
    print(f"{sys.version.split()[0]}, load average {os.getloadavg()[0]:.1f} at the start; {options.runs} runs of each")
    time_commands(commands, options.runs, options.baseline)
    for args in (["--help"], ["update", "--help"]):
        where_it_goes(args, options.runs)


if __name__ == "__main__":
    main()
