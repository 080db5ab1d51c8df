"""Walk a Keras model config (Functional or Sequential, nested at any depth) and call
one handler per layer call, in dependency order."""
from __future__ import annotations

from dataclasses import dataclass, field

from ...errors import ModelLoadError, UnsupportedAttributeError
from ...plugins import is_plugin_key
from .archive import LayerWeights, to_snake_case
from .context import Call, KerasContext, Ref
from . import masks
from .registry import KERAS_LAYERS

MODEL_CLASSES = ("Functional", "Model", "Sequential")
INPUT_CLASSES = ("InputLayer",)
# Classes that run Python from the file: never executed, always reported.
CODE_CLASSES = ("Lambda", "TFOpLambda", "SlicingOpLambda")
# Keras 3 records operations applied to tensors (``x + 3.0``, ``ops.mean``) as nodes of
# these modules; they are not layers, and their class names clash with layers ("Add").
OPS_MODULES = ("keras.src.ops.", "keras.ops.")
OPS_PREFIX = "ops."  # registry key of an operation node: "ops." + class name
REGISTERED_MARK = ">"  # a class registered by the user is written "package>name"

# Layer classes keras.applications defines for its own models: class -> (module, config keys).
APPLICATION_CLASSES = {
    "CustomScaleLayer": ("keras.src.applications.inception_resnet_v2", {"name", "trainable", "dtype", "scale"}),
}

Key = tuple  # (layer name, node index, tensor index)


class Poisoned(Ref):
    """The output of a layer that could not be converted; its consumers are skipped."""


@dataclass
class Walk:
    """Bookkeeping shared by the whole walk."""

    ctx: KerasContext
    file: str
    input_shapes: dict | None = None
    inputs: list[tuple[str, Ref]] = field(default_factory=list)  # top-level graph inputs
    layer_outputs: dict[str, list] = field(default_factory=dict)  # path -> [(node, tensor, Ref)]
    # Pre-flight only: an unsupported layer passes its first input through (taken to keep its
    # shape), so the layers after it are imported and an exporter can be checked on them.
    bridge: bool = False
    gaps: list = field(default_factory=list)  # the unsupported items a bridged walk passed over


def convert_model(walk: Walk, model_cfg: dict, weights: LayerWeights) -> list[tuple[str, Ref]]:
    """Convert the top-level model; returns (output name, Ref) pairs."""
    cls = model_cfg.get("class_name")
    cfg = model_cfg.get("config", {})
    if cls == "Sequential":
        first = _sequential_input(walk, cfg, model_cfg)
        outs = sequential(walk, cfg, weights, [first], prefix="")
        return [(_last_layer_name(cfg), outs[0])]
    if cls in ("Functional", "Model"):
        return functional(walk, cfg, weights, None, prefix="")
    raise ModelLoadError(walk.file, f"top-level object is a {cls!r}, not a Keras model")


# -- Functional ------------------------------------------------------------------
def functional(walk: Walk, cfg: dict, weights: LayerWeights, inputs: list[Ref] | None, prefix: str):
    layers = cfg.get("layers", [])
    groups = _group_names(layers, sequential=False)
    tensors: dict[Key, Ref] = {}
    calls = []
    input_keys = [tuple(k[:3]) for k in as_list_of_keys(cfg.get("input_layers", []))]
    for lc in layers:
        name = lc.get("name") or lc["config"]["name"]
        if lc["class_name"] in INPUT_CLASSES:
            if inputs is None:
                tensors[(name, 0, 0)] = _graph_input(walk, name, lc["config"])
            continue
        for k, node in enumerate(lc.get("inbound_nodes", [])):
            args, kwargs = _parse_node(node)
            calls.append((lc, name, k, args, kwargs, node))
    if inputs is not None:
        if len(inputs) != len(input_keys):
            raise ModelLoadError(walk.file, f"nested model {prefix!r} takes {len(input_keys)} inputs, got {len(inputs)}")
        for key, ref in zip(input_keys, inputs):
            tensors[key] = ref
    pending = calls
    while pending:
        rest = []
        for item in pending:
            lc, name, k, args, kwargs, node = item
            needed = args + [t for ts in kwargs.values() for t in ts]
            if not all(_known(tensors, t) for t in needed):
                rest.append(item)
                continue
            ins = [_lookup(tensors, t) for t in args]
            kws = {kk: [_lookup(tensors, t) for t in ts] for kk, ts in kwargs.items()}
            lw = weights.sublayer(name, groups.get(name))
            outs = call_layer(walk, lc, name, prefix, ins, kws, lw, k, _operands(node, tensors), _options(node))
            for i, r in enumerate(outs):
                tensors[(name, k, i)] = r
            if isinstance(outs, _PoisonList):
                tensors[(name, k, "*")] = outs.poison
        if len(rest) == len(pending):
            missing = sorted({t[0] for it in rest for t in it[3] if not _known(tensors, t)})
            raise ModelLoadError(walk.file, f"model config is inconsistent: layers {missing} are never produced")
        pending = rest
    outs = []
    for key in as_list_of_keys(cfg.get("output_layers", [])):
        outs.append((key[0], _lookup(tensors, tuple(key[:3]))))
    return outs if inputs is None else [r for _, r in outs]


def _known(tensors, key) -> bool:
    return key in tensors or (key[0], key[1], "*") in tensors


def _lookup(tensors, key) -> Ref:
    return tensors[key] if key in tensors else tensors[(key[0], key[1], "*")]


class _PoisonList(list):
    poison: Ref


def as_list_of_keys(v) -> list:
    if v and isinstance(v[0], str):  # a single [name, node, tensor]
        return [v]
    return list(v)


def _parse_node(node) -> tuple[list[Key], dict[str, list[Key]]]:
    """Inputs and tensor keyword arguments of one inbound node, in either config dialect."""
    if isinstance(node, dict):  # Keras 3: {"args": [...], "kwargs": {...}}
        args: list[Key] = []
        for a in node.get("args", []):
            args += _tensors_in(a)
        kwargs = {k: _tensors_in(v) for k, v in node.get("kwargs", {}).items()}
        return args, {k: v for k, v in kwargs.items() if v}
    # tf.keras 2: [[name, node_index, tensor_index, kwargs], ...]
    args = [(e[0], int(e[1]), int(e[2])) for e in node]
    return args, {}


def _operands(node, tensors) -> list:
    """The positional arguments of a Keras 3 call, tensors as Refs and constants as they
    are (an operation node's ``x + 3.0`` keeps its 3.0); [] for tf.keras 2 nodes."""
    if not isinstance(node, dict):
        return []

    def sub(v):
        if isinstance(v, dict) and v.get("class_name") == "__keras_tensor__":
            h = v["config"]["keras_history"]
            return _lookup(tensors, (h[0], int(h[1]), int(h[2])))
        if isinstance(v, list):
            return [sub(x) for x in v]
        return v

    return [sub(a) for a in node.get("args", [])]


def _options(node) -> dict:
    """The constant keyword arguments of a Keras 3 call (``use_causal_mask=True``)."""
    if not isinstance(node, dict):
        return {}
    return {k: v for k, v in node.get("kwargs", {}).items() if not _tensors_in(v)}


def _tensors_in(v) -> list[Key]:
    if isinstance(v, dict):
        if v.get("class_name") == "__keras_tensor__":
            h = v["config"]["keras_history"]
            return [(h[0], int(h[1]), int(h[2]))]
        return [t for x in v.values() for t in _tensors_in(x)]
    if isinstance(v, (list, tuple)):
        return [t for x in v for t in _tensors_in(x)]
    return []


def _group_names(layers: list[dict], sequential: bool) -> dict[str, str]:
    """The weights-file group of each layer: snake-cased class name, made unique in order."""
    used: dict[str, int] = {}
    out = {}
    for lc in layers:
        if sequential and lc["class_name"] in INPUT_CLASSES:
            continue
        g = to_snake_case(lc["class_name"])
        if g in used:
            used[g] += 1
            g = f"{g}_{used[g]}"
        else:
            used[g] = 0
        out[lc.get("name") or lc["config"]["name"]] = g
    return out


# -- Sequential ------------------------------------------------------------------
def sequential(walk: Walk, cfg: dict, weights: LayerWeights, inputs: list[Ref], prefix: str) -> list[Ref]:
    layers = cfg.get("layers", [])
    groups = _group_names(layers, sequential=True)
    x = inputs
    for lc in layers:
        if lc["class_name"] in INPUT_CLASSES:
            continue
        name = lc["config"]["name"]
        x = call_layer(walk, lc, name, prefix, x, {}, weights.sublayer(name, groups.get(name)), 0)
    return x


def _sequential_input(walk: Walk, cfg: dict, model_cfg: dict) -> Ref:
    layers = cfg.get("layers", [])
    if layers and layers[0]["class_name"] in INPUT_CLASSES:
        return _graph_input(walk, layers[0]["config"]["name"], layers[0]["config"])
    first = layers[0]["config"] if layers else {}
    shape = first.get("batch_input_shape") or (model_cfg.get("build_config") or {}).get("input_shape")
    if shape is None:
        raise ModelLoadError(walk.file, "Sequential model was never built: its input shape is unknown")
    name = f"{first.get('name', 'input')}_input"
    return _graph_input(walk, name, {"batch_shape": shape, "dtype": first.get("dtype", "float32")})


def _last_layer_name(cfg: dict) -> str:
    return cfg["layers"][-1]["config"]["name"]


def _graph_input(walk: Walk, name: str, cfg: dict) -> Ref:
    shape = cfg.get("batch_shape") or cfg.get("batch_input_shape")
    if shape is None:
        raise ModelLoadError(walk.file, f"input {name!r} has no shape")
    shape = tuple(shape)
    if walk.input_shapes and name in walk.input_shapes:
        given = tuple(walk.input_shapes[name])
        shape = given if len(given) == len(shape) else (None,) + given
    from ... import limits

    limits.check_dims(walk.file, f"input {name!r}", shape)
    dtype = cfg.get("dtype", "float32")
    if isinstance(dtype, dict):
        dtype = dtype.get("config", {}).get("name", "float32")
    name = walk.ctx.b.unique(name)
    ref = Ref(shape, str(dtype), {}, input_name=name)
    walk.inputs.append((name, ref))
    return ref


# -- one layer call --------------------------------------------------------------
def call_layer(walk: Walk, lc: dict, name: str, prefix: str, inputs: list[Ref], kwargs: dict,
               weights: LayerWeights, node_index: int, operands: list | None = None,
               options: dict | None = None) -> list[Ref]:
    cls = lc["class_name"]
    if _is_operation(lc):
        cls = OPS_PREFIX + cls
    cfg = lc.get("config", {})
    path = f"{prefix}{name}"
    b = walk.ctx.b
    poisoned = any(isinstance(r, Poisoned) for r in inputs)
    if cls in ("Functional", "Model"):
        if poisoned:
            return _poison()
        outs = functional(walk, cfg, weights, inputs, prefix=path + "/")
        walk.layer_outputs.setdefault(path, []).extend((node_index, i, r) for i, r in enumerate(outs))
        return outs
    if cls == "Sequential":
        if poisoned:
            return _poison()
        return sequential(walk, cfg, weights, inputs, prefix=path + "/")
    handler = KERAS_LAYERS.lookup(cls)
    user_class = _custom_class(lc)
    plugin_key = next((k for k in (lc.get("registered_name"), cls) if is_plugin_key("keras", k)), None)
    if plugin_key is not None:  # a plugin provides this custom class (or this Lambda)
        handler = KERAS_LAYERS.lookup(plugin_key)
    elif handler is None or cls in CODE_CLASSES or user_class:
        custom = user_class or str(lc.get("module") or "keras").split(".")[0] != "keras"
        why = ("runs Python code stored in the file; never executed" if cls in CODE_CLASSES else
               _custom_hint(lc, cls, builtin=handler is not None) if custom else
               "no converter for this Keras operation" if cls.startswith(OPS_PREFIX) else
               "no converter for this Keras layer")
        b.unsupported(path, cls, hint=why)
        return _bridged(walk, inputs)
    if any(isinstance(r, Poisoned) for r in inputs) or any(isinstance(r, Poisoned) for rs in kwargs.values() for r in rs):
        return _poison()  # its class is fine; its input could not be converted
    call = Call(cls, name, path, cfg, inputs, kwargs, weights, walk.file, operands or [], options or {})
    walk.ctx.begin(call)
    try:
        if not cls.startswith(OPS_PREFIX):  # an operation's "dtype" is its argument (ops.cast), not a policy
            _check_common(cfg)
        outs = handler(walk.ctx, call)
        masks.propagate(call, outs)
    except UnsupportedAttributeError as e:
        b.attribute_error(path, cls, e)
        return _bridged(walk, inputs)
    finally:
        b.source = None
    walk.layer_outputs.setdefault(path, []).extend((node_index, i, r) for i, r in enumerate(outs))
    return outs


def _custom_hint(lc: dict, cls: str, builtin: bool) -> str:
    registered = lc.get("registered_name") or cls
    named = f" {registered!r}" if REGISTERED_MARK in registered else ""
    clash = f", not Keras' own {cls}" if builtin else ""
    return f"custom layer class{named}{clash}; a plugin can provide it (nnconvert --plugin FILE.py)"


def _custom_class(lc: dict) -> bool:
    """A user's class, whatever its class name: ``.keras`` files (Keras 3 and tf-keras) write
    Keras' classes with a ``keras.*`` module, and a class of the user's with module None and a
    registered name (its class name, or ``package>name``), a ``Dense`` of the user's included.
    Legacy ``.h5`` files write only the class name: a registered class of the user's is
    ``package>name`` there (a registered name without a module is no Keras writer's either);
    an unregistered subclass named like a built-in leaves no trace in the file (tf-keras
    itself reloads it as the built-in)."""
    registered = lc.get("registered_name")
    if registered not in (None, lc["class_name"]) or REGISTERED_MARK in lc["class_name"]:
        return True
    if registered is not None and "module" not in lc:
        return True
    if "module" in lc and not _is_operation(lc) and str(lc.get("module") or "").split(".")[0] != "keras":
        return True
    return _not_application_class(lc)


def _not_application_class(lc: dict) -> bool:
    """A class keras.applications defines in one of its modules (not a public layer), met
    under that name but not from that module: a user's class of the same name. Legacy
    ``.h5`` files drop the module; there the config must hold exactly the class's keys."""
    want = APPLICATION_CLASSES.get(lc["class_name"])
    if want is None:
        return False
    module, keys = want
    if lc.get("module"):
        return lc["module"] != module
    return set(lc.get("config") or {}) != keys


def _is_operation(lc: dict) -> bool:
    """A Keras 3 operation node rather than a layer. Its module says so in ``.keras``
    configs; legacy ``.h5`` files written by Keras 3 drop the module, but an operation's
    config has none of the keys every layer config has (``trainable``, ``dtype``)."""
    module = lc.get("module")
    if module:
        return str(module).startswith(OPS_MODULES)
    cfg = lc.get("config") or {}
    nodes = lc.get("inbound_nodes") or []
    return (bool(nodes) and isinstance(nodes[0], dict) and "trainable" not in cfg and "dtype" not in cfg
            and OPS_PREFIX + lc["class_name"] in KERAS_LAYERS)


def _check_common(cfg: dict) -> None:
    dtype = cfg.get("dtype")
    if isinstance(dtype, dict):
        dtype = dtype.get("config", {}).get("name")
    if dtype not in (None, "float32"):
        raise UnsupportedAttributeError("dtype", dtype, "only float32 layers are supported")


def _bridged(walk: Walk, inputs: list) -> list:
    if walk.bridge and inputs and not any(isinstance(r, Poisoned) for r in inputs):
        return [inputs[0]]
    return _poison()


def _poison() -> list:
    p = Poisoned(())
    out = _PoisonList()
    out.poison = p
    return out
