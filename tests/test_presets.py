"""Every shipped preset, of every kind, validates as the config of the command that runs it, and
the names from before presets had namespaces still work."""

import tomllib
from importlib import resources

import pytest

from driftlab import presets
from driftlab.config import ExperimentConfig, load_config
from driftlab.errors import ConfigError
from driftlab.sections import dump_config
from driftlab.w2s.config import W2SConfig, load_w2s_config

LOADERS = {"run": (load_config, ExperimentConfig), "w2s": (load_w2s_config, W2SConfig)}


def test_every_kind_has_a_loader_and_every_file_a_kind():
    assert set(presets.COMMANDS) == set(LOADERS)
    root = resources.files("driftlab.presets")
    stray = [p.name for p in root.iterdir() if p.name.endswith(".toml")]
    assert stray == []  # a preset sits in its kind's folder, or no command can find it
    assert presets.names("run") and presets.names("w2s")


@pytest.mark.parametrize(
    "kind,name", [(k, n) for k in sorted(presets.COMMANDS) for n in presets.names(k)]
)
def test_each_preset_validates_and_roundtrips(kind, name):
    load, cls = LOADERS[kind]
    cfg = load(preset=name)
    assert isinstance(cfg, cls)
    if kind == "run":
        cfg.loop_settings()  # the loop's own section is typed too
    assert cls.model_validate(tomllib.loads(dump_config(cfg))) == cfg


def test_old_flat_names_resolve_or_name_the_new_one():
    assert load_w2s_config(preset="w2s-quick") == load_w2s_config(preset="quick")
    assert presets.find("w2s", "w2s-grid") == "grid" and presets.find("run", "w2s-grid") is None
    with pytest.raises(ConfigError, match="run it with driftlab w2s --preset experiments"):
        load_config(preset="w2s-experiments")
    with pytest.raises(ConfigError, match="unknown preset 'nope'; choose one of: cai-quick"):
        load_config(preset="nope")
