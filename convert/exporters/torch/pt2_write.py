"""``.pt2`` writing that streams each weight from its own storage into the archive.

``torch.export.save`` (the archive layout of torch 2.8 and newer) copies every storage into
a ``bytes`` object, which the zip writer's binding copies once more: about twice the largest
weight on top of the model at the peak (2.66x the weight bytes for a model of 256 MiB
layers). This writer lays out the same archive, record for record and byte for byte, with
torch's own zip writer and program serialiser, but hands each storage to the zip writer as
it is. Where torch lacks those pieces (2.6 and 2.7 write the older layout, a pickled state
dict) or the program holds something torch pickles (tensor subclasses, script objects,
tensors off the CPU), ``torch.export.save`` writes the file as before."""
from __future__ import annotations

import inspect
import json
import os
import types
from pathlib import Path
from typing import Any

MODEL_NAME = "model"  # the name torch.export.save gives the single program of an archive


def save_program(program: Any, path: str | Path) -> None:
    """Write ``program`` (an ``ExportedProgram``) to ``path`` as ``torch.export.save`` does."""
    import torch

    from ...files import check_space

    check_space(path, _weight_bytes(program))
    api = _archive_api()
    if api is None or not _plain(program):
        torch.export.save(program, str(path))
        return
    writer = api.PT2ArchiveWriter(os.fspath(path))
    try:
        _write_program(api, writer, program)
        writer.__exit__(None, None, None)  # the archive's format records, then its end
    except BaseException as e:
        # torch's writer, left unfinished, writes its end again when collected, and a
        # second failure there aborts the process (a full disk did): end it now, quietly.
        try:
            writer.archive_file.write_end_of_file()
        except Exception:
            pass
        if isinstance(e, RuntimeError) and any(m in str(e) for m in _WRITE_FAILURES):
            from ...errors import OutputWriteError

            raise OutputWriteError(str(path), f"torch's archive writer failed ({str(e).splitlines()[0]})") from e
        raise


# how torch's zip writer words a failed write of the file (its errors are RuntimeErrors)
_WRITE_FAILURES = ("iostream error", "unexpected pos", "failed writing file")


def _write_program(api: Any, writer: Any, program: Any) -> None:
    for tensors, folder, prefix, config_file in (
            (program.state_dict, api.WEIGHTS_DIR, api.WEIGHT_FILENAME_PREFIX,
             api.WEIGHTS_CONFIG_FILENAME_FORMAT),
            (program.constants, api.CONSTANTS_DIR, api.TENSOR_CONSTANT_FILENAME_PREFIX,
             api.CONSTANTS_CONFIG_FILENAME_FORMAT)):
        config = _write_tensors(api, writer, tensors, folder, prefix)
        payload = api.schema.PayloadConfig(config=config)
        writer.write_string(config_file.format(MODEL_NAME), json.dumps(api._dataclass_to_dict(payload)))
    artifact = api.serialize(program, None, api.DEFAULT_PICKLE_PROTOCOL, serialize_state_dict=False,
                             serialize_constants=False)
    writer.write_bytes(api.MODELS_FILENAME_FORMAT.format(MODEL_NAME), artifact.exported_program)
    writer.write_bytes(api.SAMPLE_INPUTS_FILENAME_FORMAT.format(MODEL_NAME), artifact.example_inputs)


def _write_tensors(api: Any, writer: Any, tensors: dict, folder: str, prefix: str) -> dict:
    """One record per storage (tensors sharing one are written once, as torch does: the
    whole storage, each tensor's sizes, strides and offset in its metadata); the config."""
    groups: dict[tuple, list[str]] = {}
    for name, t in tensors.items():
        groups.setdefault((t.untyped_storage().data_ptr(), t.dtype), []).append(name)
    config = {}
    for idx, names in enumerate(groups.values()):
        path_name = f"{prefix}{idx}"
        record = os.path.join(folder, path_name)
        storage = tensors[names[0]].untyped_storage()
        if storage.data_ptr() and storage.nbytes():
            writer.archive_file.write_record(record, storage, storage.nbytes())  # no copy
        else:
            writer.write_bytes(record, b"")
        for name in names:
            t = tensors[name]
            config[name] = api.schema.PayloadMeta(path_name=path_name, is_param=isinstance(t, api.Parameter),
                                                  use_pickle=False, tensor_meta=api.serialize_tensor_meta(t))
    return config


def _weight_bytes(program: Any) -> int:
    """Bytes of the distinct storages the archive will hold."""
    seen = {}
    for t in list(program.state_dict.values()) + list(program.constants.values()):
        storage = getattr(t, "untyped_storage", None)
        if storage is not None:
            s = storage()
            seen[(s.data_ptr(), s.nbytes())] = s.nbytes()
    return sum(seen.values())


def _plain(program: Any) -> bool:
    """Only dense CPU tensors of torch's own class: what the archive holds as raw bytes."""
    import torch

    values = list(program.state_dict.values()) + list(program.constants.values())
    return all(isinstance(t, torch.Tensor) and type(t.data) is torch.Tensor and t.device.type == "cpu"
               and t.layout == torch.strided for t in values)


def _archive_api() -> Any:
    """torch's archive pieces this writer uses, or None where this torch lacks one."""
    try:
        import torch
        from torch._export.serde import schema
        from torch._export.serde.serialize import _dataclass_to_dict, serialize, serialize_tensor_meta
        from torch.export.pt2_archive import _package, constants
    except ImportError:
        return None
    if "serialize_state_dict" not in inspect.signature(serialize).parameters or not hasattr(
            schema, "PayloadConfig"):
        return None
    names = ("WEIGHTS_DIR", "WEIGHT_FILENAME_PREFIX", "WEIGHTS_CONFIG_FILENAME_FORMAT", "CONSTANTS_DIR",
             "TENSOR_CONSTANT_FILENAME_PREFIX", "CONSTANTS_CONFIG_FILENAME_FORMAT", "MODELS_FILENAME_FORMAT",
             "SAMPLE_INPUTS_FILENAME_FORMAT")
    if not all(hasattr(constants, n) for n in names) or not hasattr(_package, "PT2ArchiveWriter"):
        return None
    return types.SimpleNamespace(
        schema=schema, serialize=serialize, serialize_tensor_meta=serialize_tensor_meta,
        _dataclass_to_dict=_dataclass_to_dict, PT2ArchiveWriter=_package.PT2ArchiveWriter,
        DEFAULT_PICKLE_PROTOCOL=getattr(_package, "DEFAULT_PICKLE_PROTOCOL", 2), Parameter=torch.nn.Parameter,
        **{n: getattr(constants, n) for n in names})
