"""The `nimdoctor` command: a thin click layer that parses, calls, renders and sets the exit code.

Subcommands are imported when they are invoked (click's lazy-loading group pattern), so `nimdoctor run`
does not pay for the machine importer, the planner or the topology renderer.

`main` owns the exit codes that no command chooses: 2 for a usage error, 4 for an unexpected exception
(one line; `--debug` adds the trace), 130 when interrupted (Ctrl-C), 141 when the output cannot be written
(stdout closed, as by `| head`, or full). Error text is cleaned of terminal control before it is printed.
"""

from __future__ import annotations

import errno
import importlib
import io
import os
import sys
import traceback

import click

from nimdoctor import __version__
from nimdoctor.sanitize import clean_line, clean_text

EXIT_INTERNAL = 4
EXIT_INTERRUPTED = 130
EXIT_OUTPUT_LOST = 141  # what a process killed by SIGPIPE returns
_OUTPUT_ERRORS = (errno.EPIPE, errno.ENOSPC)
_debug = [False]  # set by `--debug`; read by `main` after the command has gone

COMMANDS = {
    "run": "nimdoctor.cli.run_cmd:run_cmd",
    "plan": "nimdoctor.cli.plan_cmd:plan_cmd",
    "capacity": "nimdoctor.cli.capacity_cmd:capacity_cmd",
    "topo": "nimdoctor.cli.topo_cmd:topo_cmd",
    "machine": "nimdoctor.cli.machine_cmd:machine_group",
    "checks": "nimdoctor.cli.catalog_cmds:checks_cmd",
    "explain": "nimdoctor.cli.catalog_cmds:explain_cmd",
    "lint": "nimdoctor.cli.lint_cmd:lint_cmd",
    "audit": "nimdoctor.cli.audit_cmd:audit_cmd",
    "agent": "nimdoctor.cli.agent_cmd:agent_cmd",
    "extender": "nimdoctor.cli.extender_cmd:extender_cmd",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every subcommand, in the order of `COMMANDS` (the help lists them that way)."""
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Import the subcommand's module and return its command; None for an unknown name."""
        if cmd_name not in COMMANDS:
            return None
        module, _, attribute = COMMANDS[cmd_name].partition(":")
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command)
        return command

    def invoke(self, ctx: click.Context) -> object:
        """Run the subcommand; a failed write to stdout leaves as `OutputLost` (click would swallow it)."""
        try:
            return super().invoke(ctx)
        except OSError as exc:
            if exc.errno in _OUTPUT_ERRORS:
                raise OutputLost(exc) from exc
            raise


class OutputLost(Exception):
    """The output could not be written: stdout was closed or is full."""

    def __init__(self, cause: OSError) -> None:
        super().__init__(cause.strerror or str(cause))
        self.errno = cause.errno


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nimdoctor")
@click.option(
    "--debug",
    is_flag=True,
    envvar="NIMDOCTOR_DEBUG",
    help="Print the full trace of an internal error (env NIMDOCTOR_DEBUG).",
)
def cli(debug: bool) -> None:
    """Find what will break NVIDIA NIM pods on a GPU node, and say the fix.

    Exit codes: 0 all well; 1 a check failed; 3 a check could not be evaluated; 2 usage or input error;
    4 internal error; 130 interrupted; 141 the output could not be written.
    """
    _debug[0] = debug


def main(args: list[str] | None = None) -> None:
    """Console-script entry point: run the command and exit with its code (see the module docstring)."""
    sys.exit(run(args))


def run(args: list[str] | None = None) -> int:
    """Run the command line and return the exit code, handling what no command handles."""
    try:
        try:
            code = _exit_code(cli.main(args=args, prog_name="nimdoctor", standalone_mode=False))
        except SystemExit as exc:
            code = _exit_code(exc.code)
        sys.stdout.flush()
        return code
    except click.ClickException as exc:
        buffer = io.StringIO()
        exc.show(file=buffer)
        sys.stderr.write(clean_text(buffer.getvalue()))
        return exc.exit_code
    except (click.exceptions.Abort, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    except OutputLost as exc:
        return _output_lost(exc.errno, str(exc))
    except OSError as exc:
        if exc.errno not in _OUTPUT_ERRORS:
            return _internal_error(exc)
        return _output_lost(exc.errno, exc.strerror or str(exc))
    except Exception as exc:
        from nimdoctor.catalog import CatalogError

        if isinstance(exc, CatalogError):  # a catalog value a check could only judge when it used it
            sys.stderr.write(f"Error: broken check catalog: {clean_line(str(exc))}\n")
            return 2
        return _internal_error(exc)


def _exit_code(value: object) -> int:
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    sys.stderr.write(clean_line(str(value)) + "\n")
    return 1


def _output_lost(code: int | None, reason: str) -> int:
    """Stop writing to stdout for good (the interpreter's last flush would fail again) and say why,
    unless the reader simply went away."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass  # stdout has no descriptor (captured): nothing is flushed at exit either
    if code != errno.EPIPE:
        sys.stderr.write(f"nimdoctor: cannot write the output: {clean_line(reason)}\n")
    return EXIT_OUTPUT_LOST


def _internal_error(exc: BaseException) -> int:
    if _debug[0]:
        sys.stderr.write(clean_text("".join(traceback.format_exception(exc))))
    text = clean_line(f"{type(exc).__name__}: {exc}")
    if len(text) > 200:
        text = text[:197] + "..."
    sys.stderr.write(f"nimdoctor: internal error: {text}, run with --debug for the trace\n")
    return EXIT_INTERNAL
