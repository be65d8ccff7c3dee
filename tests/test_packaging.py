"""The wheel and the sdist `python -m build` makes: one top-level package, the data it reads,
no tests. (`.ci/wheel-smoke` installs the wheel in a fresh virtualenv and runs it there.)"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import smartcharge

ROOT = Path(__file__).resolve().parent.parent

# One build for the module, in one xdist worker: two builds of one source tree at once collide
# in its build/ and egg-info folders.
pytestmark = pytest.mark.xdist_group("packaging")


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return out


def tracked(folder: str) -> list[str]:
    listing = subprocess.run(
        ["git", "ls-files", folder], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return listing.stdout.split()


def wheel_names(dist: Path) -> list[str]:
    (wheel,) = dist.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def test_the_wheel_installs_one_top_level_package(dist: Path) -> None:
    top = {name.split("/")[0] for name in wheel_names(dist)}
    assert top == {"smartcharge", f"smartcharge-{smartcharge.__version__}.dist-info"}


def test_the_wheel_carries_what_the_package_reads(dist: Path) -> None:
    names = set(wheel_names(dist))
    if not tracked("data"):
        pytest.skip("not a git checkout: cannot list the shipped data")
    missing = [f for f in tracked("data") if f"smartcharge/{f}" not in names]
    assert not missing, f"shipped data missing from the wheel: {missing}"
    for package in ("api", "optimizer", "forecasting"):
        sources = [f for f in tracked(package) if f.endswith((".py", ".mako", ".html", ".js"))]
        absent = [f for f in sources if f"smartcharge/{f}" not in names]
        assert not absent, f"package files missing from the wheel: {absent}"
    assert "smartcharge/py.typed" in names
    assert not any(n.startswith(("tests/", "smartcharge/tests/")) for n in names)


def test_the_sdist_has_no_tests(dist: Path) -> None:
    (sdist,) = dist.glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = archive.getnames()
    root = f"smartcharge-{smartcharge.__version__}"
    assert f"{root}/pyproject.toml" in names
    assert f"{root}/data/examples/garage-8.json" in names
    assert not [n for n in names if n.startswith(f"{root}/tests/")]
