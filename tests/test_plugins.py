"""Extension from outside: another installed package registers a loop, monitor, task, model
backend and diff dimension through entry points, and the real CLI uses them.

The example plugin (examples/plugin, whose files the README shows verbatim) is really
installed with pip into a folder put on the path of a `driftlab` subprocess; nothing is
faked. A plugin that fails to import or takes a built-in's name is one message naming its
package, no traceback.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomli_w

import driftlab

ROOT = Path(driftlab.__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "plugin"


def install(src: Path, target: Path) -> Path:
    """pip-install the package at `src` into `target` (offline: setuptools from this venv)."""
    build = target.parent / f"{src.name}-build"
    shutil.copytree(src, build)  # pip writes build/ and *.egg-info beside the sources
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index"]
    cmd += ["--no-build-isolation", "--target", str(target), str(build)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return target


def driftlab_cli(site: Path | None, *args: str, cwd: Path | None = None, code: str | None = None):
    """`driftlab ARGS` (or `python -c CODE`) with this checkout and `site` on the path."""
    env = dict(os.environ, DRIFTLAB_QUIET="1", HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *([str(site)] if site else [])])
    argv = [sys.executable, "-c", code] if code else [sys.executable, "-m", "driftlab", *args]
    return subprocess.run(argv, capture_output=True, text=True, env=env, cwd=cwd, timeout=600)


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory):
    """A folder holding the installed example plugin (driftlab-words)."""
    return install(EXAMPLE, tmp_path_factory.mktemp("plugin") / "site")


def listed(stdout: str) -> dict[str, tuple[str, str]]:
    """`driftlab list`'s rows: name -> (kind, package)."""
    rows = {}
    for line in stdout.splitlines():
        cells = [c.strip() for c in re.split(r"[│┃]", line) if c.strip()]
        if len(cells) == 3:
            rows[cells[1]] = (cells[0], cells[2])
    return rows


def test_driftlab_list_shows_the_plugins_items_and_their_package(plugin_site):
    res = driftlab_cli(plugin_site, "list")
    assert res.returncode == 0, res.stderr
    rows = listed(res.stdout)
    assert rows["words"] == ("monitor", "driftlab-words")
    assert rows["greedy"] == ("loop", "driftlab-words")
    assert rows["doubling"] == ("task", "driftlab-words")
    assert rows["cpu"] == ("model backend", "driftlab-words")
    assert rows["exclaim"] == ("diff dimension", "driftlab-words")
    assert rows["capability"] == ("monitor", "driftlab") and rows["lmsi"] == ("loop", "driftlab")

    bare = listed(driftlab_cli(None, "list").stdout)  # without the plugin: none of it
    assert "lmsi" in bare and not {"words", "greedy", "doubling", "cpu", "exclaim"} & set(bare)


def test_a_run_uses_the_plugins_loop_task_and_monitor(plugin_site, tiny_model, tmp_path):
    cfg = {
        "name": "plugged",
        "seed": 1,
        "rounds": 1,
        "model": {"name": str(tiny_model), "batch_size": 16},
        "task": {"name": "doubling", "largest": 40, "train_size": 4, "eval_size": 4},
        "loop": {"method": "greedy", "max_new_tokens": 8},
        "train": {"epochs": 1, "batch_size": 4, "lora_rank": 4},
        "monitors": {
            "words": {"samples": 2, "max_new_tokens": 8},
            "capability": {"samples": 2, "max_new_tokens": 8},
            "diversity": {"samples": 2, "max_new_tokens": 8},
        },
        "guard": {"rules": ["words.mean_words > 1000"]},  # a plugin's metric in a rule
    }
    (tmp_path / "c.toml").write_text(tomli_w.dumps(cfg))
    res = driftlab_cli(plugin_site, "run", "c.toml", "--out", "r", cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "words" in res.stdout  # the monitor's declared column is in the round table
    run = json.loads((tmp_path / "r" / "run.json").read_text())
    assert run["status"] == "completed" and [r["round"] for r in run["rounds"]] == [0, 1]
    for r in run["rounds"]:
        assert 1 <= r["words.mean_words"] <= 8  # 8 new tokens are at most 8 words
        assert 0 <= r["capability.accuracy"] <= 1
    assert 0 <= run["rounds"][1]["loop.answered"] <= 1
    proposals = (tmp_path / "r" / "rounds" / "001" / "proposals.jsonl").read_text().splitlines()
    questions = [json.loads(p) for p in proposals]
    assert len(questions) == 4 and all(q["question"].endswith("doubled?") for q in questions)
    assert (tmp_path / "r" / "rounds" / "001" / "adapter" / "adapter_config.json").exists()
    assert "mean_words" in (tmp_path / "r" / "report.html").read_text()  # the report shows it


def test_a_plugin_monitor_runs_only_where_a_config_names_it(plugin_site, tiny_config):
    code = (
        "from driftlab.config import load_config\n"
        f"print(sorted(load_config({str(tiny_config())!r}).monitor_settings()))"
    )
    res = driftlab_cli(plugin_site, code=code)
    assert res.returncode == 0, res.stderr
    assert "capability" in res.stdout and "words" not in res.stdout


def test_the_plugins_backend_and_dimension_work(plugin_site, tiny_model):
    code = (
        "from driftlab.diff.dimensions import DIMENSIONS\n"
        "from driftlab.models import check_generator, load_generator\n"
        "from driftlab.models.base import SamplingParams\n"
        f"g = load_generator('cpu:{tiny_model}')\n"
        "chat = [{'role': 'user', 'content': 'Hi'}]\n"
        "[[c]] = g.generate([chat], SamplingParams(max_new_tokens=4))\n"
        "print('tokens', c.num_tokens)\n"
        "print('exclaim', DIMENSIONS.get('exclaim').measure('Yes!'))\n"
        "print('defaults', 'exclaim' in DIMENSIONS.defaults())\n"
        "chosen = [d.name for d in DIMENSIONS.select(['default', 'length', 'exclaim'])]\n"
        "print('chosen', chosen == [*DIMENSIONS.defaults(), 'exclaim'])\n"
        "check_generator('cpu:/no/such/folder')\n"
    )
    res = driftlab_cli(plugin_site, code=code)
    assert re.search(r"tokens [1-4]\n", res.stdout), res.stdout + res.stderr
    assert "exclaim 1.0" in res.stdout and "defaults False" in res.stdout
    assert "chosen True" in res.stdout
    assert "cpu:/no/such/folder: no model folder (config.json) there" in res.stderr


def write_plugin(root: Path, name: str, module: str, entry: str) -> Path:
    """A one-module package `name` whose entry point (group = value) is `entry`."""
    pkg = name.replace("-", "_")
    (root / pkg).mkdir(parents=True)
    (root / pkg / "__init__.py").write_text(module)
    group, value = entry.split(" = ", 1)
    (root / "pyproject.toml").write_text(
        f'[project]\nname = "{name}"\nversion = "0.1"\n'
        f'[project.entry-points."{group}"]\n{value}\n'
        f'[tool.setuptools]\npackages = ["{pkg}"]\n'
    )
    return root


@pytest.mark.parametrize(
    ("module", "entry", "config", "message"),
    [
        (  # a plugin that takes a built-in's name
            "from driftlab.monitors.capability import Capability\n",
            'driftlab.monitors = capability = "bad_plugin:Capability"',
            {},  # any run: every built-in monitor is a default, so the plugins are read
            r"plugin package 'bad-plugin' registers the monitor 'capability', which clashes "
            r"with a built-in one; rename its entry point in driftlab.monitors or uninstall",
        ),
        (  # a plugin whose import fails
            "import no_such_dependency\n",
            'driftlab.loops = mine = "bad_plugin:Loop"',
            {"loop.method": "mine"},
            r"plugin package 'bad-plugin' \(driftlab.loops: mine = 'bad_plugin:Loop'\) failed "
            r"to load: ModuleNotFoundError: No module named 'no_such_dependency'",
        ),
        (  # an entry point naming something that is not a task
            "NOT_A_TASK = 3\n",
            'driftlab.tasks = mine = "bad_plugin:NOT_A_TASK"',
            {"task.name": "mine"},
            r"plugin package 'bad-plugin' \(driftlab.tasks: mine = 'bad_plugin:NOT_A_TASK'\) "
            r"does not name a task",
        ),
    ],
)
def test_a_broken_plugin_is_one_message_naming_its_package(
    module, entry, config, message, tmp_path, tiny_config
):
    site = install(write_plugin(tmp_path / "src", "bad-plugin", module, entry), tmp_path / "site")
    run = ["run", str(tiny_config(**config)), "--out", str(tmp_path / "r")]
    for args in (["list"], run):
        res = driftlab_cli(site, *args)
        said = res.stdout + res.stderr
        assert res.returncode == 2, said
        assert "Traceback" not in said and said.count("error:") == 1, said
        assert re.search(message, said), said
    assert not (tmp_path / "r").exists()  # before any work
    # lazily: a lookup that the plugin's registry already holds never reads the plugins
    code = "from driftlab.loops import LOOPS; from driftlab.tasks import TASKS\n"
    code += "print(LOOPS.get('lmsi').__name__, TASKS.get('arithmetic').__name__)"
    res = driftlab_cli(site, code=code)
    assert res.returncode == 0 and res.stdout.split() == ["LMSI", "ArithmeticTask"], res.stderr


def test_the_readme_shows_the_example_plugin_verbatim():
    """Each README block that starts with `# examples/plugin/FILE` is that file, so the code
    the README shows is the code the tests above install and run."""
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```(?:python|toml)\n# (examples/plugin/\S+)\n(.*?)```", readme, re.S)
    shown = {path for path, _ in blocks}
    assert {
        "examples/plugin/pyproject.toml",
        "examples/plugin/driftlab_words/monitor.py",
        "examples/plugin/driftlab_words/loop.py",
        "examples/plugin/driftlab_words/backend.py",
    } <= shown
    for path, body in blocks:
        assert body == (ROOT / path).read_text(), f"README's {path} differs from the file"


def test_the_readme_layout_names_every_module_and_no_other():
    """The "Layout and extending" block: one entry per top-level file or folder (two spaces in,
    continued further in); a folder's entry names each of its modules as FILE.py."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Layout and extending", 1)[1]
    block = section.split("```\ndriftlab/\n", 1)[1].split("```", 1)[0]
    entries: dict[str, str] = {}
    for line in block.splitlines():
        if re.match(r"  \S", line):
            key, _, text = line.strip().partition(" ")
            entries[key] = text
        else:
            entries[key] += " " + line.strip()
    package = ROOT / "driftlab"
    files = sorted(p.relative_to(package) for p in package.rglob("*.py"))
    top = {str(p) for p in files if len(p.parts) == 1 and p.name != "__init__.py"}
    folders = {f"{p.parent.as_posix()}/" for p in files if len(p.parts) > 1}
    assert {k for k in entries if k.endswith(".py")} == top
    assert {k for k in entries if k.endswith("/")} == folders
    for folder in folders:
        have = {p.name for p in (package / folder).glob("*.py")} - {"__init__.py"}
        named = set(re.findall(r"\b(\w+\.py)\b", entries[folder])) - {"__init__.py"}
        assert named == have, f"README layout, {folder}: names {named ^ have} wrongly"
