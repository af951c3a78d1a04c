"""Human review end to end, in headless Chromium: pause, review in the browser, resume, train.

A quick LMSI run on the tiny model pauses after proposing; `driftlab review` serves the run
(a real subprocess on a free loopback port); one reviewer rejects and edits examples in one
browser while a second reviewer, in another browser, decides one and overrules one; the first
browser is closed and a fresh one finishes the review; the resumed run must train on exactly
the accepted rows with the edit applied. The browser is Debian's chromium through its own
chromedriver (`make test` installs both): no tool downloads a browser.
"""

import contextlib
import json
import re
import socket
import subprocess
import sys
import time
import urllib.request

from driftlab import cli
from driftlab.experiment import run_experiment
from driftlab.review import review_stats
from driftlab.store import read_json, read_jsonl

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1100,900",
]
EDIT = "Edited by a person: 19 apples in all. The answer is 19."


@contextlib.contextmanager
def chromium(profile):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for flag in [*FLAGS, f"--user-data-dir={profile}"]:
        opts.add_argument(flag)
    driver = webdriver.Chrome(options=opts, service=Service("/usr/bin/chromedriver"))
    try:
        yield driver
    finally:
        driver.quit()


@contextlib.contextmanager
def review_server(run_dir, reviewer):
    """`driftlab review RUN` on a free loopback port, stopped (and reaped) at the end.

    Yields the URL it printed, which carries the launch's token (`.../?token=...`)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "driftlab",
            "review",
            str(run_dir),
            "--port",
            str(port),
            "--reviewer",
            reviewer,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    try:
        said = ""
        while "?token=" not in said:
            line = proc.stdout.readline()
            assert line, f"review server exited: {said}"
            said += line
        found = re.search(r"http://\S+\?token=\S+", said)
        assert found is not None
        url = found[0]
        assert url.startswith(f"http://127.0.0.1:{port}/?token=")
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, f"review server exited: {proc.stdout.read()}"
            with contextlib.suppress(OSError):
                urllib.request.urlopen(url, timeout=2)
                break
            assert time.monotonic() < deadline, "review server did not start"
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()


def open_page(driver, url):
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    WebDriverWait(driver, 20).until(
        lambda d: d.execute_script("return document.body.dataset.ready") == "1"
    )


def card(driver, i):
    return driver.find_element("id", f"ex-{i}")


def click(driver, i, action):
    """Press a button on example i and wait until the server confirms the save."""
    from selenium.webdriver.support.ui import WebDriverWait

    c = card(driver, i)
    c.find_element("css selector", f"button.{action}").click()
    WebDriverWait(driver, 10).until(
        lambda d: card(d, i).find_element("css selector", ".saved").text.startswith("saved:")
    )


def badge(driver, i):
    return card(driver, i).find_element("css selector", ".decision").text


def test_review_in_the_browser_then_resume_trains_on_exactly_the_accepted_rows(
    tiny_config, tmp_path, capsys
):
    from selenium.webdriver.support.ui import WebDriverWait

    run_dir = tmp_path / "run"
    cfg = tiny_config(
        **{
            "rounds": 1,
            "task.train_size": 8,
            "review.enabled": True,
            "review.critique_max_new_tokens": 12,
        }
    )
    cli.app(["run", str(cfg), "--out", str(run_dir)], standalone_mode=False)
    said = " ".join(capsys.readouterr().out.split())
    assert "paused for review" in said and f"driftlab review {run_dir}" in said
    run = read_json(run_dir / "run.json")
    assert run["status"] == "awaiting_review" and run["review"]["round"] == 1
    rd = run_dir / "rounds" / "001"
    proposed = read_jsonl(rd / "train.jsonl")
    assert len(proposed) >= 5 and not (rd / "adapter").exists()  # paused before training
    critiques = (rd / "critiques.jsonl").read_bytes()
    assert len(read_jsonl(rd / "critiques.jsonl")) == len(proposed)  # with the round's own model
    again = run_experiment(
        None, run_dir, resume=True
    )  # resumed before anyone reviewed: still paused
    assert again["status"] == "awaiting_review" and not (rd / "adapter").exists()
    assert (rd / "critiques.jsonl").read_bytes() == critiques and read_jsonl(
        rd / "train.jsonl"
    ) == proposed

    with review_server(run_dir, "alice") as url:
        with chromium(tmp_path / "alice") as alice, chromium(tmp_path / "bob") as bob:
            open_page(alice, url)
            open_page(bob, url + "&reviewer=bob")
            assert len(alice.find_elements("css selector", "section.card")) == len(proposed)
            shown = card(alice, 0).find_element("css selector", "pre.target")
            assert (
                alice.execute_script("return arguments[0].textContent", shown)
                == proposed[0]["completion"][-1]["content"]
            )  # model text shown as text, exactly
            assert "votes over 3 samples" in card(alice, 0).text.lower()
            click(alice, 0, "reject")
            click(alice, 2, "reject")
            card(alice, 1).find_element("css selector", "button.edit").click()
            area = card(alice, 1).find_element("css selector", "textarea")
            area.clear()
            area.send_keys(EDIT)
            click(alice, 1, "save-edit")
            click(bob, 3, "reject")  # the second reviewer decides one
            click(bob, 2, "accept")  # and overrules alice on another: the latest decision wins
            for i in range(4, len(proposed)):
                click(alice, i, "accept")
            # Alice's page shows bob's decisions (it polls) and that they disagree on #2.
            WebDriverWait(alice, 10).until(lambda d: badge(d, 2) == "accept (bob)")
            assert card(alice, 2).find_element("css selector", ".conflict").is_displayed()
            assert badge(alice, 3) == "reject (bob)"
        # Both browsers are closed. A fresh one sees every decision, and finishes the review.
        with chromium(tmp_path / "carol") as carol:
            open_page(carol, url)
            assert [badge(carol, i) for i in range(4)] == [
                "reject (alice)",
                "edit (alice)",
                "accept (bob)",
                "reject (bob)",
            ]
            assert "1 conflicts" in carol.find_element("id", "counts").text
            carol.find_element("id", "finish").click()
            WebDriverWait(carol, 10).until(
                lambda d: d.find_element("id", "finished").is_displayed()
            )
            assert "driftlab run --resume" in carol.find_element("id", "finished").text

    accepted = [i for i in range(len(proposed)) if i not in (0, 3)]
    expected = [proposed[i] for i in accepted]
    expected[0] = {**proposed[1], "completion": [{"role": "assistant", "content": EDIT}]}
    result = run_experiment(None, run_dir, resume=True)
    assert result["status"] == "completed"
    assert read_jsonl(rd / "train.jsonl") == expected  # exactly the accepted set, the edit applied
    assert read_jsonl(rd / "train.proposed.jsonl") == proposed  # the loop's rows are kept
    assert (rd / "adapter" / "adapter_model.safetensors").exists()
    summary = result["rounds"][1]
    assert (summary["review.rejected"], summary["review.edited"], summary["review.accepted"]) == (
        2,
        1,
        len(proposed) - 3,
    )
    assert summary["review.reviewers"] == 2 and summary["review.conflicts"] == 1
    stats = review_stats(run_dir)[1]
    assert stats["reviewers"] == ["alice", "bob"] and stats["trained"] == len(expected)
    kinds = {proposed[i]["format"] for i in (0, 3)}
    assert sum(stats["by_kind"][k]["rejected"] for k in kinds) == 2
    assert json.loads((rd / "review.json").read_text())["finished"]["reviewer"] == "alice"
