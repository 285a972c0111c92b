"""A wheel installed into a fresh venv works from an empty folder: ingest, ask, LLM mode.

The venv gets the wheel alone (`--no-deps`); its dependencies come from this venv's
site-packages through a .pth line, so the test needs no network and no second install of
torch-sized packages, and the checkout itself is never on the path (the `qa` that runs is the
wheel's, which the test checks).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest
from chat_server import ChatServer

from qa.config import PROJECT_ROOT

pytestmark = pytest.mark.slow
QUESTION = "中国生态环境国际合作有哪些成果？"


def _files(folder: Path) -> set[str]:
    """Every file under folder except bytecode, which Python may cache on import."""
    return {
        str(path.relative_to(folder))
        for path in folder.rglob("*")
        if path.is_file() and path.suffix != ".pyc"
    }


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("install")
    source = root / "source"  # a copy, so the build leaves nothing in the checkout
    _mkdir(source)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(PROJECT_ROOT / name, source / name)
    for name in ("qa", "data"):
        shutil.copytree(
            PROJECT_ROOT / name, source / name, symlinks=True, ignore=shutil.ignore_patterns("__pycache__")
        )
    wheels = root / "wheels"
    build = [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation"]
    subprocess.run([*build, "-q", "-w", str(wheels)], check=True, capture_output=True)
    wheel = next(wheels.glob("qa_chat-*.whl"))

    env_dir = root / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    install = [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index"]
    installing = subprocess.run([*install, str(wheel)], capture_output=True, text=True)
    assert installing.returncode == 0, installing.stdout + installing.stderr
    site = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    (site / "zz_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    home = root / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_") and k != "PYTHONPATH"}
    env.update(HOME=str(home), XDG_DATA_HOME=str(home / "data"), XDG_CACHE_HOME=str(home / "cache"))
    work = _mkdir(root / "empty")
    return {
        "qa": str(env_dir / "bin" / "qa"),
        "site": site,
        "env": env,
        "cwd": work,
        "home": home,
        "pip": installing.stdout + installing.stderr,
    }


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _qa(installed: dict, *args: str, **extra_env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [installed["qa"], *args],
        cwd=installed["cwd"],
        env={**installed["env"], **extra_env},
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_installed_wheel_ingests_answers_and_uses_its_prompts_from_an_empty_folder(installed: dict):
    site: Path = installed["site"]
    found = subprocess.run(
        [Path(installed["qa"]).with_name("python"), "-c", "import qa, sys; print(qa.__file__)"],
        cwd=installed["cwd"],
        env=installed["env"],
        capture_output=True,
        text=True,
    )
    # What went wrong, not only that it did: the error, what pip said, what site-packages holds.
    listing = sorted(p.name for p in site.iterdir()) if site.is_dir() else "no site-packages"
    assert found.returncode == 0, f"{found.stderr}\npip: {installed['pip']}\nsite: {listing}"
    where = found.stdout.strip()
    assert Path(where).is_relative_to(site), f"the checkout's qa ran, not the wheel's: {where}"
    before = _files(site)

    ingest = _qa(installed, "ingest")
    assert ingest.returncode == 0, ingest.stderr
    index = installed["home"] / "data" / "qa-chat" / "vectorstore"
    assert index.is_dir() and any(index.iterdir()), "the index is not in the user data folder"

    ask = _qa(installed, "ask", QUESTION, "--json")
    assert ask.returncode == 0, ask.stderr
    answer = json.loads(ask.stdout)
    assert answer["citations"] and "[1]" in answer["answer"]

    reply = "中国积极参与全球环境治理。"
    with ChatServer(reply) as server:
        llm = _qa(installed, "ask", QUESTION, QA_LLM_BASE_URL=server.url, QA_LLM_MODEL="tiny")
    assert llm.returncode == 0, llm.stderr
    sent = [m for request in server.requests for m in request.get("messages", [])]
    packaged = (site / "qa" / "prompts" / "system.zh.md").read_text(encoding="utf-8")
    assert packaged == (PROJECT_ROOT / "qa" / "prompts" / "system.zh.md").read_text(encoding="utf-8")
    assert {"role": "system", "content": packaged} in sent, "the packaged system prompt was not sent"

    assert _files(site) == before, "something was written into site-packages"
    assert not list(installed["cwd"].iterdir()), "the empty folder was written to"
