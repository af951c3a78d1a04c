import pytest

from driftlab.config import ExperimentConfig, dump_config, list_presets, load_config
from driftlab.errors import ConfigError


def write(tmp_path, text):
    p = tmp_path / "c.toml"
    p.write_text(text)
    return p


def test_every_preset_loads_and_roundtrips():
    assert "quickstart" in list_presets()
    for name in list_presets():
        cfg = load_config(preset=name)
        again = ExperimentConfig.model_validate(__import__("tomllib").loads(dump_config(cfg)))
        assert again == cfg


def test_neither_a_file_nor_a_preset_is_a_config_error():
    # found by mypy: read_config called Path(None), a TypeError traceback
    with pytest.raises(ConfigError, match="give a CONFIG file or --preset NAME"):
        load_config()


def test_unknown_top_level_key_names_it_and_the_allowed_keys(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, "roundz = 3\n"))
    assert "roundz: unknown key" in str(e.value)
    assert "rounds" in str(e.value) and "seed" in str(e.value)


def test_unknown_nested_key_names_its_section(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, "[train]\nlearning_rat = 0.1\n"))
    assert "train.learning_rat: unknown key" in str(e.value)
    assert "learning_rate" in str(e.value)


def test_bad_value_names_key_and_value(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, "rounds = -1\n"))
    assert "rounds" in str(e.value) and "-1" in str(e.value)


def test_loop_settings_are_checked_against_the_loop(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, '[loop]\nmethod = "lmsi"\nsampels = 4\n'))
    assert "loop.sampels: unknown key" in str(e.value) and "samples" in str(e.value)
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, '[loop]\nmethod = "lmsi"\nformats = ["cot", "poetry"]\n'))
    assert "loop.formats.1" in str(e.value) and "'direct'" in str(e.value)


def test_unknown_method_lists_the_choices(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, '[loop]\nmethod = "selfplay"\n'))
    assert "unknown loop 'selfplay'" in str(e.value) and "lmsi" in str(e.value)


def test_unknown_monitor_and_monitor_key(tmp_path):
    with pytest.raises(ConfigError, match="unknown monitor 'vibes'"):
        load_config(write(tmp_path, "[monitors.vibes]\nenabled = true\n"))
    with pytest.raises(ConfigError, match="monitors.capability.sample: unknown key"):
        load_config(write(tmp_path, "[monitors.capability]\nsample = 3\n"))


def test_task_settings_are_checked_against_the_task(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, '[task]\nname = "arithmetic"\nstepz = 2\n'))
    assert "task.stepz: unknown key" in str(e.value) and "steps" in str(e.value)
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, '[task]\nname = "arithmetic"\nsteps = "many"\n'))
    assert "task.steps" in str(e.value)


def test_not_toml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "rounds = = 3\n"))
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="unknown preset 'nope'; choose one of: .*quickstart"):
        load_config(preset="nope")


def test_disabled_monitor_is_not_run(tmp_path):
    cfg = load_config(write(tmp_path, "[monitors.diversity]\nenabled = false\n"))
    assert "diversity" not in cfg.monitor_settings()
    assert "capability" in cfg.monitor_settings()
