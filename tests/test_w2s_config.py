"""w2s config validation, presets kept apart from `driftlab run`, and the generated tasks."""

import subprocess
import sys

import pytest

from driftlab.config import list_presets, load_config
from driftlab.errors import ConfigError, DriftlabError
from driftlab.w2s.config import TaskSpec, list_w2s_presets, load_w2s_config
from driftlab.w2s.facts_data import COUNTRIES, parse
from driftlab.w2s.tasks import build_task_data, facts, sizes


def write(tmp_path, text):
    p = tmp_path / "w2s.toml"
    p.write_text(text)
    return p


def test_presets_load_and_stay_out_of_driftlab_run():
    assert {"quick", "grid", "experiments"} <= set(list_w2s_presets())
    assert not set(list_w2s_presets()) & set(list_presets())
    for name in list_w2s_presets():
        load_w2s_config(preset=name)
    with pytest.raises(
        ConfigError, match="w2s-quick is a w2s preset: run it with driftlab w2s --preset quick"
    ):
        load_config(preset="w2s-quick")
    with pytest.raises(ConfigError, match="driftlab run --preset quickstart"):
        load_w2s_config(preset="quickstart")


def test_unknown_keys_and_bad_values_name_the_key(tmp_path):
    with pytest.raises(ConfigError, match=r"train\.epoch: unknown key; allowed keys: epochs"):
        load_w2s_config(write(tmp_path, "[train]\nepoch = 2\n"))
    with pytest.raises(ConfigError, match=r"losses\.0"):
        load_w2s_config(write(tmp_path, 'losses = ["mse"]\n'))
    with pytest.raises(ConfigError, match="unknown w2s task 'nope'"):
        load_w2s_config(write(tmp_path, 'tasks = [{name = "nope"}]\n'))
    with pytest.raises(ConfigError, match=r"tasks\.sizes\.min_ratios: unknown key"):
        load_w2s_config(write(tmp_path, 'tasks = [{name = "sizes", min_ratios = 2}]\n'))
    with pytest.raises(ConfigError, match="ladder names a model twice"):
        load_w2s_config(write(tmp_path, 'ladder = ["a/b", "a/b"]\n'))
    with pytest.raises(
        ConfigError,
        match="unknown preset 'w2s-nope'; choose one of: experiments, grid, quick",
    ):
        load_w2s_config(preset="w2s-nope")


def test_hub_task_offline_is_one_clear_error(monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DriftlabError, match="needs the network.*facts or sizes"):
        build_task_data(TaskSpec(name="boolq"))


def test_cli_reports_a_bad_w2s_config_in_one_line(tmp_path):
    p = write(tmp_path, "[data]\nn_a = 1\n")
    r = subprocess.run(
        [sys.executable, "-m", "driftlab", "w2s", str(p), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "data.n_a" in r.stderr and "Traceback" not in r.stderr


def test_facts_hold_out_whole_countries_and_balance_labels():
    t = facts(difficulty="hard")
    countries = [r[0] for r in parse(COUNTRIES)]
    in_test = {
        c
        for c in countries
        if any(f"of {c} is" in it.text or f"{c} is a country" in it.text for it in t.test)
    }
    assert in_test and all(f"of {c} is" not in it.text for c in in_test for it in t.pool)
    assert abs(sum(it.label for it in t.pool) / len(t.pool) - 0.5) < 0.01
    assert len(t.pool) >= 400 and len(t.test) >= 150
    assert [it.text for it in t.pool] == [it.text for it in facts(difficulty="hard").pool]  # seeded


def test_facts_difficulty_changes_the_distractors():
    continent = {cap: cont for _, cap, cont in parse(COUNTRIES)}
    for difficulty, same in (("hard", True), ("easy", False)):
        wrong = [
            it
            for it in facts(difficulty=difficulty).pool
            if it.label == 0 and "capital of" in it.text
        ]
        caps = [it.text.rsplit(" is ", 1)[1].rstrip(".") for it in wrong]
        assert all((continent[c] == it.group) == same for c, it in zip(caps, wrong))


def test_sizes_labels_follow_the_masses():
    t = sizes(min_ratio=10, max_pool=None, max_test=None)
    it = next(i for i in t.pool + t.test if "elephant" in i.text and "mouse" in i.text)
    heavier = "heavier" in it.text
    assert it.label == int(heavier == it.text.lower().startswith("an elephant"))
    assert len(t.pool) < len(sizes(min_ratio=2, max_pool=None).pool)
    with pytest.raises(ConfigError):
        sizes(min_ratio=0.5)
