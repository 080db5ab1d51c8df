"""The ``nnconvert`` command line: a thin shell over convert.api.

Exit codes: 0 success, 1 verification mismatch, 2 usage error, 3 unsupported model,
unreadable input or conversion error.
"""
from __future__ import annotations

import logging
import os
import sys
import traceback

import click

from .. import __version__
from ..errors import EXIT_UNSUPPORTED, NNConvertError, error_text

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
    from ..errors import UsageError

    # A usage error is about the command line, not about the model file.
    return None if isinstance(err, UsageError) else (ctx.obj or {}).get("subject")


class Cli(click.Group):
    """Turns nnconvert errors into one line and an exit code (traceback with --debug)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except NNConvertError as e:
            if ctx.obj and ctx.obj.get("debug"):
                traceback.print_exc()
            report = getattr(e, "report", None)
            if report is not None:
                click.echo(report.table(), err=False)
            click.secho(f"error: {error_text(e, _subject(ctx, e))}", fg="red", err=True)
            ctx.exit(e.exit_code)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except KeyboardInterrupt:
            click.secho("interrupted; nothing was written", fg="red", err=True)
            ctx.exit(130)
        except Exception as e:  # a bug in nnconvert or a framework: still one line by default
            if ctx.obj and ctx.obj.get("debug"):
                traceback.print_exc()
            click.secho(f"error: {error_text(e, _subject(ctx, e))} (run with --debug for the traceback)",
                        fg="red", err=True)
            ctx.exit(EXIT_UNSUPPORTED)


@click.group(cls=Cli, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="nnconvert")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug logs).")
@click.option("--plugin", "plugins", multiple=True, metavar="FILE.py",
              help="Load a plugin file that registers extra layer handlers.")
@click.pass_context
def main(ctx: click.Context, debug: bool, verbose: int, plugins: tuple[str, ...]) -> None:
    """Convert neural networks between PyTorch, Keras, Caffe and ONNX, and prove the
    result numerically.

    \b
    Exit codes: 0 ok, 1 verification mismatch, 2 usage error,
                3 unsupported model / unreadable input / conversion error.
    """
    # Quiet TensorFlow's C++ start-up chatter if Keras ends up using it.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    ctx.obj["verbose"] = verbose
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    from ..plugins import load_plugins

    load_plugins(plugins)


from . import commands  # noqa: E402,F401  (registers the subcommands)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
