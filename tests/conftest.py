import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# Known gaps of torch 2.6 itself (the oldest torch tested): its torch.export records a
# stacked or state-initialised LSTM's hidden states with the wrong rank, and its torch.fx
# cannot pass a traced size to torch.zeros. Strict: a torch 2.6 that passes them shows up.
TORCH_26_GAPS = {
    "tests/test_torch_layers.py::test_layer_matches_torch_export[lstm_stacked_bidir]",
    "tests/test_torch_layers.py::test_layer_matches_torch_export[lstm_initial_states]",
    "tests/test_torch_models.py::test_model_matches_torch[seq2seq_lstm_states-export]",
    "tests/test_torch_fx.py::test_fx_pattern_matches_torch[optional_forward_argument]",
    "tests/test_torch_fx.py::test_fx_pattern_matches_torch[rnn_states_from_batch_size]",
}


def pytest_collection_modifyitems(config, items):
    from importlib import metadata

    try:
        old = metadata.version("torch").startswith("2.6.")
    except metadata.PackageNotFoundError:
        return
    if not old:
        return
    for item in items:
        if item.nodeid in TORCH_26_GAPS:
            item.add_marker(pytest.mark.xfail(strict=True, reason="torch 2.6's own export/fx gap (tests/conftest.py)"))
