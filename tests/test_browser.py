"""End to end: the explorer notebook in JupyterLab, in headless Chromium.

Starts JupyterLab from the project's venv on 127.0.0.1 (no token, fresh Jupyter config,
runtime, data and settings folders), opens a copy of ``notebooks/explore.ipynb`` that
points at a demo run, runs all cells, changes the rule picker and checks that the image
grid changed, then clicks a point of the study Q scatter and checks that the explorer
opened that subset with its measures (``tests/browser/explorer.js``, playwright-core). The screenshot lands in
``runs/browser/explorer.png``. Chromium and playwright-core are installed by
``make browser-deps`` (``tests/browser/install-deps.sh``, which ``make test`` runs first);
without them the test skips and says so. Every process started here is stopped at the end.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from xfactor_lib.explore import write_demo_run

from conftest import REPO

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(900)]

CHROMIUM = Path("/usr/bin/chromium")
BROWSER_DIR = REPO / "tests" / "browser"
SCREENSHOT = REPO / "runs" / "browser" / "explorer.png"
VENV_BIN = Path(sys.executable).parent


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _missing_browser() -> str | None:
    """Why the browser test cannot run here, or None when chromium, node and playwright-core are there."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing"
    if shutil.which("node") is None:
        return "node is missing"
    if not (BROWSER_DIR / "node_modules" / "playwright-core").is_dir():
        return f"{BROWSER_DIR / 'node_modules' / 'playwright-core'} is missing"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (from /proc), deepest last."""
    parents: dict[int, int] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
                parents[int(d.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parents.items() if pp == p]
        out += kids
        todo += kids
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _stop(proc: subprocess.Popen | None) -> None:
    """Stop a process started in its own session: its group and every descendant (by pid)."""
    if proc is None:
        return
    descendants = _children(proc.pid)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for kill, pid in [(os.killpg, proc.pid)] + [(os.kill, p) for p in descendants]:
            try:
                kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
        deadline = time.time() + 10
        while time.time() < deadline and (proc.poll() is None or any(map(_alive, descendants))):
            time.sleep(0.1)
        if proc.poll() is not None and not any(map(_alive, descendants)):
            return


def _api(port: int, path: str, method: str = "GET") -> object:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    with urllib.request.urlopen(req, timeout=5) as r:
        body = r.read()
    return json.loads(body) if body else None


def _wait_for_server(port: int, proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"jupyter lab exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            _api(port, "/api/status")
            return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"jupyter lab did not answer on port {port} in {timeout} s:\n{log.read_text()[-3000:]}")


def _notebook_for(run_dir: Path, target: Path) -> Path:
    """A copy of the explorer notebook whose parameters point at ``run_dir``."""
    nb = nbformat.read(REPO / "notebooks" / "explore.ipynb", as_version=4)
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1
    src, n = re.subn(
        r'^run_dir: str = ".*?"', f"run_dir: str = {json.dumps(str(run_dir))}", params[0].source, flags=re.M
    )
    assert n == 1, "the explorer notebook's parameters cell has no run_dir line"
    params[0].source = src
    nbformat.write(nb, target)
    return target


def _jupyter_env(base: Path) -> dict[str, str]:
    env = dict(os.environ)
    for var, sub in (
        ("JUPYTER_CONFIG_DIR", "config"),
        ("JUPYTER_RUNTIME_DIR", "runtime"),
        ("JUPYTER_DATA_DIR", "data"),
        ("JUPYTERLAB_SETTINGS_DIR", "settings"),
        ("JUPYTERLAB_WORKSPACES_DIR", "workspaces"),
        ("IPYTHONDIR", "ipython"),
        ("MPLCONFIGDIR", "mpl"),
    ):
        (base / sub).mkdir(parents=True, exist_ok=True)
        env[var] = str(base / sub)
    quiet = base / "settings" / "@jupyterlab" / "apputils-extension"
    quiet.mkdir(parents=True, exist_ok=True)  # no news, update checks or toasts over the notebook
    (quiet / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False, "doNotDisturbMode": True})
    )
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env.pop("JUPYTER_TOKEN", None)
    env.pop("JUPYTER_PATH", None)
    return env


def test_explorer_runs_in_jupyterlab_and_a_picker_change_updates_the_image_grid(tmp_path):
    missing = _missing_browser()
    if missing:
        pytest.skip(f"{missing}: run `make browser-deps` (as root for apt) to install the browser test's packages")
    run_dir = write_demo_run(tmp_path / "run")
    root = tmp_path / "lab"
    root.mkdir()
    _notebook_for(run_dir, root / "explore.ipynb")
    env = _jupyter_env(tmp_path / "jupyter")
    port = _free_port()
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    SCREENSHOT.unlink(missing_ok=True)
    lab_log = tmp_path / "jupyterlab.log"
    lab = node = None
    t0 = time.time()
    try:
        with open(lab_log, "wb") as fh:
            lab = subprocess.Popen(
                [
                    str(VENV_BIN / "jupyter"),
                    "lab",
                    "--no-browser",
                    "--ip=127.0.0.1",
                    f"--port={port}",
                    "--ServerApp.port_retries=0",
                    "--IdentityProvider.token=",
                    "--PasswordIdentityProvider.hashed_password=",
                    "--ServerApp.disable_check_xsrf=True",
                    f"--ServerApp.root_dir={root}",
                    "--LabApp.news_url=None",
                ]
                + (["--allow-root"] if _is_root() else []),
                cwd=root,
                env=env,
                stdout=fh,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _wait_for_server(port, lab, lab_log)
        node = subprocess.Popen(
            [
                "node",
                str(BROWSER_DIR / "explorer.js"),
                f"http://127.0.0.1:{port}/lab/tree/explore.ipynb",
                str(SCREENSHOT),
                str(tmp_path / "chromium-profile"),
            ],
            cwd=BROWSER_DIR,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        try:
            out, _ = node.communicate(timeout=420)
        except subprocess.TimeoutExpired:
            _stop(node)
            out, _ = node.communicate()
            pytest.fail(f"the browser script ran past 420 s:\n{out[-4000:]}")
        print(out)
        lines = [ln for ln in out.splitlines() if ln.startswith("RESULT ")]
        assert lines, (
            f"the browser script printed no result:\n{out[-4000:]}\n--- jupyter:\n{lab_log.read_text()[-3000:]}"
        )
        result = json.loads(lines[-1][len("RESULT ") :])
        assert result["ok"], f"{result.get('error')}\n{out[-4000:]}\n--- jupyter:\n{lab_log.read_text()[-3000:]}"
        assert node.returncode == 0
        assert result["before"]["hash"] != result["after"]["hash"]
        assert result["rule"][0] != result["rule"][1]
        assert result["subset"][1] != result["subset"][0]
        assert result["pick"][0] == result["pick"][1] != result["subset"][1]  # the scatter point opened its subset
        assert SCREENSHOT.is_file() and SCREENSHOT.stat().st_size > 50_000, "the screenshot is missing or blank"
        print(f"browser test: {time.time() - t0:.1f} s; screenshot {SCREENSHOT}")
    finally:
        if lab is not None:
            try:  # shut the kernels down through the server first, then stop it
                for s in _api(port, "/api/sessions") or []:
                    _api(port, f"/api/sessions/{s['id']}", method="DELETE")
            except OSError:
                pass
        _stop(node)
        _stop(lab)
