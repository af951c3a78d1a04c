"""The HTML report: built from a run's artifacts alone, then opened in a real headless Chromium.

The browser is Debian's chromium driven through its own chromedriver (`make test` installs
both); nothing here downloads a browser.
"""

import shutil
import tomllib
from importlib import resources
from pathlib import Path

import pytest
import tomli_w
from selenium.webdriver.support.ui import Select, WebDriverWait
from typer.testing import CliRunner

from driftlab.cli import app
from driftlab.config import load_config
from driftlab.errors import DriftlabError
from driftlab.experiment import run_experiment
from driftlab.guard import Rule
from driftlab.report import detect_kind, write_report
from driftlab.report.figures import rule_thresholds
from driftlab.report.samples import sample_row
from driftlab.store import read_json, write_json

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1000",
]
SCREENSHOT = Path(__file__).resolve().parents[1] / "docs" / "report-screenshot.png"


# ---- a browser, shared by the tests of this module -------------------------------------------
@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"]:
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=opts, service=Service("/usr/bin/chromedriver"))
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def open_report(driver, path: Path) -> list[dict]:
    """Load the page, wait for every figure to be drawn; return the console's errors."""
    driver.get_log("browser")  # drop what earlier pages logged
    driver.get(path.resolve().as_uri())
    WebDriverWait(driver, 30).until(
        lambda d: d.execute_script(
            "return document.readyState === 'complete' && "
            "[...document.querySelectorAll('.plotly-graph-div')]"
            ".every(g => g.querySelector('.main-svg'))"
        )
    )
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def count(driver, css: str) -> int:
    return driver.execute_script("return document.querySelectorAll(arguments[0]).length", css)


def choose(driver, table: str, attr: str, value: str) -> None:
    """Pick `value` in the table's filter on `attr`, as a user would."""
    Select(
        driver.find_element("css selector", f"[data-filter-for={table}][data-attr={attr}]")
    ).select_by_value(value)


def visible_rows(driver, table: str) -> int:
    return driver.execute_script(
        f"return [...document.querySelectorAll('#{table} > tbody > tr')]"
        ".filter(r => r.style.display !== 'none').length"
    )


# ---- runs on the tiny random-weight model ----------------------------------------------------
def write_config(path: Path, cfg: dict) -> Path:
    path.write_text(tomli_w.dumps(cfg))
    return path


def tiny(tiny_model, **sections) -> dict:
    cfg = {
        "name": "tiny",
        "seed": 3,
        "rounds": 2,
        "model": {"name": str(tiny_model), "batch_size": 16},
        "task": {"name": "arithmetic", "train_size": 4, "eval_size": 4},
        "loop": {
            "method": "lmsi",
            "samples": 3,
            "max_new_tokens": 10,
            "formats": ["cot", "direct"],
        },
        "train": {"epochs": 1, "batch_size": 4, "lora_rank": 4},
        "monitors": {
            "capability": {"samples": 2, "max_new_tokens": 10},
            "diversity": {"samples": 2, "max_new_tokens": 10},
        },
    }
    cfg.update(sections)
    return cfg


@pytest.fixture(scope="module")
def lmsi_run(tiny_model, tmp_path_factory):
    """Two LMSI rounds through `driftlab run`; both trip a wire and are rolled back."""
    root = tmp_path_factory.mktemp("lmsi")
    rules = [
        "capability.no_answer_rate >= 0",
        "diversity.distinct_2 < previous * 10",
        "reference_ppl.ppl > 0.5 * baseline",
    ]
    config = write_config(
        root / "config.toml", tiny(tiny_model, guard={"rules": rules, "action": "rollback"})
    )
    res = CliRunner().invoke(app, ["run", str(config), "--out", str(root / "run")])
    assert res.exit_code == 0, res.output
    return root / "run"


def test_run_writes_a_report_that_renders_in_chromium(lmsi_run, browser, tmp_path):
    report = lmsi_run / "report.html"
    assert report.exists()  # written by `driftlab run` itself
    html = report.read_text()
    assert "<script src=" not in html and "<link " not in html  # self-contained: opens offline
    run = read_json(lmsi_run / "run.json")
    metrics = {
        k
        for r in run["rounds"]
        for k, v in r.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    } - {"round", "parent", "head"}

    errors = open_report(browser, report)
    assert errors == []
    assert count(browser, ".fig .main-svg") >= len(metrics)  # one chart per metric, all drawn
    # Baseline and tripwires are drawn where their rules apply.
    names = browser.execute_script(
        "return document.getElementById('fig-capability-no_answer_rate').data.map(t => t.name)"
    )
    assert "round 0 baseline" in names and "tripwire: capability.no_answer_rate >= 0" in names
    assert "not promoted" in names  # both rounds were rolled back
    prev = browser.execute_script(
        "return document.getElementById('fig-diversity-distinct_2').data"
        ".find(t => t.name.startsWith('tripwire')).y"
    )
    assert prev[1:] == pytest.approx(
        rule_thresholds(Rule.parse("diversity.distinct_2 < previous * 10"), run["rounds"])[1:]
    )
    # Findings: the monitors' plus the guard's two rollbacks.
    assert visible_rows(browser, "findings-table") >= 3
    assert "rolled back to round 0" in browser.find_element("id", "findings-table").text
    # Sample browser: every proposal of both rounds, filterable.
    proposals = sum(
        1 for k in (1, 2) for _ in open(lmsi_run / "rounds" / f"{k:03d}" / "proposals.jsonl")
    )
    assert visible_rows(browser, "samples-table") == proposals > 0
    choose(browser, "samples-table", "round", "2")
    shown = visible_rows(browser, "samples-table")
    assert 0 < shown < proposals
    assert (
        browser.find_element("id", "samples-table-count").text
        == f"{shown} of {proposals} rows shown"
    )
    # Each figure links to the artifact it came from, relatively, and the file is there.
    links = browser.execute_script(
        "return [...document.querySelectorAll('.fig .src a')].map(a => a.getAttribute('href'))"
    )
    assert links and all(not h.startswith(("/", "http")) and (lmsi_run / h).exists() for h in links)

    browser.execute_script("window.scrollTo(0, 0)")
    assert browser.save_screenshot(str(tmp_path / "report.png"))
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_cli_report_rebuilds_from_artifacts_alone(lmsi_run, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(lmsi_run, copy, ignore=shutil.ignore_patterns("adapter", "report.html"))
    res = CliRunner().invoke(app, ["report", str(copy)])
    assert res.exit_code == 0, res.output
    html = (copy / "report.html").read_text()
    assert "rolled back" in html and 'id="fig-capability-accuracy"' in html


def test_halted_and_still_running_runs_render(lmsi_run, tmp_path, browser):
    halted, running = tmp_path / "halted", tmp_path / "running"
    for d in (halted, running):
        shutil.copytree(lmsi_run, d, ignore=shutil.ignore_patterns("adapter", "report.html"))
    run = read_json(halted / "run.json")
    hit = run["rollbacks"][0]
    write_json(
        halted / "run.json",
        {
            **run,
            "status": "halted",
            "rollbacks": [],
            "rounds": run["rounds"][:2],
            "halt": {
                "round": 1,
                "action": "halt",
                "hits": hit["hits"],
                "final_round": 0,
                "message": hit["message"],
            },
        },
    )
    shutil.rmtree(halted / "rounds" / "002")
    html = write_report(halted).read_text()
    assert "halted at round 1" in html and "the final model is round 0" in html

    # Killed during round 2's measurement: run.json knows rounds 0-1, round 2 has proposals only.
    write_json(running / "run.json", {**run, "status": "running", "rounds": run["rounds"][:2]})
    (running / "rounds" / "002" / "metrics.json").unlink()
    report = write_report(running)
    assert "still running: 1 of 2 rounds finished" in report.read_text()
    assert open_report(browser, report) == []
    assert "in progress" in browser.find_element("id", "rounds-table").text
    choose(browser, "samples-table", "round", "2")
    assert visible_rows(browser, "samples-table") > 0  # the partial round's proposals are browsable


def test_a_failed_run_still_gets_its_report(tiny_model, tmp_path, monkeypatch):
    from driftlab.experiment import Experiment

    def broken(self, k, rows, *args):
        raise RuntimeError("disk full")

    monkeypatch.setattr(Experiment, "_train", broken)
    config = write_config(tmp_path / "config.toml", tiny(tiny_model, rounds=1))
    res = CliRunner().invoke(app, ["run", str(config), "--out", str(tmp_path / "run")])
    assert isinstance(res.exception, RuntimeError)
    html = (tmp_path / "run" / "report.html").read_text()
    assert "failed after round 0: RuntimeError: disk full" in html
    assert (
        "in progress" in html
    )  # round 1 proposed before training failed: its samples are browsable


# ---- each preset's loop, shrunk onto the tiny model ------------------------------------------
TINY_TASK = {"train_size": 2, "eval_size": 2}
CASES = {  # case: (preset, what to shrink)
    "quickstart": ("quickstart", {"loop": {"samples": 3, "max_new_tokens": 10}, "task": TINY_TASK}),
    "self-rewarding-quick": (
        "self-rewarding-quick",
        {"loop": {"candidates": 2, "max_new_tokens": 8}, "task": TINY_TASK},
    ),
    "cai-quick": (
        "cai-quick",
        {
            "loop": {"max_new_tokens": 8, "critique_max_new_tokens": 6, "drop_truncated": False},
            "task": TINY_TASK,
        },
    ),
    "cai-quick-rl": ("cai-quick", {"loop": {"mode": "rl", "max_new_tokens": 8}, "task": TINY_TASK}),
    "red-team-quick": (
        "red-team-quick",
        {
            "loop": {
                "zero_shot": 2,
                "few_shot": 2,
                "shots": 2,
                "red_max_new_tokens": 12,
                "max_new_tokens": 8,
                "critique_max_new_tokens": 6,
                "classifier": "tests.test_red_team:flag_everything",
                "require_clean_revision": False,
            },
            "task": TINY_TASK,
        },
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_preset_reports_build_and_render(case, tiny_model, tmp_path, browser):
    preset, shrink = CASES[case]
    cfg = tomllib.loads((resources.files("driftlab") / "presets" / f"{preset}.toml").read_text())
    cfg.update(
        rounds=1,
        model={"name": str(tiny_model), "batch_size": 16},
        train={**cfg["train"], "batch_size": 2, "lora_rank": 4, "epochs": 1},
    )
    for section, values in shrink.items():
        cfg[section] = {**cfg[section], **values}
    for mon in cfg.get("monitors", {}).values():
        mon.update({k: v for k, v in {"samples": 2, "max_new_tokens": 8}.items() if k in mon})
    run_experiment(load_config(write_config(tmp_path / "c.toml", cfg)), tmp_path / "run")
    report = write_report(tmp_path / "run")
    assert open_report(browser, report) == []
    assert count(browser, ".fig .main-svg") > 5
    proposals = sum(1 for _ in open(tmp_path / "run" / "rounds" / "001" / "proposals.jsonl"))
    assert visible_rows(browser, "samples-table") == proposals > 0


# ---- units -------------------------------------------------------------------------------------
def test_thresholds_follow_the_guards_own_arithmetic():
    rounds = [
        {"round": 0, "m": 1.0},
        {"round": 1, "parent": 0, "m": 2.0},
        {"round": 2, "parent": 0, "m": 3.0},
        {"round": 3, "parent": 2, "m": 4.0},
    ]
    assert rule_thresholds(Rule.parse("m < baseline - 0.5"), rounds) == [None, 0.5, 0.5, 0.5]
    # `previous` is the round the model came from (round 2's parent is 0 after a rollback), not k-1.
    assert rule_thresholds(Rule.parse("m > previous * 1.5"), rounds) == [None, 1.5, 1.5, 4.5]
    assert rule_thresholds(Rule.parse("m > 0.25"), rounds) == [None, 0.25, 0.25, 0.25]


def test_sample_rows_keep_every_field_a_loop_recorded():
    judged = sample_row(
        1,
        {
            "kind": "candidate",
            "question": "Q?",
            "text": "A.",
            "mean_score": 3.5,
            "judgements": [
                {"raw": "Score: 4", "score": 4, "error": None},
                {"raw": "hmm", "score": None, "error": "no_score"},
            ],
            "role": "chosen",
            "selected": True,
            "reason": "kept",
            "custom_field": 7,
        },
    )
    assert (judged.prompt, judged.text, judged.selected, judged.reason) == (
        "Q?",
        "A.",
        True,
        "kept",
    )
    assert ("judge mean", "3.5") in judged.evidence and ("custom field", "7") in judged.evidence
    assert [t for _, t in judged.details] == ["Score: 4", "hmm"]
    vote = sample_row(
        1,
        {
            "question": "Q",
            "text": "x",
            "answer": "3",
            "majority": "4",
            "vote_share": 0.6,
            "selected": False,
            "reason": "selected",
        },
    )
    assert vote.reason == "question kept; answer differs from the majority"


def test_detect_kind_and_a_clear_error_for_other_directories(tmp_path):
    for kind, marker, doc in (
        ("run", "run.json", {}),
        ("diff", "findings.json", {"schema": "driftlab.diff/1"}),
        ("w2s", "results.json", {"schema": "driftlab.w2s/1"}),
    ):
        write_json(tmp_path / kind / marker, doc)
        assert detect_kind(tmp_path / kind) == kind
    write_json(tmp_path / "bench" / "results.json", {"settings": {}})  # someone else's results.json
    for nothing in (tmp_path, tmp_path / "bench"):
        with pytest.raises(DriftlabError, match="nothing to report on"):
            detect_kind(nothing)
    res = CliRunner().invoke(app, ["report", str(tmp_path / "missing")])
    assert res.exit_code != 0


# ---- diff and weak-to-strong directories, written to their documented schemas ----------------
def ci(mean, half=0.05):
    return {"mean": mean, "ci": [mean - half, mean + half]}


def w2s_results() -> dict:
    """A small results.json after docs/artifacts-w2s.md: a 3-rung ladder, two losses."""
    ladder = [
        ("minilm-l6", 22_700_000, "encoder"),
        ("smollm2-135m", 134_500_000, "decoder"),
        ("gemma3-270m", 268_100_000, "decoder"),
    ]
    models = [
        {
            "name": n,
            "rank": i,
            "kind": k,
            "params": p,
            "non_embedding_params": p // 2,
            "pooling": "last",
            "hidden_size": 64 * (i + 1),
            "layers": 6 * (i + 1),
        }
        for i, (n, p, k) in enumerate(ladder)
    ]
    rows = []
    for i, (weak, *_) in enumerate(ladder):
        for j, (strong, *_) in enumerate(ladder[i:], start=i):
            for loss in ("xent", "confidence"):
                w = 0.6 + 0.05 * i
                c = w if i == j else 0.7 + 0.08 * j  # PGR is undefined (null) when ceiling == weak
                s = w + (c - w) * (0.3 if loss == "xent" else 0.5)
                pgr = None if c == w else (s - w) / (c - w)
                rows.append(
                    {
                        "task": "facts",
                        "variant": "baseline",
                        "weak": weak,
                        "strong": strong,
                        "chain": [weak, strong],
                        "loss": loss,
                        "seeds": [0, 1],
                        "n_test": 200,
                        "weak_acc": ci(w),
                        "student_acc": ci(s),
                        "ceiling_acc": ci(c),
                        "pgr": {"mean": pgr, "ci": None if pgr is None else [pgr - 0.2, pgr + 0.2]},
                        "weak_label_acc_on_b": w,
                        "agreement": {
                            k: ci(0.8) for k in ("all", "supervisor_right", "supervisor_wrong")
                        },
                        "early_stopping": {
                            "last": {"acc": s, "pgr": pgr, "epoch": 2.0},
                            "oracle": {"acc": s + 0.01, "pgr": pgr, "epoch": 1.0},
                        },
                        "curve": [{"epoch": 1.0, "test_acc": s}],
                        "units": {},
                    }
                )
    truth = [
        {"task": "facts", "variant": "baseline", "model": n, "split": sp, "acc": ci(0.7 + 0.08 * i)}
        for i, (n, *_) in enumerate(ladder)
        for sp in ("a", "b")
    ]
    return {
        "schema": "driftlab.w2s/1",
        "name": "w2s-fixture",
        "created": "2026-11-23T17:00:00+0000",
        "wall_seconds": 12.5,
        "versions": {"python": "3.11"},
        "config": {},
        "models": models,
        "tasks": [
            {
                "name": "facts",
                "source": "generated",
                "difficulty": "capitals",
                "n_a": 100,
                "n_b": 100,
                "n_test": 200,
                "positive_rate": 0.5,
            }
        ],
        "rows": rows,
        "models_on_truth": truth,
        "prompting": [
            {
                "task": "facts",
                "model": "gemma3-270m",
                "mode": "fewshot_weak",
                "supervisor": "minilm-l6",
                "shots": 5,
                "acc": ci(0.66),
            }
        ],
        "bootstrap_ci": {"resamples": 2000, "level": 0.95, "over": ["seeds", "test items"]},
    }


def test_w2s_report_plots_accuracy_by_size_and_pgr_with_cis(tmp_path, browser):
    write_json(tmp_path / "results.json", w2s_results())
    report = write_report(tmp_path)
    assert open_report(browser, report) == []
    acc = browser.execute_script(
        "return document.getElementById('fig-w2s-acc-facts').data.map(t => [t.name, t.x.length])"
    )
    assert ["supervised by minilm-l6 (xent)", 3] in acc and ["trained on truth (ceiling)", 3] in acc
    bars = browser.execute_script(
        "return document.getElementById('fig-w2s-pgr-facts').data"
        ".map(t => [t.type, t.name, t.y.length,"
        "           t.error_y.array.filter(v => v !== null).length])"
    )
    # 6 (weak, strong) pairs per loss; the 3 with the supervisor as its own student have PGR null.
    assert bars == [["bar", "xent", 6, 3], ["bar", "confidence", 6, 3]]
    assert visible_rows(browser, "w2s-table") == 12
    choose(browser, "w2s-table", "loss", "xent")
    assert visible_rows(browser, "w2s-table") == 6


def diff_findings() -> dict:
    """A small findings.json (docs/artifacts-diff.md): 3 clusters, a validated finding, a guess."""
    clusters = [
        {
            "id": 0,
            "n_a": 2,
            "n_b": 9,
            "share_a": 0.1,
            "share_b": 0.45,
            "diff": 0.35,
            "cohens_h": 0.77,
            "log2_ratio": 2.0,
            "p": 1e-3,
            "q": 3e-3,
            "significant": True,
            "more_in": "b",
            "categories": {"advice": 11},
            "examples_a": ["A calm note."],
            "examples_b": ["The ocean! Whales!"],
        },
        {
            "id": 1,
            "n_a": 10,
            "n_b": 3,
            "share_a": 0.5,
            "share_b": 0.15,
            "diff": -0.35,
            "cohens_h": -0.76,
            "log2_ratio": -1.7,
            "p": 2e-3,
            "q": 3e-3,
            "significant": True,
            "more_in": "a",
            "categories": {"facts": 13},
            "examples_a": ["Paris is the capital."],
            "examples_b": ["Paris."],
        },
        {
            "id": 2,
            "n_a": 8,
            "n_b": 8,
            "share_a": 0.4,
            "share_b": 0.4,
            "diff": 0.0,
            "cohens_h": 0.0,
            "log2_ratio": 0.0,
            "p": 1.0,
            "q": 1.0,
            "significant": False,
            "more_in": "b",
            "categories": {},
            "examples_a": [],
            "examples_b": [],
        },
    ]

    def finding(rank, c, label, status, auc, intent):
        return {
            "rank": rank,
            "cluster": c["id"],
            "more_in": c["more_in"],
            "label": label,
            "statement": f"Model {c['more_in'].upper()}'s texts do this more: {label}",
            "status": status,
            "candidates": [{"label": label, "auc": auc, "p": 0.01}],
            "effect": {k: c[k] for k in ("diff", "cohens_h", "q", "n_a", "n_b")},
            "validation": {
                "auc": auc,
                "p": 0.01,
                "q": 0.02,
                "n_pairs": 12,
                "n_prompts": 12,
                "position_consistency": 0.8,
            },
            "score": 0.3,
            "intent": intent,
            "intent_p_yes": 0.2,
            "examples_a": c["examples_a"],
            "examples_b": c["examples_b"],
        }

    return {
        "schema": "driftlab.diff/1",
        "model_a": "smollm2-135m-instruct",
        "model_b": "runs/x@2",
        "intent": "answer more accurately",
        "settings": {"samples": 2, "seed": 0},
        "n_prompts": 10,
        "n_texts": {"a": 20, "b": 20},
        "split": {"label_prompts": 5, "heldout_prompts": 5},
        "clustering": {"method": "kmeans", "k": 3, "criterion": "silhouette", "scores": {"3": 0.1}},
        "clusters": clusters,
        "findings": [
            finding(1, clusters[0], "mention the ocean", "validated", 0.81, "unexpected"),
            finding(2, clusters[1], "state full sentences", "unvalidated", 0.52, "intended"),
        ],
        "baseline_classifier": {"tfidf_auc": 0.7, "embedding_auc": 0.66, "folds": 5},
        "characteristic": {
            "b": [{"prompt": "p", "text": "Whales!", "model": "b", "logratio": 3.0, "tokens": 2}],
            "a": [],
            "mean_logratio": {"a": -0.5, "b": 1.0},
        },
        "timings": {"embed": 1.0},
    }


def diff_map(doc: dict) -> dict:
    points = [
        {
            "x": float(i % 7),
            "y": float(c["id"]),
            "model": who,
            "cluster": c["id"],
            "prompt_id": f"p{i}",
            "category": "advice",
            "text": f"text {i}",
        }
        for c in doc["clusters"]
        for who in ("a", "b")
        for i in range(c[f"n_{who}"])
    ]
    return {
        "schema": "driftlab.diff/1",
        "method": "pca",
        "explained_variance": [0.3, 0.2],
        "points": points,
    }


def test_diff_report_ranks_findings_with_examples_and_maps_the_texts(tmp_path, browser):
    doc = diff_findings()
    write_json(tmp_path / "findings.json", doc)
    write_json(tmp_path / "map.json", diff_map(doc))
    report = write_report(tmp_path)
    assert open_report(browser, report) == []
    rows = browser.find_elements("css selector", "#diff-findings > tbody > tr")
    assert [r.find_element("css selector", "td").text for r in rows] == ["1", "2"]
    first = rows[0].text
    for shown in ("mention the ocean", "validated", "10.0% → 45.0%", "0.77", "0.81", "unexpected"):
        assert shown in first
    rows[0].find_element("css selector", "summary").click()  # expands to both models' example texts
    assert "The ocean! Whales!" in rows[0].text and "A calm note." in rows[0].text
    traces = browser.execute_script(
        "return document.getElementById('fig-diff-map').data.map(t => [t.name, t.x.length])"
    )
    assert traces == [["A: smollm2-135m-instruct", 20], ["B: runs/x@2", 20]]
    choose(browser, "diff-findings", "status", "validated")
    assert visible_rows(browser, "diff-findings") == 1


def test_a_runs_diff_monitor_findings_show_per_round(lmsi_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(lmsi_run, run, ignore=shutil.ignore_patterns("adapter", "report.html"))
    metrics = read_json(run / "rounds" / "001" / "metrics.json")
    doc = diff_findings()
    metrics["monitors"]["diff"] = {
        "metrics": {"findings_validated": 1.0},
        "findings": [],
        "records": [],
        "tables": {"findings": doc["findings"], "clusters": doc["clusters"]},
    }
    write_json(run / "rounds" / "001" / "metrics.json", metrics)
    html = write_report(run).read_text()
    assert 'id="behavior-1"' in html and "mention the ocean" in html and "10.0% → 45.0%" in html
