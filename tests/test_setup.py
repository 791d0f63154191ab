"""The README's set-up: the venv rule installs the pinned requirements, and TORCH_INDEX (the CPU-only
route) adds exactly one step before them: torch and torchvision, at the pinned versions, from that index."""
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(not shutil.which("make"), reason="needs make")


def venv_steps(tmp_path: Path, *variables: str) -> list[str]:
    """The commands `make` would run to build a venv in tmp_path (dry run: nothing is installed)."""
    venv = tmp_path / "venv"
    out = subprocess.run(["make", "-n", "-C", str(ROOT), f"{venv}/.requirements-installed", f"VENV={venv}",
                          *variables], capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if "pip install" in line]


def test_default_install_is_the_pinned_requirements_only(tmp_path):
    steps = venv_steps(tmp_path)
    assert len(steps) == 2 and "-r requirements.txt" in steps[0] and "-e ." in steps[1]
    assert not any("--index-url" in s for s in steps)


def test_torch_index_installs_the_pinned_torch_first_from_that_index(tmp_path):
    pins = re.findall(r"^(torch(?:vision)?==\S+)$", (ROOT / "requirements.txt").read_text(), re.M)
    assert len(pins) == 2
    steps = venv_steps(tmp_path, "TORCH_INDEX=https://wheels.example.invalid/cpu")
    assert len(steps) == 3 and "-r requirements.txt" in steps[1]
    first = steps[0].split()
    assert first[first.index("--index-url") + 1] == "https://wheels.example.invalid/cpu"
    assert sorted(first[first.index("--index-url") + 2:]) == sorted(pins)


def test_readme_stays_short_and_its_links_resolve():
    text = (ROOT / "README.md").read_text()
    assert len(text.encode()) <= 8 * 1024, "keep the README a newcomer's page: details go to docs/"
    links = re.findall(r"\]\(([^)#]+)\)", text)
    assert "docs/measurements.md" in links and "docs/internals.md" in links
    missing = [link for link in links if "://" not in link and not (ROOT / link).exists()]
    assert not missing, missing
    for command in re.findall(r"python -m ([\w.]+)", text):  # every module the README tells you to run
        if not command.islower():
            continue  # a placeholder such as bench.NAME
        assert (ROOT / command.replace(".", "/")).with_suffix(".py").exists() \
            or (ROOT / command.replace(".", "/") / "__main__.py").exists(), command
