"""The nnconvert subcommands."""
from __future__ import annotations

from pathlib import Path

import click

from ..errors import EXIT_MISMATCH, EXIT_UNSUPPORTED
from ..flags import SHAPE_SYNTAX
from .main import EPILOG_CONVERT, main, subject
from .options import parse_inputs, parse_shapes
from .ui import echo, on_terminal, stream


def _step(msg: str) -> None:
    # Progress lines on a terminal (or with -v); a pipeline's log gets the result lines only.
    ctx = click.get_current_context(silent=True)
    if on_terminal() or (ctx is not None and (ctx.obj or {}).get("verbose")):
        echo(f"» {msg}", err=True, dim=True)


def _warn(warnings) -> None:
    for w in warnings:
        echo(f"warning: {w}", err=True, fg="yellow")


def _reader_options(weights, trust_pickle, io_layout, allow_missing_weights, input_shape) -> dict:
    opts = {"input_shapes": parse_shapes(input_shape)}
    if weights:
        opts["weights"] = weights
    if trust_pickle:
        opts["trust_pickle"] = True
    if io_layout:
        opts["io_layout"] = io_layout
    if allow_missing_weights:
        opts["allow_missing_weights"] = True
    return opts


def reader_flags(f):
    for opt in reversed([
        click.option("--from", "from_fmt", metavar="FMT", help="Source format (default: from the file name)."),
        click.option("--weights", type=click.Path(exists=True, dir_okay=False),
                     help="Weights file: a torch state_dict (weights_only load), a .caffemodel or an MXNet .params."),
        click.option("--trust-pickle", "--trust-code", "trust_pickle", is_flag=True,
                     help="Let torch load the file as it is: a pickled torch module (.pt/.pth), or a .pt2 "
                          "archive through torch.export.load (pickled members, shape expressions, guard "
                          "code, compiled libraries). This RUNS CODE from the file. A pickled module's "
                          "classes are looked up beside the file and in the working directory."),
        click.option("--io-layout", type=click.Choice(["nhwc", "nchw"]),
                     help="Keras sources: keep the channels-last interface (default) or expose NCHW; "
                          "tflite targets: nhwc makes the file's image inputs/outputs channels-last."),
        click.option("--allow-missing-weights", is_flag=True,
                     help="Caffe prototxt without weights: convert with zero-filled weights (warns)."),
        click.option("--input-shape", multiple=True, metavar=SHAPE_SYNTAX,
                     help="Input shape; a number is a static size, a name (batch) or -1 a dynamic one. "
                          "Repeatable."),
    ]):
        f = opt(f)
    return f


def verify_flags(f):
    for opt in reversed([
        click.option("--reference", type=click.Path(exists=True, dir_okay=False), metavar="FILE.npz",
                     help="Recorded inputs and expected outputs keyed by name (e.g. Caffe blobs)."),
        click.option("--samples", type=click.IntRange(1), default=1, show_default=True,
                     help="Seeded random input sets per input size."),
        click.option("--seed", type=int, default=0, show_default=True),
        click.option("--rtol", type=float, help="Relative tolerance (default depends on dtype)."),
        click.option("--atol", type=float, help="Absolute tolerance (default depends on dtype)."),
        click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True,
                     help="onnxruntime execution provider; cuda fails if CUDA is not really active."),
        click.option("--per-layer", is_flag=True,
                     help="Compare every intermediate value both sides expose; name the first diverging layer, "
                          "write its repro (.onnx + .npz) and an error-by-depth plot."),
        click.option("--artifacts", type=click.Path(file_okay=False), metavar="DIR",
                     help="Folder for the --per-layer repro and plot (default: next to --markdown/--report, "
                          "else ./nnconvert-verify)."),
        click.option("--report", "report_json", type=click.Path(dir_okay=False), help="Write a JSON report."),
        click.option("--markdown", "report_md", type=click.Path(dir_okay=False), help="Write a Markdown report."),
    ]):
        f = opt(f)
    return f


def _artifacts_dir(artifacts, report_json, report_md) -> str:
    if artifacts:
        return artifacts
    for p in (report_md, report_json):
        if p:
            return str(Path(p).with_suffix("")) + "_files"
    return "nnconvert-verify"


def _write_reports(report, report_json, report_md) -> None:
    if report is None:
        return
    if report_json:
        Path(report_json).write_text(report.dumps())
    if report_md:
        Path(report_md).write_text(report.to_markdown(relative_to=str(report_md)))


def _progress(total_hint: str = "verifying"):
    bar = {"b": None}

    def cb(done: int, total: int) -> None:
        # A bar only on a terminal: in logs and pipelines it would be noise.
        if total <= 1 or not on_terminal():
            return
        if bar["b"] is None:
            bar["b"] = click.progressbar(length=total, label=total_hint, file=stream(err=True))
            bar["b"].__enter__()
        bar["b"].update(max(done - bar["b"].pos, 0))
        if done >= total:
            bar["b"].__exit__(None, None, None)
            bar["b"] = None

    return cb


@main.command(epilog=EPILOG_CONVERT)
@click.argument("source")
@click.option("-o", "--output", required=True, help="Output path; the format follows from its name.")
@click.option("--to", "to_fmt", metavar="FMT", help="Target format (onnx, torch, torch-source, keras, caffe, tflite, saved-model, nnir).")
@click.option("--opset", type=int, help="ONNX opset (default 17).")
@click.option("--external-data/--no-external-data", default=None,
              help="ONNX: weights in a separate FILE.onnx.data (default: only beyond 1.8 GiB).")
@reader_flags
@click.option("--verify/--no-verify", default=False, help="Run source and result on the same inputs and compare.")
@verify_flags
@click.option("--force", is_flag=True, help="Overwrite existing output files.")
@click.option("--no-optimize", is_flag=True, help="Skip every graph optimisation pass.")
@click.option("--disable-pass", multiple=True, metavar="NAME", help="Skip one optimisation pass. Repeatable.")
@click.option("--for-training/--for-inference", "for_training", default=None,
              help="Keep BatchNorm and Dropout as layers (skip fold-batchnorm, fold-affine, remove-identity) "
                   "for fine-tuning, or fold them. Default: for training with --to torch-source, else for "
                   "inference.")
@click.option("--caffe-fork-layers", is_flag=True,
              help="Caffe target: allow layers that only Caffe forks have (SSD Permute, Normalize).")
@click.option("--precision", type=click.Choice(["fp32", "fp16", "bf16"]), default="fp32", show_default=True,
              help="onnx/torch/torch-source: weights and compute in fp16 or bf16 (norms, softmax and sums in "
                   "fp32; float32 inputs and outputs). tflite: fp16 weight storage.")
@click.option("--quantize", type=click.Choice(["dynamic-int8", "int8"]),
              help="tflite target: dynamic-int8: per-channel int8 conv/dense weights (LiteRT's dynamic-range "
                   "kernels); int8: int8 weights and activations from --calibration, float interface.")
@click.option("--calibration", type=click.Path(exists=True, dir_okay=False), metavar="FILE.npz",
              help="tflite --quantize int8: representative inputs keyed by input name (ranges of every tensor).")
@click.pass_context
def convert(ctx, source, output, to_fmt, opset, external_data, from_fmt, weights, trust_pickle, io_layout,
            allow_missing_weights, input_shape, verify, reference, samples, seed, rtol, atol, device, per_layer,
            artifacts, report_json, report_md, force, no_optimize, disable_pass, for_training, caffe_fork_layers,
            precision, quantize, calibration):
    """Convert SOURCE to OUTPUT (formats from the file names or --from/--to).

    Nothing is written when the model has unsupported layers (all are listed), when
    writing fails, or when --verify finds a mismatch.
    """
    subject(source)
    from ..api import convert_file

    ropts = _reader_options(weights, trust_pickle, io_layout, allow_missing_weights, input_shape)
    wopts = {"opset": opset} if opset else {}
    if external_data is not None:
        wopts["external"] = external_data
    if caffe_fork_layers:
        wopts["allow_fork"] = True
    # tflite target: weight storage, and the file's interface layout (as for a Keras source)
    wopts.update({k: v for k, v in (("quantize", quantize), ("io_layout", io_layout),
                                    ("calibration", calibration)) if v})
    vopts = dict(samples=samples, seed=seed, input_shapes=ropts["input_shapes"], reference=reference, rtol=rtol,
                 atol=atol, device=device, progress=_progress(), per_layer=per_layer,
                 artifacts=_artifacts_dir(artifacts, report_json, report_md) if per_layer else None)
    try:
        res = convert_file(source, output, from_fmt=from_fmt, to_fmt=to_fmt, reader_options=ropts,
                           writer_options=wopts, force=force, optimize=not no_optimize, disable_passes=disable_pass,
                           verify=verify or bool(reference) or per_layer, verify_options=vopts, step=_step,
                           for_training=for_training, progress=_progress("writing"), precision=precision)
    except Exception as e:
        _write_reports(getattr(e, "report", None), report_json, report_md)
        raise
    _warn(res.warnings)
    for name, changes in res.passes:
        if changes:
            echo(f"pass {name}: {len(changes)} change(s)", err=True)
            if ctx.obj.get("verbose"):  # -v: what each pass did
                for change in changes:
                    echo(f"  pass {name}: {change}", err=True)
    if res.report is not None:
        echo(res.report.table())
        _write_reports(res.report, report_json, report_md)
    files = ", ".join(str(f) for f in res.files)
    echo(f"wrote {files} ({res.source_format} -> {res.target_format}, {res.seconds:.2f} s)", fg="green", err=True)


@main.command()
@click.argument("source")
@click.argument("target")
@click.option("--to", "to_fmt", metavar="FMT", help="Format of TARGET (default: from its name).")
@reader_flags
@click.option("--input", "input_files", multiple=True, metavar="NAME=FILE.npy", help="Your own input array.")
@click.option("--inputs", "inputs_npz", type=click.Path(exists=True, dir_okay=False), metavar="FILE.npz",
              help="Your own input arrays keyed by input name.")
@click.option("--precision", type=click.Choice(["fp32", "fp16", "bf16"]), default=None,
              help="What TARGET computes in (convert --precision): sets the default tolerances, stated in the report. "
                   "Default: read from TARGET (its nnconvert.precision metadata, else its weights' dtype); "
                   "a value TARGET contradicts is an error.")
@verify_flags
def verify(source, target, to_fmt, from_fmt, weights, trust_pickle, io_layout, allow_missing_weights, input_shape,
           input_files, inputs_npz, precision, reference, samples, seed, rtol, atol, device, per_layer, artifacts,
           report_json, report_md):
    """Check that TARGET computes what SOURCE computes (exit 0 pass, 1 mismatch).

    \b
    Examples:
      nnconvert verify model.pt2 model.onnx
      nnconvert verify model.keras model.onnx --samples 3 --report r.json
      nnconvert verify deploy.prototxt m.onnx --weights m.caffemodel --reference blobs.npz
      nnconvert verify model.pt2 model.onnx --per-layer --markdown report.md
    """
    subject(source)
    from ..api import verify as run_verify

    ropts = _reader_options(weights, trust_pickle, io_layout, allow_missing_weights, input_shape)
    report = run_verify(source, target, from_fmt=from_fmt, to_fmt=to_fmt, reader_options=ropts,
                        samples=samples, seed=seed, input_shapes=ropts["input_shapes"],
                        inputs=parse_inputs(input_files, inputs_npz), reference=reference, rtol=rtol, atol=atol,
                        device=device, progress=_progress(), per_layer=per_layer,
                        artifacts=_artifacts_dir(artifacts, report_json, report_md) if per_layer else None,
                        precision=precision)
    echo(report.table())
    _write_reports(report, report_json, report_md)
    if not report.ok:
        raise SystemExit(EXIT_MISMATCH)


@main.command()
@click.argument("model")
@reader_flags
def inspect(model, from_fmt, weights, trust_pickle, io_layout, allow_missing_weights, input_shape):
    """Print MODEL's IR as a table: layer, op, output shape, parameters.

    \b
    Example:
      nnconvert inspect fixtures/tiny_resnet.pt2
    """
    subject(model)
    from ..api import load_model
    from ..inspection import table

    ropts = _reader_options(weights, trust_pickle, io_layout, allow_missing_weights, input_shape)
    loaded = load_model(model, from_fmt, **ropts)
    _warn(loaded.warnings)
    echo(table(loaded.graph, loaded.source_params, loaded.format.split("-")[0].split(".")[0]))


@main.command()
@click.argument("model")
@click.option("--to", "to_fmt", default="onnx", show_default=True, metavar="FMT", help="Target format to check.")
@click.option("--opset", type=int, help="ONNX opset to check against.")
@reader_flags
@click.option("--no-optimize", is_flag=True, help="Check the graph as imported (convert --no-optimize).")
@click.option("--disable-pass", multiple=True, metavar="NAME", help="As for convert. Repeatable.")
def check(model, to_fmt, opset, from_fmt, weights, trust_pickle, io_layout, allow_missing_weights, input_shape,
          no_optimize, disable_pass):
    """Pre-flight: list every layer or attribute that cannot be converted (exit 0 or 3).

    Importer and exporter gaps are listed together: layers the importer cannot read are
    passed over (taken to keep their input's shape) so the exporter is checked on the rest.

    \b
    Example:
      nnconvert check model.keras --to caffe
    """
    subject(model)
    from ..api import check_model
    from ..formats import FORMATS, detect

    ropts = _reader_options(weights, trust_pickle, io_layout, allow_missing_weights, input_shape)
    fmt = FORMATS.get(to_fmt) or detect("x." + to_fmt, None, reading=False)
    sections, loaded = check_model(model, fmt, from_fmt, ropts, not no_optimize, disable_pass,
                                   {"opset": opset} if opset else {})
    if loaded is not None:
        _warn(loaded.warnings)
    if sections:
        echo(_gap_report(model, fmt.name, sections))
        raise SystemExit(EXIT_UNSUPPORTED)
    echo(f"ok: all {len(loaded.graph.nodes)} nodes of {model} convert to {fmt.name}")


def _gap_report(model: str, target: str, sections: list) -> str:
    """Every unsupported item, per stage (import, export), grouped by layer type: count,
    node names, hint."""
    total = sum(len(items) for _, items in sections)
    lines = [f"{model}: {total} unsupported item(s) in {' and '.join(w for w, _ in sections)} (target {target}):"]
    for where, items in sections:
        if len(sections) > 1:
            lines.append(f"  {where}:")
        groups: dict[str, list] = {}
        for item in items:
            groups.setdefault(item.layer_type, []).append(item)
        for layer_type in sorted(groups):
            lines.append(f"  {layer_type} x{len(groups[layer_type])}")
            for i in groups[layer_type]:
                what = f": {i.attribute}={i.value!r}" if i.attribute is not None else ""
                lines.append(f"    - {i.layer}{what}" + (f" -- {i.hint}" if i.hint else ""))
    return "\n".join(lines)


@main.command()
def formats():
    """List the formats nnconvert reads and writes."""
    from ..support import formats_table

    echo(formats_table())


@main.command()
@click.option("--markdown", is_flag=True, help="Print a Markdown table (as in the README).")
def ops(markdown):
    """List every IR op, which importers produce it and which exporters accept it."""
    from ..support import ops_table

    echo(ops_table(markdown=markdown))
