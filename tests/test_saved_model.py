"""IR -> TensorFlow SavedModel (--to saved-model): written through the Keras export and
model.export(), loaded with tf.saved_model.load and compared against the SOURCE torch model."""
from __future__ import annotations

import numpy as np
import pytest

from helpers import assert_close

torch = pytest.importorskip("torch")
pytest.importorskip("tensorflow")


@pytest.mark.slow
def test_saved_model_matches_torch(tmp_path):
    import convert
    from convert.api import export
    from convert.exporters.keras.saved_model import runner

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 6, 3, stride=2, padding=1), torch.nn.BatchNorm2d(6),
                              torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                              torch.nn.Linear(6, 4))
    net.train()
    with torch.no_grad():  # BatchNorm statistics from a batch
        net(torch.randn(8, 3, 11, 9) * 2 + 1)
    net.eval()
    graph = convert.from_torch(net, (torch.randn(2, 3, 11, 9),))
    files = export(graph, tmp_path / "sm", fmt="saved-model")
    assert (tmp_path / "sm" / "saved_model.pb").exists() and files
    run = runner(str(tmp_path / "sm"), graph=graph)
    for batch in (1, 3):
        x = torch.randn(batch, 3, 11, 9)
        with torch.no_grad():
            ref = net(x).numpy()
        got = run({graph.inputs[0].name: x.numpy()})[graph.outputs[0].name]
        assert_close(got, ref, 1e-4, 1e-5, f"batch {batch}")
    assert np.abs(run({graph.inputs[0].name: np.zeros((1, 3, 11, 9), np.float32)})[graph.outputs[0].name]
                  - ref[:1]).max() > 1e-2  # the output depends on the input
