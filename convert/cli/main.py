"""The ``nnconvert`` command line: a thin shell over convert.api.

Exit codes: 0 success, 1 verification mismatch, 2 usage error, 3 unsupported model,
unreadable input or conversion error.
"""
from __future__ import annotations

import os
import re
import sys
import traceback

import click

from .. import __version__
from ..errors import EXIT_UNSUPPORTED, NNConvertError, error_text
from ..flags import cli_spelling
from .ui import echo, logging_restored, quiet_frameworks, setup_logging

EPILOG_CONVERT = """\b
Examples:
  nnconvert convert fixtures/tiny_resnet.pt2 -o model.onnx --verify
  nnconvert convert net.py:build --weights state.pt --input-shape x:1,3,224,224 -o net.onnx
  nnconvert convert model.keras -o model.onnx --verify --report report.json
  nnconvert convert deploy.prototxt --weights net.caffemodel -o net.onnx --verify --reference blobs.npz
  nnconvert convert model.pt2 -o model.keras --verify
"""


def subject(path: str) -> None:
    """Record the model file a command works on: every error line names it."""
    ctx = click.get_current_context().find_root()
    ctx.ensure_object(dict)["subject"] = str(path).split(".py:")[0] if ".py:" in str(path) else str(path)


def _subject(ctx: click.Context, err: BaseException) -> str | None:
    from ..errors import OutputWriteError, UsageError

    # A usage error is about the command line, a write error about the destination, not
    # about the model file.
    return None if isinstance(err, (UsageError, OutputWriteError)) else (ctx.obj or {}).get("subject")
_GLOBAL_FLAGS = re.compile(r"^(--debug|--verbose|-v+)$")


class Cli(click.Group):
    """Turns nnconvert errors into one line and an exit code (traceback with --debug)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # -v and --debug are accepted after the subcommand too: move them in front of it.
        end = args.index("--") if "--" in args else len(args)
        front = [a for a in args[:end] if _GLOBAL_FLAGS.match(a)]
        rest = [a for a in args[:end] if not _GLOBAL_FLAGS.match(a)] + args[end:]
        return super().parse_args(ctx, front + rest)

    def invoke(self, ctx: click.Context):
        debug = bool(ctx.params.get("debug"))
        with cli_spelling(), logging_restored(), quiet_frameworks(not debug and not ctx.params.get("verbose")):
            return self._invoke(ctx, debug)

    def _invoke(self, ctx: click.Context, debug: bool):
        try:
            return super().invoke(ctx)
        except NNConvertError as e:
            if debug:
                traceback.print_exc()
            report = getattr(e, "report", None)
            if report is not None:
                echo(report.table())
            echo(f"error: {error_text(e, _subject(ctx, e), full=debug)}", err=True, fg="red")
            ctx.exit(e.exit_code)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except KeyboardInterrupt:
            echo("interrupted; nothing was written", err=True, fg="red")
            ctx.exit(130)
        except Exception as e:  # a bug in nnconvert or a framework: still one line by default
            if debug:
                traceback.print_exc()
            echo(f"error: {error_text(e, _subject(ctx, e), full=debug)}"
                 + ("" if debug else " (run with --debug for the traceback)"), err=True, fg="red")
            ctx.exit(EXIT_UNSUPPORTED)


@click.group(cls=Cli, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="nnconvert")
@click.option("--debug", is_flag=True, help="Show tracebacks, full error texts and the frameworks' own output.")
@click.option("-v", "--verbose", count=True,
              help="More log output (-vv for debug logs), the frameworks' own output included.")
@click.option("--plugin", "plugins", multiple=True, metavar="FILE.py",
              help="Load a plugin file that registers extra layer handlers.")
@click.pass_context
def main(ctx: click.Context, debug: bool, verbose: int, plugins: tuple[str, ...]) -> None:
    """Convert neural networks between PyTorch, Keras, Caffe and ONNX, and prove the
    result numerically.

    \b
    Exit codes: 0 ok, 1 verification mismatch, 2 usage error,
                3 unsupported model / unreadable input / conversion error.
    -v and --debug may also follow the subcommand.
    """
    # Quiet TensorFlow's C++ start-up chatter if Keras ends up using it.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    ctx.obj["verbose"] = verbose
    setup_logging(verbose, debug)
    from ..plugins import load_plugins

    load_plugins(plugins)


from . import commands  # noqa: E402,F401  (registers the subcommands)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
