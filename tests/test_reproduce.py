"""The README's figures are the files `make figures` wrote, not hand-typed numbers."""

from __future__ import annotations

import json

from driftlab import reproduce

README = reproduce.ROOT / "README.md"


def test_every_readme_figure_block_is_its_file_verbatim():
    blocks = reproduce.readme_blocks(README.read_text())
    assert blocks, "the README has no figure markers"
    for name, text in blocks.items():
        path = reproduce.FIGURES_DIR / f"{name}.txt"
        assert path.exists(), f"README shows figure {name!r} but {path} does not exist"
        assert text == path.read_text(), f"README's {name!r} block differs from {path}"


def test_every_figure_file_is_shown_and_says_what_made_it():
    shown = set(reproduce.readme_blocks(README.read_text()))
    for path in reproduce.FIGURES_DIR.glob("*.txt"):
        assert path.stem in shown, f"{path.name} is not shown in the README"
        assert path.stem in reproduce.FIGURES, f"{path.name} has no figure that makes it"
        record = json.loads(path.with_suffix(".json").read_text())
        prov = record["provenance"]
        assert prov["commit"] and prov["versions"]["torch"] and prov["machine"]["cpus"]
        assert record["command"] and record["wall_s"] >= 0  # 0: read from a finished run


def test_a_hand_edited_number_is_caught():
    readme = README.read_text()
    name, text = next(iter(reproduce.readme_blocks(readme).items()))
    digit = next(c for c in text if c.isdigit())
    edited = readme.replace(text, text.replace(digit, str((int(digit) + 1) % 10), 1), 1)
    on_disk = (reproduce.FIGURES_DIR / f"{name}.txt").read_text()
    assert reproduce.readme_blocks(edited)[name] != on_disk


def test_write_records_provenance_and_replaces_atomically(tmp_path, monkeypatch):
    monkeypatch.setitem(
        reproduce.FIGURES,
        "t",
        reproduce.Figure("t", "a test", 0, True, lambda: reproduce.Made("", {}, "")),
    )
    made = reproduce.Made("a 1\nb 2\n", {"x": 1}, "cmd")
    reproduce.write("t", made, 1.5, out=tmp_path)
    reproduce.write("t", reproduce.Made("a 3\n", {"x": 2}, "cmd"), 2.0, out=tmp_path)
    assert (tmp_path / "t.txt").read_text() == "a 3\n"
    record = json.loads((tmp_path / "t.json").read_text())
    assert record["raw"] == {"x": 2} and record["wall_s"] == 2.0
    assert len(record["provenance"]["commit"]) == 40
    assert not list(tmp_path.glob("*.tmp"))


def test_plain_table_is_the_round_table_without_boxes():
    run = {
        "name": "n",
        "rounds": [
            {"round": 0, "status": "baseline", "capability.accuracy": 0.156},
            {"round": 1, "status": "trained", "capability.accuracy": 0.3125},
        ],
    }
    text = reproduce.plain_table(run)
    lines = text.splitlines()
    assert lines[0].split() == ["round", "status", "selected", "acc"]
    assert lines[1].split() == ["0", "baseline", "-", "15.6%"]
    assert lines[2].split() == ["1", "trained", "-", "31.2%"]
    assert not any(ch in text for ch in "│─┃━")


def test_unknown_figure_is_one_message():
    from typer.testing import CliRunner

    result = CliRunner().invoke(reproduce.app, ["--only", "nope"])
    assert result.exit_code == 2
    assert "unknown figure(s): nope" in result.output


def test_list_names_every_figure():
    from typer.testing import CliRunner

    result = CliRunner().invoke(reproduce.app, ["--list"])
    assert result.exit_code == 0
    assert [line.split()[0] for line in result.output.splitlines()] == list(reproduce.FIGURES)
