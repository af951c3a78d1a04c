"""The driftlab command line. User errors print one message and exit 2, never a traceback."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from driftlab.errors import DriftlabError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Run self-improvement loops on language models and supervise every round.")
out = Console(width=None if sys.stdout.isatty() else 140)  # tables stay whole in logs
err = Console(stderr=True)


@app.command()
def run(
    config: Annotated[Optional[Path], typer.Argument(help="experiment config (TOML)")] = None,
    preset: Annotated[Optional[str], typer.Option(help="a built-in config, e.g. quickstart")] = None,
    out_dir: Annotated[Optional[Path], typer.Option("--out", help="run directory")] = None,
    rounds: Annotated[Optional[int], typer.Option(min=0, help="override the number of rounds")] = None,
    resume: Annotated[bool, typer.Option(help="continue the run in --out where it stopped")] = False,
) -> None:
    """Run a self-improvement loop, measuring every round against round 0."""
    from driftlab.config import load_config
    from driftlab.experiment import run_experiment
    from driftlab.summary import round_table

    if resume:
        if out_dir is None:
            raise DriftlabError("--resume needs --out DIR, the run to continue")
        cfg = None
    else:
        if (config is None) == (preset is None):
            raise DriftlabError("give a CONFIG file or --preset NAME (one of them)")
        cfg = load_config(config, preset)
        out_dir = out_dir or Path("runs") / cfg.name
    result = run_experiment(cfg, out_dir, resume=resume, rounds=rounds)
    out.print(round_table(result))
    for event in result.get("rollbacks") or []:
        out.print(f"[yellow]rolled back:[/] {event['message']}; went on from round {event['restored_round']}")
    if result.get("halt"):
        h = result["halt"]
        out.print(f"[red]halted:[/] {h['message']}. Round {h['round']} was not promoted; "
                  f"the final model is round {h['final_round']}'s.")
    out.print(f"artifacts: {out_dir}")


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
def presets() -> None:
    """List the built-in experiment presets."""
    from driftlab.config import list_presets

    for name in list_presets():
        out.print(name)


def main() -> None:
    try:
        app(standalone_mode=False)
    except DriftlabError as e:
        err.print(f"[red]error:[/] {e}", highlight=False)
        sys.exit(2)
    except typer.Abort:
        err.print("aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        err.print("interrupted: the run directory keeps every finished step; continue with --resume")
        sys.exit(130)
    except Exception as e:  # click usage errors
        import click

        if isinstance(e, click.ClickException):
            e.show()
            sys.exit(e.exit_code)
        raise
