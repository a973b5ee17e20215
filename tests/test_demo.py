"""The demo and the README's Quick start make no connection off this machine.

The strict way: each command runs in a network namespace with only loopback (``unshare -n``, as root) under
``strace -f``, and any connect or send to an address that is not loopback, to a DNS port (even a resolver on
loopback forwards the question elsewhere) or to a name service daemon (nscd, systemd-resolved: they live outside the
namespace) fails the test, whether or not it succeeded.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from newsarchive.config import load_settings
from newsarchive.demo import DEMO_MARK, DEMO_ORIGIN, DEMO_OUTLETS

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "src" / "newsarchive" / "data" / "samples"
NEWSARCHIVE = [sys.executable, "-m", "newsarchive"]
# As the shell had it, before the tests' safety net (conftest.clean_environment) sends any proxied request nowhere:
# installing from the package index is the one step here that may need the network, and the user's proxy for it.
INSTALL_ENV = dict(os.environ)

_ADDRESS = re.compile(
    r'sa_family=AF_INET, sin_port=htons\((?P<port4>\d+)\), sin_addr=inet_addr\("(?P<ip4>[^"]+)"\)'
    r'|sa_family=AF_INET6, sin6_port=htons\((?P<port6>\d+)\).*?inet_pton\(AF_INET6, "(?P<ip6>[^"]+)"'
    r'|sa_family=AF_UNIX, sun_path=(?:@)?"(?P<path>[^"]*)"'
)


def _offences(trace: str) -> list[str]:
    """The traced calls that reach, or try to reach, beyond this machine."""
    found = []
    for line in trace.splitlines():
        for match in _ADDRESS.finditer(line):
            if match["path"] is not None:
                if "nscd" in match["path"] or "/resolve/" in match["path"]:
                    found.append(line)
                continue
            address = ipaddress.ip_address(match["ip4"] or match["ip6"])
            mapped = getattr(address, "ipv4_mapped", None)
            loopback = (mapped or address).is_loopback
            if not loopback or int(match["port4"] or match["port6"]) == 53:
                found.append(line)
    return found


def _env() -> dict[str, str]:
    return {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}


def isolated(shell: str, cwd: Path, trace: Path, *, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``shell`` (sh syntax) in a new network namespace holding only loopback, every process of it traced."""
    script = 'ip link set lo up && exec strace -f -qq -e trace=connect,sendto,sendmsg,sendmmsg -o "$0" sh -c "$1"'
    return subprocess.run(
        ["unshare", "-n", "sh", "-c", script, str(trace), shell], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout
    )


def explain(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"


def assert_stays_here(result: subprocess.CompletedProcess[str], trace: Path, status: int = 0) -> None:
    assert result.returncode == status, explain(result)
    offences = _offences(trace.read_text())
    assert not offences, "connections off this machine:\n" + "\n".join(offences[:20]) + "\n" + explain(result)


@pytest.fixture(scope="module")
def namespace() -> None:
    """Skip, saying why, where the strict test cannot run (CI runs as root with both tools)."""
    if os.geteuid() != 0:
        pytest.skip("needs root: `unshare -n` makes a network namespace holding only loopback")
    missing = [tool for tool in ("unshare", "strace", "ip") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} missing: apt-get install util-linux strace iproute2")
    probe = ["unshare", "-n", "strace", "-qq", "-o", "/dev/null", "ip", "link", "set", "lo", "up"]
    probe = subprocess.run(probe, capture_output=True, text=True)
    if probe.returncode:
        pytest.skip(f"no network namespace or no tracing here: {probe.stderr.strip()}")


def quote(path: Path | str) -> str:
    return "'" + str(path).replace("'", "'\\''") + "'"


def test_the_trace_catches_a_name_lookup_and_a_connection_elsewhere(namespace: None, tmp_path: Path) -> None:
    """The test's own net: a DNS look-up and a connect to a public address are caught even though both fail."""
    code = "import socket, contextlib\nwith contextlib.suppress(OSError): socket.getaddrinfo('example.invalid', 80)\n"
    code += "with contextlib.suppress(OSError): socket.create_connection(('192.0.2.1', 80), timeout=1)\n"
    result = isolated(f"{quote(sys.executable)} -c {quote(code)}", tmp_path, tmp_path / "trace")
    assert result.returncode == 0, explain(result)
    offences = _offences((tmp_path / "trace").read_text())
    assert any("192.0.2.1" in line for line in offences), offences
    if Path("/etc/resolv.conf").exists() and "nameserver" in Path("/etc/resolv.conf").read_text():
        assert any("htons(53)" in line or "nscd" in line or "/resolve/" in line for line in offences), offences


def test_samples_point_only_at_this_machine() -> None:
    """Every address in the sample feeds (links, guids, images, embeds) is the demo's own; namespaces are names."""
    for path in SAMPLES.glob("*.xml"):
        text = re.sub(r'xmlns(?::\w+)?="[^"]*"', "", path.read_text(encoding="utf-8"))
        for address in re.findall(r"\w+://[^\s\"'<>&]+", text):
            assert address.startswith(DEMO_ORIGIN + "/"), f"{path.name}: {address}"
    assert sorted(p.name for p in (SAMPLES / "images").iterdir()) == ["phone-box-library.png", "satellite.png", "village-library.png"]


def test_the_demo_archive_stays_a_demo(tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    result = subprocess.run([*NEWSARCHIVE, "demo", demo], capture_output=True, text=True, env=_env(), timeout=120)
    assert result.returncode == 0, explain(result)
    config = (demo / "newsarchive.toml").read_text(encoding="utf-8")
    assert config.startswith(DEMO_MARK)
    settings = load_settings(demo, env={})
    assert [s.slug for s in settings.sources] == list(DEMO_OUTLETS)
    assert all(feed.startswith(DEMO_ORIGIN + "/") for s in settings.sources for feed in s.feeds)
    assert settings.fetch.proxy is not None and settings.fetch.proxy.startswith("http://127.0.0.1:")
    assert len(list((demo / "media").rglob("*.png"))) == 3  # real images, served on 127.0.0.1
    files = sorted((demo / "articles").rglob("*.md"))
    assert len(files) == 20
    # Again: the same links (only the server's port changes), so nothing is new and nothing is doubled.
    again = subprocess.run([*NEWSARCHIVE, "demo", demo], capture_output=True, text=True, env=_env(), timeout=120)
    assert again.returncode == 0 and "0 new" in again.stderr, explain(again)
    assert sorted((demo / "articles").rglob("*.md")) == files
    # An archive of real outlets is never made a demo.
    real = tmp_path / "real"
    subprocess.run([*NEWSARCHIVE, "init", real], check=True, capture_output=True, env=_env())
    before = (real / "newsarchive.toml").read_bytes()
    refused = subprocess.run([*NEWSARCHIVE, "demo", real], capture_output=True, text=True, env=_env(), timeout=60)
    assert refused.returncode == 2 and "real outlets" in refused.stderr, explain(refused)
    assert (real / "newsarchive.toml").read_bytes() == before and not (real / "articles" / "rfi").exists()


def test_demo_update_site_and_serve_stay_on_this_machine(namespace: None, tmp_path: Path) -> None:
    """The demo, then what it suggests and what a user tries next, each in a namespace of its own."""
    newsarchive = " ".join(quote(part) for part in NEWSARCHIVE)
    result = isolated(f"{newsarchive} demo demo-archive", tmp_path, tmp_path / "demo.trace")
    assert_stays_here(result, tmp_path / "demo.trace")
    assert len(list((tmp_path / "demo-archive" / "media").rglob("*.png"))) == 3
    # A later update: the demo's server is gone, so its outlets fail (exit 1), and nothing else is tried.
    result = isolated(f"{newsarchive} update -a demo-archive", tmp_path, tmp_path / "update.trace")
    assert_stays_here(result, tmp_path / "update.trace", status=1)
    result = isolated(f"{newsarchive} build-site -a demo-archive site", tmp_path, tmp_path / "site.trace")
    assert_stays_here(result, tmp_path / "site.trace")
    # serve, as the demo suggests, and a reader's requests to it, all inside one namespace.
    reader = f"""
import subprocess, sys, time, urllib.request
serve = subprocess.Popen({[*NEWSARCHIVE, "serve", "-a", "demo-archive"]!r})
try:
    for _ in range(200):
        try:
            paths = ("/", "/search.html?q=%E5%9B%BE%E4%B9%A6%E9%A6%86")  # 图书馆
            pages = [urllib.request.urlopen("http://127.0.0.1:8000" + path, timeout=5).read() for path in paths]
            break
        except OSError:
            time.sleep(0.1)
    else:
        sys.exit("serve never answered")
    assert "图书馆".encode() in pages[1], pages[1][:500]
finally:
    serve.terminate()
    serve.wait(10)
"""
    result = isolated(f"{quote(sys.executable)} -c {quote(reader)}", tmp_path, tmp_path / "serve.trace")
    assert_stays_here(result, tmp_path / "serve.trace")


def _quick_start() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Quick start\n", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", section, flags=re.S)]


def test_quick_start_holds_two_commands() -> None:
    commands = _quick_start()
    assert len(commands) == 2 and all("\n" not in command for command in commands), commands
    assert "newsarchive demo" in commands[0] and "pytest" in commands[1]


def _checkout_copy(target: Path) -> Path:
    """The project's files as a clone has them (git's list when this is a checkout), without venvs or builds."""
    if (ROOT / ".git").exists() and shutil.which("git"):
        listed = subprocess.run(["git", "-C", ROOT, "ls-files", "-z", "-co", "--exclude-standard"], capture_output=True, check=True)
        for name in filter(None, listed.stdout.decode().split("\0")):
            if (ROOT / name).is_file():
                (target / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / name, target / name)
    else:
        shutil.copytree(ROOT, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".*", "build", "*.egg-info", "__pycache__"))
    return target


def test_quick_start_demo_stays_on_this_machine(namespace: None, tmp_path: Path) -> None:
    """The README's first command as written, in a clean copy: its installing steps outside the namespace (they need
    the package index), the rest, the demo, inside it."""
    steps = _quick_start()[0].split(" && ")
    installed = max(i for i, step in enumerate(steps) if step.startswith("pip install"))
    outside = steps[: installed + 1]
    inside = [step for step in outside if step.startswith(". ")] + steps[installed + 1 :]
    assert any(step.startswith("newsarchive demo") for step in inside), steps
    checkout = _checkout_copy(tmp_path / "newsarchive")
    install = subprocess.run(["sh", "-c", " && ".join(outside)], cwd=checkout, env=INSTALL_ENV, capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, explain(install)
    result = isolated(" && ".join(inside), checkout, tmp_path / "trace")
    assert_stays_here(result, tmp_path / "trace")
    demo = checkout / inside[-1].split()[-1]
    assert (demo / "site" / "index.html").is_file() and len(list((demo / "articles").rglob("*.md"))) == 20, explain(result)
