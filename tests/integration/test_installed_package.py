"""An installable package (issue 15, item 2): `pip install` of the wheel (not editable) serves from any working
folder, because the knowledge base, configuration, migrations, templates and static files travel as package data
and what the service writes goes to STEWARDSHIP_VAR. Built and installed for real, served on 127.0.0.1."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh virtualenv holding the built wheel; the dependencies come from the test's own environment through a
    .pth path line (which does not bring the checkout's editable install along)."""
    work = tmp_path_factory.mktemp("installed")
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(work / "wheel")], check=True, capture_output=True, timeout=300)
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    site = venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    wheel = next((work / "wheel").glob("stewardship-*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    return venv


def _run(venv: Path, code: str, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([str(venv / "bin" / "python"), "-c", code], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def test_the_installed_package_serves_from_another_folder(installed, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEWARDSHIP_")}
    env.update(STEWARDSHIP_VAR=str(tmp_path / "var"), PYTHONDONTWRITEBYTECODE="1")
    where = _run(installed, "import api, settings; print(api.__file__); print(settings.packaged('drugdata'))",
                 elsewhere, env)
    assert where.returncode == 0, where.stderr
    assert all(str(installed) in line for line in where.stdout.split()), where.stdout  # not the checkout
    checked = _run(installed, "import sys, cli; sys.argv = ['stewardship', 'kb', 'check']; cli.main()", elsewhere,
                   env)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen([str(installed / "bin" / "python"), "-c",
                               f"import sys, cli; sys.argv = ['stewardship', 'serve', '--port', '{port}']; cli.main()"],
                              cwd=elsewhere, env=env, stdout=subprocess.DEVNULL, stderr=log)
    try:
        for _ in range(150):
            try:
                health = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=15)
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        else:
            pytest.fail(f"the installed service did not start: {(tmp_path / 'serve.log').read_text()}")
        assert health.status_code == 200 and health.json()["knowledgeBase"]
        page = requests.get(f"http://127.0.0.1:{port}/signin", timeout=5)
        assert page.status_code == 200 and "<form" in page.text
        assert requests.get(f"http://127.0.0.1:{port}/assets/style.css", timeout=5).status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    assert (tmp_path / "var" / "stewardship.sqlite3").exists()  # written where STEWARDSHIP_VAR says
    assert not (elsewhere / "var").exists()
