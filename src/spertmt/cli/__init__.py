"""The ``spertmt`` command line: each subcommand parses its options and calls one library function.

Subcommands live in small modules by area and register themselves on :data:`app`. Errors that
derive from :class:`~spertmt.errors.SpertMTError` are printed as one line on standard error and
end the process with exit code 1 (``--debug`` shows the traceback instead). Ctrl-C prints
``interrupted`` (with what the command kept, e.g. ``interrupted: kept 120 of 500 documents in
out.jsonl.partial``) and exits with 130, as shells expect, so ``spertmt predict ... && next``
stops; SIGTERM does the same with ``interrupted (SIGTERM)`` and exit code 143 (every command
but ``serve``, whose server shuts down on SIGTERM by itself). See
:mod:`spertmt.cli.interrupts`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import typer

from spertmt.cli.interrupts import (
    INTERRUPTED,
    TERMINATED,
    Interrupted,
    interruptible,
    sigterm_as_interrupt,
)
from spertmt.errors import SpertMTError

__all__ = ["INTERRUPTED", "TERMINATED", "app", "main"]

app = typer.Typer(
    name="spertmt",
    help="Joint entity and relation extraction: SpERT and SpERT.MT. Add --debug to any "
    "command to see a traceback instead of a one-line error.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from spertmt.version import __version__

        typer.echo(f"spertmt {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False,
        "--version",
        callback=_version,
        is_eager=True,
        help="Print the version and exit.",
    ),
) -> None:
    """Joint entity and relation extraction: SpERT and SpERT.MT."""


def _register_commands() -> None:
    from spertmt.cli import (
        analyze_command,
        convert_command,
        data_commands,
        evaluate_command,
        export_command,
        model_commands,
        serve_command,
        tune_command,
    )

    data_commands.register(app)
    convert_command.register(app)
    evaluate_command.register(app)
    analyze_command.register(app)
    model_commands.register(app)
    export_command.register(app)
    serve_command.register(app)
    tune_command.register(app)
    # Typer turns Ctrl-C inside a command into a bare exit code; this keeps what it said.
    for command in app.registered_commands:
        if command.callback is not None:
            command.callback = interruptible(command.callback)


_register_commands()


def _quiet_third_party_progress() -> None:
    # transformers draws a bar for every weight load ("Loading weights: 100%"), which buries our
    # own progress and one-line errors. It reads this switch when it is first imported, so
    # setting it here costs no import; a user's own setting wins.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code.

    Args:
        argv: Arguments without the program name; ``None`` reads ``sys.argv``.

    Returns:
        The process exit code (0 on success).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    _quiet_third_party_progress()
    debug = "--debug" in args
    if debug:
        args.remove("--debug")
    # The server handles SIGTERM itself (a graceful shutdown); every other command stops on it
    # as on Ctrl-C.
    command = next((a for a in args if not a.startswith("-")), None)
    try:
        if command == "serve":
            code = app(args=args, prog_name="spertmt", standalone_mode=False)
        else:
            with sigterm_as_interrupt():
                code = app(args=args, prog_name="spertmt", standalone_mode=False)
    except Interrupted as stop:
        typer.echo(stop.message, err=True)
        return stop.exit_code
    except SpertMTError as error:
        if debug:
            raise
        typer.echo(f"error: {error}", err=True)
        return 1
    except KeyboardInterrupt as interrupt:  # outside a command (while parsing)
        outside = Interrupted.of(interrupt)
        typer.echo(outside.message, err=True)
        return outside.exit_code
    except SystemExit as exit_:  # raised by click for --help and usage errors
        return int(exit_.code or 0)
    except Exception as error:  # usage errors (missing option, bad value)
        import click

        # Newer Typer releases raise exceptions of their own bundled click copy, which do not
        # derive from click's; both kinds print a usage message and exit with code 2.
        if isinstance(error, (click.ClickException, typer.TyperException)) and hasattr(
            error, "show"
        ):
            error.show()
            return int(getattr(error, "exit_code", 2))
        if isinstance(error, (click.exceptions.Abort, typer.Abort)):
            # click turns Ctrl-C (and end of input at a prompt) into Abort
            if isinstance(error.__cause__ or error.__context__, KeyboardInterrupt):
                typer.echo("interrupted", err=True)
                return INTERRUPTED
            return 1
        raise
    # Without standalone mode Typer returns an exit code instead of exiting; for Ctrl-C it
    # returns 130 without a word.
    if code == INTERRUPTED:
        typer.echo("interrupted", err=True)
    return code if isinstance(code, int) else 0
