"""World files of the tabletop world: loading, inheritance and clear errors (MISSION B1)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from grounded_core.tabletop import (
    TabletopWorld,
    WorldConfigError,
    load_world_config,
    parse_world_config,
    resolve_world_path,
)
from grounded_core.tabletop.world_config import WORLDS_PATH_ENV

DEFAULT_PATH = resolve_world_path("tabletop")


@pytest.fixture()
def default_data() -> dict:
    return yaml.safe_load(DEFAULT_PATH.read_text())


def _write(tmp_path: Path, data, name: str = "bad.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def test_default_world_describes_the_paper_setup():
    config = load_world_config()
    assert config.name == "tabletop"
    assert config.object_names == ("red", "green", "blue")
    assert all(o.shape == "cube" and 0.04 <= o.size <= 0.05 for o in config.objects)
    assert config.robot.urdf.name == "panda.urdf" and config.robot.urdf.is_file()
    enabled = config.enabled_cameras
    assert [(c.width, c.height) for c in enabled] == [(128, 128), (128, 128)]
    assert config.camera("overview").width == 640 and not config.camera("overview").enabled
    assert config.workspace.contains(0.5, 0.0)
    assert config.max_steps == {"grasp": 10, "stack": 20, "stack_all": 40}


def test_basket_world_inherits_and_overrides():
    basket = load_world_config("tabletop_basket")
    base = load_world_config("tabletop")
    assert basket.name == "tabletop_basket"
    assert [f.name for f in base.fixtures] == ["floor"]
    assert [f.name for f in basket.fixtures][1:] == [
        "basket_near",
        "basket_far",
        "basket_left",
        "basket_right",
    ]
    assert basket.objects == base.objects and basket.cameras == base.cameras
    assert basket.source.name == "tabletop_basket.yaml"


def test_worlds_are_found_through_the_environment_variable(tmp_path, monkeypatch, default_data):
    default_data["robot"]["urdf"] = str(load_world_config().robot.urdf)
    default_data["name"] = "elsewhere"
    _write(tmp_path, default_data, "elsewhere.yaml")
    monkeypatch.setenv(WORLDS_PATH_ENV, str(tmp_path))
    assert load_world_config("elsewhere").name == "elsewhere"


@pytest.mark.parametrize(
    ("edit", "field", "fragment"),
    [
        (lambda d: d["objects"][1].pop("mass"), "objects[1].mass", "required"),
        (lambda d: d["objects"][0].update(mass=-1), "objects[0].mass", "> 0"),
        (lambda d: d["objects"][2].update(size="big"), "objects[2].size", "number"),
        (lambda d: d["objects"][0].update(colour=[1, 0]), "objects[0].colour", "RGB"),
        (lambda d: d["objects"][0].update(colour=[2, 0, 0]), "objects[0].colour", "[0, 1]"),
        (lambda d: d["objects"][0].update(shape="sphere"), "objects[0].shape", "cube"),
        (lambda d: d["objects"][1].update(name="red"), "objects[1].name", "duplicate"),
        (lambda d: d["objects"][1].update(colur=[1, 0, 0]), "objects[1].colur", "unknown"),
        (lambda d: d.update(objects=d["objects"][:1]), "objects", "at least 2"),
        (lambda d: d["workspace"].update(x=[0.6, 0.3]), "workspace.x", "above upper"),
        (lambda d: d["spawn"].update(x=[0.2, 0.6]), "spawn.x", "inside the workspace"),
        (lambda d: d["motion"].update(travel_height=0.1), "motion.travel_height", "tower"),
        (lambda d: d["robot"].update(urdf="missing/robot.urdf"), "robot.urdf", "not found"),
        (lambda d: d["robot"].update(finger_joints=[9]), "robot.finger_joints", "exactly 2"),
        (lambda d: d["cameras"][0].update(far=0.01), "cameras[0].far", "greater than near"),
        (lambda d: d["cameras"][1].update(name="front_left"), "cameras[1].name", "duplicate"),
        (lambda d: d["tasks"]["max_steps"].pop("stack"), "tasks.max_steps.stack", "required"),
        (lambda d: d.update(renderer="vulkan"), "renderer", "one of"),
        (lambda d: d["physics"].update(time_step=0), "physics.time_step", "> 0"),
    ],
)
def test_malformed_fields_name_file_and_field(tmp_path, default_data, edit, field, fragment):
    data = copy.deepcopy(default_data)
    data["robot"]["urdf"] = str(load_world_config().robot.urdf)  # the copy lives in tmp_path
    edit(data)
    path = _write(tmp_path, data)
    with pytest.raises(WorldConfigError) as info:
        load_world_config(path)
    message = str(info.value)
    assert str(path) in message and f"'{field}'" in message and fragment in message
    assert info.value.field == field
    assert isinstance(info.value, ValueError)


def test_file_level_errors(tmp_path):
    with pytest.raises(WorldConfigError, match="world file not found"):
        load_world_config(tmp_path / "absent.yaml")
    with pytest.raises(WorldConfigError, match="world not found"):
        load_world_config("no_such_world")
    broken = _write(tmp_path, "objects: [unclosed\n", "broken.yaml")
    with pytest.raises(WorldConfigError, match=r"broken\.yaml: invalid YAML"):
        load_world_config(broken)
    listing = _write(tmp_path, "- just\n- a list\n", "list.yaml")
    with pytest.raises(WorldConfigError, match="must be a mapping"):
        load_world_config(listing)


def test_base_errors(tmp_path):
    loop_a = _write(tmp_path, {"base": "loop_b.yaml", "name": "a"}, "loop_a.yaml")
    _write(tmp_path, {"base": "loop_a.yaml", "name": "b"}, "loop_b.yaml")
    with pytest.raises(WorldConfigError, match="circular base"):
        load_world_config(loop_a)
    bad = _write(tmp_path, {"base": 3}, "bad_base.yaml")
    with pytest.raises(WorldConfigError, match="'base'"):
        load_world_config(bad)


def test_in_memory_config_errors_say_so(default_data):
    default_data["objects"][0]["friction"] = -0.5
    with pytest.raises(
        WorldConfigError, match=r"<in-memory config>: field 'objects\[0\].friction'"
    ):
        parse_world_config(default_data)


def test_joint_index_beyond_the_urdf_is_reported(tmp_path, default_data):
    default_data["robot"]["urdf"] = str(load_world_config().robot.urdf)
    default_data["robot"]["ee_link"] = 40
    path = _write(tmp_path, default_data)
    with pytest.raises(WorldConfigError, match=r"'robot\.ee_link'.*40"):
        TabletopWorld(path)
