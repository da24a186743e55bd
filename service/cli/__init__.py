"""`toh-cds`: the command line of the service, on click (already installed with Celery) with rich for progress.

Every error is one line that says what to do: exit code 2 for a wrong command line, 1 for a failure, and no
traceback unless `--debug`. Commands import what they need when they run, so `--help` answers at once.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib.metadata import version

import click

from service.cli import backfill, dead_letters, fhir, hook, serve

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.version_option(version("toh-cds"), "--version", prog_name="toh-cds")
@click.option("--debug", is_flag=True, help="Show the traceback of an unexpected error.")
@click.pass_context
def cli(context: click.Context, debug: bool) -> None:
    """Clinical decision support for transient osteoporosis of the hip: CDS Hooks and FHIR Subscriptions.

    Settings come from TOH_* environment variables (README). `toh-cds run` starts everything on this machine.
    """
    context.obj = {"debug": debug}


for command in (serve.run, serve.api, serve.worker, hook.hook, fhir.subscribe, fhir.load,
                backfill.backfill, dead_letters.dead_letters):  # fmt: skip
    cli.add_command(command)


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text or type(error).__name__


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        result = cli.main(args, prog_name="toh-cds", standalone_mode=False)
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.ClickException as error:  # usage errors (2) and the failures commands raise (1)
        error.show()
        return error.exit_code
    except (click.Abort, KeyboardInterrupt):
        click.echo("Aborted.", err=True)
        return 130
    except Exception as error:
        if debug:
            raise
        click.echo(f"Error: {_one_line(error)} ({type(error).__name__}; --debug shows where)", err=True)
        return 1
    return result if isinstance(result, int) else 0
