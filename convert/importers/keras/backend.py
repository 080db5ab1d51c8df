"""Importing Keras to run or write models: with the TensorFlow backend only.

Under the torch backend Keras fails inside its own code (``Can't call numpy() on Tensor
that requires grad`` when running, ``parameter name can't contain "."`` when building);
JAX is untested. One clear line beats either, and the ``[keras]`` extra installs
TensorFlow so verification works after ``pip install 'nnconvert[keras]'``."""
from __future__ import annotations

import os
import sys
from typing import Any

from ...errors import UsageError

BACKEND = "tensorflow"


def _refuse(backend: str) -> UsageError:
    return UsageError(f"Keras backend {backend!r} is not supported: nnconvert runs and writes Keras models "
                      f"with the {BACKEND} backend (others fail inside Keras); set KERAS_BACKEND={BACKEND}")


def import_keras() -> Any:
    """``keras``, with its backend checked (before importing it when Keras is not loaded yet)."""
    if "keras" not in sys.modules:
        os.environ.setdefault("KERAS_BACKEND", BACKEND)
        if os.environ["KERAS_BACKEND"] != BACKEND:
            raise _refuse(os.environ["KERAS_BACKEND"])
    try:
        import keras
    except ModuleNotFoundError as e:
        raise UsageError(f"running or writing Keras models needs Keras with TensorFlow (missing: {e.name}); "
                         "pip install 'nnconvert[keras]'") from e
    if keras.config.backend() != BACKEND:
        raise _refuse(keras.config.backend())
    return keras
