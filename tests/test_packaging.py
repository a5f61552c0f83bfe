"""Every sub-package on disk is installed by `pip install .`, configs included."""

from __future__ import annotations

from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]


def test_every_subpackage_is_listed_in_pyproject():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
                 ["packages"])
    on_disk = {"worldmodel." + ".".join(p.parent.relative_to(ROOT / "worldmodel").parts)
               for p in (ROOT / "worldmodel").rglob("__init__.py")}
    on_disk = {name.rstrip(".") for name in on_disk}
    assert on_disk <= listed, f"add to [tool.setuptools] packages: {sorted(on_disk - listed)}"


def test_configs_ship_with_the_package():
    from worldmodel.cli import config_dir, groups

    assert (config_dir() / "collect.yaml").is_file()
    assert "two_rooms" in groups()["env"]


def test_shipped_checkpoints_are_package_data_and_small():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "*.pt" in data["package-data"]["worldmodel.checkpoints"]
    shipped = list((ROOT / "worldmodel" / "checkpoints").glob("*.pt"))
    assert {p.name for p in shipped} >= {"point_room.pt", "two_rooms.pt"}
    assert sum(p.stat().st_size for p in shipped) <= 20 * 2**20  # all together at most 20 MB
