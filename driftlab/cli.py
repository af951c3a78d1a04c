"""The driftlab command line. User errors print one message and exit 2, never a traceback."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from driftlab.errors import DriftlabError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Run self-improvement loops on language models and supervise every round.",
)
out = Console(width=None if sys.stdout.isatty() else 140)  # tables stay whole in logs
err = Console(stderr=True)


@app.command()
def run(
    config: Annotated[Path | None, typer.Argument(help="experiment config (TOML)")] = None,
    preset: Annotated[str | None, typer.Option(help="a built-in config, e.g. quickstart")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="run directory")] = None,
    rounds: Annotated[int | None, typer.Option(min=0, help="override the number of rounds")] = None,
    resume: Annotated[
        bool, typer.Option(help="continue the run in --out where it stopped")
    ] = False,
) -> None:
    """Run a self-improvement loop, measuring every round against round 0."""
    from driftlab.config import load_config

    if resume:
        if out_dir is None:
            raise DriftlabError("--resume needs --out DIR, the run to continue")
        cfg = None
    else:
        if (config is None) == (preset is None):
            raise DriftlabError("give a CONFIG file or --preset NAME (one of them)")
        cfg = load_config(config, preset)
        out_dir = out_dir or Path("runs") / cfg.name
    from driftlab.experiment import run_experiment  # torch, transformers: after the checks
    from driftlab.store import DirectoryBusy
    from driftlab.summary import round_table

    try:
        result = run_experiment(cfg, out_dir, resume=resume, rounds=rounds)
    except DirectoryBusy:
        raise  # the run belongs to another process: write nothing, not even its report
    except BaseException:
        _write_report(out_dir, "run.json")  # halted and failed runs get their report too
        raise
    _write_report(out_dir, "run.json")
    out.print(round_table(result))
    for event in result.get("rollbacks") or []:
        out.print(
            f"[yellow]rolled back:[/] {escape(event['message'])}; "
            f"went on from round {event['restored_round']}"
        )
    if result.get("halt"):
        h = result["halt"]
        out.print(
            f"[red]halted:[/] {escape(h['message'])}. Round {h['round']} was not promoted; "
            f"the final model is round {h['final_round']}'s."
        )
    if result.get("status") == "awaiting_review":
        r = result["review"]
        out.print(
            f"[yellow]paused for review:[/] round {r['round']} proposed {r['examples']} "
            f"training examples ({r['decided']} decided so far). Review them with\n"
            f"  driftlab review {out_dir}\nthen finish the review and train on what was "
            f"accepted with\n  driftlab run --resume --out {out_dir}"
        )
    out.print(f"artifacts: {out_dir}")


def _write_report(out_dir: Path, marker: str) -> None:
    """Write DIR/report.html once `marker` exists; a report that fails must not hide how the
    work ended."""
    from driftlab.report import write_report

    if not (out_dir / marker).exists():
        return
    try:
        err.print(f"report: {write_report(out_dir)}", highlight=False)
    except Exception as e:  # noqa: BLE001
        why = escape(f"{type(e).__name__}: {e}")
        err.print(f"[yellow]report not written:[/] {why}", highlight=False)


@app.command()
def report(
    directory: Annotated[Path, typer.Argument(help="a run, diff or w2s directory")],
) -> None:
    """Rebuild DIR/report.html (self-contained, opens offline) from the stored artifacts alone."""
    from driftlab.report import write_report

    out.print(f"report: {write_report(directory)}")


@app.command()
def models() -> None:
    """List the built-in offline models and whether each is installed."""
    from driftlab.models.builtin import BUILTIN_MODELS

    table = Table(title="built-in models (any hub id or local path also works)")
    for col in ("name", "kind", "installed", "description"):
        table.add_column(col)
    for m in BUILTIN_MODELS.values():
        table.add_row(m.name, m.kind, "yes" if m.installed() else f"no: {m.install}", m.description)
    out.print(table)


@app.command()
def diff(
    model_a: Annotated[
        str,
        typer.Argument(
            help="model A: built-in name, hub id, path, runs/NAME@ROUND, "
            "or a checkpoint folder (full weights or PEFT adapter)"
        ),
    ],
    model_b: Annotated[str, typer.Argument(help="model B, the same kinds")],
    out_dir: Annotated[Path, typer.Option("--out", help="output folder (also the step cache)")],
    prompts: Annotated[
        Path | None, typer.Option(help="JSONL of prompts (default: the shipped set)")
    ] = None,
    samples: Annotated[int, typer.Option(min=1, help="samples per prompt per model")] = 1,
    max_prompts: Annotated[
        int | None, typer.Option(min=2, help="a seeded subset of the prompts")
    ] = None,
    max_new_tokens: Annotated[int, typer.Option(min=1)] = 96,
    intent: Annotated[str | None, typer.Option(help="what the fine-tune was meant to do")] = None,
    cluster: Annotated[str, typer.Option(help="kmeans (k by silhouette) or hdbscan")] = "kmeans",
    labeler: Annotated[
        str, typer.Option(help="model spec that writes labels")
    ] = "smollm2-135m-instruct",
    judge: Annotated[
        str,
        typer.Option(help="validates labels: 'embedding' (offline default) or an LM's model spec"),
    ] = "embedding",
    alpha: Annotated[float, typer.Option(min=0.0, max=1.0)] = 0.05,
    seed: Annotated[int, typer.Option()] = 0,
    amplify: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="propose from B amplified away from A: logits_B + x (logits_B - logits_A) "
            "(models sharing a tokenizer); validation stays on B's ordinary samples",
        ),
    ] = 0.0,
    dimensions: Annotated[
        str | None,
        typer.Option(
            help="comma-separated named dimensions to test (default: the built-ins and "
            "files'; 'default,NAME': those plus a plugin's NAME; 'none': off)"
        ),
    ] = None,
    dimensions_file: Annotated[
        list[Path] | None,
        typer.Option(help="a Python file registering more dimensions (repeatable)"),
    ] = None,
) -> None:
    """Find, name and validate what changed between two models (writes DIR/findings.json)."""
    from pydantic import ValidationError

    from driftlab.diff import DiffSettings, run_diff
    from driftlab.diff.sampling import load_prompts
    from driftlab.diff.table import findings_table, verdict
    from driftlab.models.spec import check_model

    try:
        settings = DiffSettings(
            prompts=str(prompts) if prompts else None,
            samples=samples,
            max_prompts=max_prompts,
            max_new_tokens=max_new_tokens,
            intent=intent,
            cluster_method=cluster,
            labeler=labeler,
            judge=judge,
            alpha=alpha,
            seed=seed,
            amplify=amplify,
            dimensions=None
            if dimensions is None
            else [d.strip() for d in dimensions.split(",") if d.strip() and d.strip() != "none"],
            dimension_files=[str(p) for p in dimensions_file or []],
        )
    except ValidationError as e:
        first = e.errors()[0]
        raise DriftlabError(f"diff: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    load_prompts(settings.prompts)  # every input checked before model A's first sample
    from driftlab.diff.dimensions import DIMENSIONS, load_files

    load_files(settings.dimension_files)
    DIMENSIONS.select(settings.dimensions)
    if amplify > 0 and any(m.startswith(("openai:", "vllm:")) for m in (model_a, model_b)):
        raise DriftlabError("--amplify needs two local transformers models sharing a tokenizer")
    for where, spec in {"model A": model_a, "model B": model_b, **settings.model_specs()}.items():
        try:
            check_model(spec)
        except DriftlabError as e:
            raise DriftlabError(f"{where}: {e}") from None
    doc = run_diff(model_a, model_b, settings, out_dir)
    out.print(findings_table(doc))
    out.print(verdict(doc))
    _write_report(out_dir, "findings.json")
    out.print(f"artifacts: {out_dir}/findings.json, map.json, map.svg")


@app.command()
def watch(
    checkpoints: Annotated[
        Path, typer.Argument(help="the trainer's output folder (checkpoint-* inside)")
    ],
    config: Annotated[
        Path | None,
        typer.Option(help="watch config (TOML): model, task, monitors, guard, watch settings"),
    ] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="run directory")] = None,
    follow: Annotated[
        bool, typer.Option(help="keep watching for new checkpoints until training ends")
    ] = False,
    resume: Annotated[bool, typer.Option(help="continue the watch run in --out")] = False,
    stop_file: Annotated[
        Path | None,
        typer.Option(
            help="stop marker written when a tripwire fires "
            "(default: CHECKPOINTS/driftlab-stop.json)"
        ),
    ] = None,
) -> None:
    """Measure each checkpoint a trainer writes as a round; exit 3 when a tripwire fires."""
    from driftlab.integrations.settings import EXIT_TRIPWIRE, load_watch_config
    from driftlab.integrations.watch import Watcher
    from driftlab.summary import round_table

    if resume:
        if out_dir is None:
            raise DriftlabError("--resume needs --out DIR, the watch run to continue")
        if (out_dir / "run.json").exists():
            config = out_dir / "config.toml"  # the run's own config, as `run --resume` does
    if config is None:
        raise DriftlabError("give --config WATCH.toml (model, task, monitors, guard)")
    cfg = load_watch_config(config)
    out_dir = out_dir or Path("runs") / cfg.name
    watcher = Watcher(cfg, checkpoints, out_dir, resume=resume, stop_file=stop_file)
    try:
        result = watcher.run(follow)
    finally:
        _write_report(out_dir, "run.json")
    out.print(round_table(result))
    out.print(f"artifacts: {out_dir}")
    if result.get("halt"):
        h = result["halt"]
        best = f" ({h['final_checkpoint']})" if h.get("final_checkpoint") else ""
        out.print(
            f"[red]tripwire:[/] {h['message']}. Best round: {h['final_round']}{best}. "
            f"Stop marker: {watcher.stop_file}"
        )
        sys.exit(EXIT_TRIPWIRE)


@app.command()
def w2s(
    config: Annotated[Path | None, typer.Argument(help="weak-to-strong config (TOML)")] = None,
    preset: Annotated[
        str | None, typer.Option(help="a built-in w2s config, e.g. quick (`driftlab presets`)")
    ] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="results directory (reruns reuse its cache)")
    ] = None,
) -> None:
    """Weak-to-strong generalization (Burns et al. 2023) on a model ladder: PGR, agreement,
    experiments."""
    from driftlab.w2s import load_w2s_config, run_w2s
    from driftlab.w2s.results import tables

    cfg = load_w2s_config(config, preset)
    out_dir = out_dir or Path("runs") / cfg.name
    results = run_w2s(cfg, out_dir)
    for table in tables(results):
        out.print(table)
    _write_report(out_dir, "results.json")
    out.print(f"results: {out_dir}/results.json ({results['wall_seconds']:.0f}s)")


@app.command()
def review(
    run_dir: Annotated[
        Path, typer.Argument(help="a run paused for review (status awaiting_review)")
    ],
    host: Annotated[
        str,
        typer.Option(
            help="address to serve on; keep it on loopback (the printed "
            "URL carries a per-launch token)"
        ),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8765,
    reviewer: Annotated[
        str | None, typer.Option(help="your name on each decision (default: login name)")
    ] = None,
    finish: Annotated[
        bool, typer.Option(help="mark the round reviewed and write its train.jsonl (no server)")
    ] = False,
    undecided: Annotated[
        str | None,
        typer.Option(help="with --finish: examples nobody decided are 'accept'ed or 'reject'ed"),
    ] = None,
) -> None:
    """Accept, reject or edit a paused round's proposed training data in the browser."""
    import getpass

    from driftlab.review import open_review, serve

    try:
        name = reviewer or getpass.getuser()
    except (KeyError, OSError):  # no login name in some containers
        name = "reviewer"
    if undecided not in (None, "accept", "reject"):
        raise DriftlabError(f"--undecided must be accept or reject (got {undecided!r})")
    if not finish:
        if undecided is not None:
            raise DriftlabError("--undecided only goes with --finish")
        serve(run_dir, host, port, name)
        return
    s = open_review(run_dir).finish(name, undecided)
    out.print(
        f"round {s['round']} reviewed by {', '.join(s['reviewers']) or 'nobody'}: "
        f"{s['accepted']} accepted, "
        f"{s['edited']} edited, {s['rejected']} rejected, {s['undecided']} undecided "
        f"({s['finished']['undecided']}ed): {s['trained']} of {s['proposed']} rows to train on"
    )
    out.print(f"train on them with: driftlab run --resume --out {run_dir}")


probes_app = typer.Typer(
    no_args_is_help=True, help="Probe sets: bias pairs, concept probes, stable reflectivity."
)
app.add_typer(probes_app, name="probes")


@probes_app.command("build")
def probes_build(
    kind: Annotated[str, typer.Argument(help="bias, semantic or reflectivity")],
    out_file: Annotated[
        Path, typer.Option("--out", help="the new set (JSONL; a manifest is written beside)")
    ],
    model: Annotated[str, typer.Option(help="model that writes items")] = "smollm2-135m-instruct",
    n: Annotated[int, typer.Option(help="items to attempt")] = 20,
    base: Annotated[
        Path | None, typer.Option(help="set to extend (default: the shipped starter set)")
    ] = None,
    judge: Annotated[
        str | None, typer.Option(help="on-task judge (default: the writing model)")
    ] = None,
    seed: Annotated[int, typer.Option()] = 0,
) -> None:
    """Write new probe items with a model, filter malformed, off-task and duplicate ones, store a
    version."""
    from driftlab.models.spec import check_model, load_model
    from driftlab.probes.build import build
    from driftlab.probes.sets import check_kind

    check_kind(kind)
    for spec in filter(None, (model, judge)):
        check_model(spec)
    m = build(
        kind, load_model(model), out_file, n, base, load_model(judge) if judge else None, seed
    )
    c = m["counts"]
    out.print(
        f"{kind} set {m['version']} ({m['items']} items) -> {out_file}: {c['generated']} written, "
        f"{c['malformed']} malformed, {c['off_task']} off task, {c['duplicates']} duplicates, "
        f"{c['kept']} kept"
    )


@probes_app.command("run")
def probes_run(
    model: Annotated[
        str, typer.Argument(help="model to score: built-in name, path, hub id, runs/NAME@ROUND")
    ],
    out_dir: Annotated[Path, typer.Option("--out", help="folder for probes.json")],
    kinds: Annotated[list[str], typer.Option("--kind", help="repeatable; default: all")] = [],  # noqa: B006
    baseline: Annotated[
        str | None, typer.Option(help="compare with this model (plays round 0)")
    ] = None,
    judge: Annotated[
        str | None, typer.Option(help="fixed judge for favourability / same meaning")
    ] = None,
    seed: Annotated[int, typer.Option()] = 0,
) -> None:
    """Score a model on the probe sets and print every metric and finding."""
    from driftlab.models.spec import check_model
    from driftlab.probes.run import MONITOR_OF, run_probes

    for spec in filter(None, (model, baseline, judge)):
        check_model(spec)
    res = run_probes(model, kinds or list(MONITOR_OF), out_dir, baseline, judge=judge, seed=seed)
    table = Table(title=f"probes: {model}" + (f" vs {baseline}" if baseline else ""))
    for col in ("probe", "metric", "value") + (("baseline",) if baseline else ()):
        table.add_column(col)
    for kind, r in res["probes"].items():
        for k, v in r["metrics"].items():
            row = [kind, k, f"{v:.4g}"]
            if baseline:
                b = r.get("baseline_metrics", {}).get(k)
                row.append("" if b is None else f"{b:.4g}")
            table.add_row(*row)
    out.print(table)
    for r in res["probes"].values():
        for f in r["findings"]:
            out.print(f"[yellow]finding:[/] {escape(f['message'])}")
    out.print(f"artifacts: {out_dir / 'probes.json'}")


@app.command()
def presets() -> None:
    """List the built-in presets, each with the command that runs it."""
    from driftlab import presets as shipped

    for kind, command in shipped.COMMANDS.items():
        for name in shipped.names(kind):
            out.print(f"{name} ({command} --preset {name})")


@app.command(name="list")
def list_registered() -> None:
    """List the loops, monitors, tasks, model backends and diff dimensions a config can name,
    each with the package it comes from (driftlab, or an installed plugin)."""
    from driftlab.diff.dimensions import DIMENSIONS
    from driftlab.loops import LOOPS
    from driftlab.models import BACKENDS
    from driftlab.monitors import MONITORS
    from driftlab.tasks import TASKS

    table = Table(title="what a config or command can name")
    for col in ("kind", "name", "from"):
        table.add_column(col)
    for registry in (LOOPS, MONITORS, TASKS, BACKENDS):
        for name in registry.names():
            table.add_row(registry.kind, name, registry.origin(name))
    for name in DIMENSIONS.names():
        table.add_row("diff dimension", name, DIMENSIONS.origin(name))
    out.print(table)


def main() -> None:
    try:
        app(standalone_mode=False)
    except DriftlabError as e:  # the message may hold brackets, e.g. a user's text: never markup
        err.print("[red]error:[/] ", end="")
        err.print(str(e), markup=False, highlight=False, soft_wrap=True)
        sys.exit(2)
    except typer.Abort:
        err.print("aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        err.print(
            "interrupted: the run directory keeps every finished step; continue with --resume"
        )
        sys.exit(130)
    except Exception as e:  # click usage errors
        import click

        if isinstance(e, click.ClickException):
            e.show()
            sys.exit(e.exit_code)
        raise
