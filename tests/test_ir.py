"""IR: validation invariants, nnir save/load round trip, schema generated from the op table."""
import json

import numpy as np
import pytest

from convert.errors import InvalidGraphError
from convert.ir import load, save, validate
from convert.ir.graph import Graph, Node, Value
from convert.ir.schema import schema_text
from conftest import REPO
from ir_graphs import small_graph


def test_round_trip_is_exact(tmp_path):
    g = small_graph()
    save(g, tmp_path / "m.nnir")
    g2 = load(tmp_path / "m.nnir")
    assert g2.to_json() == g.to_json()
    for k, w in g.weights.items():
        assert g2.weights[k].dtype == w.dtype
        np.testing.assert_array_equal(g2.weights[k], w)
    # Saving again gives byte-identical files.
    save(g2, tmp_path / "m2.nnir")
    for f in ("graph.json", "weights.safetensors"):
        assert (tmp_path / "m.nnir" / f).read_bytes() == (tmp_path / "m2.nnir" / f).read_bytes()


def test_graph_json_validates_against_schema(tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    save(small_graph(), tmp_path / "m.nnir")
    doc = json.loads((tmp_path / "m.nnir" / "graph.json").read_text())
    schema = json.loads((REPO / "schemas" / "ir.schema.json").read_text())
    jsonschema.validate(doc, schema)
    doc["nodes"][0]["attrs"]["kernel_shape"] = "3x3"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema)


def test_checked_in_schema_matches_op_table():
    assert (REPO / "schemas" / "ir.schema.json").read_text() == schema_text(), \
        "schemas/ir.schema.json drifted: run python -m convert.ir.schema > schemas/ir.schema.json"


def _graph(nodes, weights=None, inputs=("x",), outputs=("y",)):
    return Graph("g", [Value(i, "float32", (1, 2)) for i in inputs], [Value(o) for o in outputs], nodes,
                 weights or {})


@pytest.mark.parametrize("nodes,invariant", [
    ([Node("Nope", "n", ["x"], ["y"])], "known op"),
    ([Node("Relu", "n", ["x"], ["y"], {"alpha": 1.0})], "known attribute"),
    ([Node("Softmax", "n", ["x"], ["y"], {"axis": 1.5})], "attribute type"),
    ([Node("Conv", "n", ["x"], ["y"], {"kernel_shape": [1]})], "input count"),
    ([Node("Conv", "n", ["x", "x"], ["y"], {})], "required attribute"),
    ([Node("Relu", "a", ["z"], ["y"]), Node("Relu", "b", ["x"], ["z"])], "topological order"),
    ([Node("Relu", "a", ["x"], ["y"]), Node("Relu", "a", ["x"], ["z"])], "unique names"),
    ([Node("Relu", "a", ["x"], ["y"]), Node("Relu", "b", ["x"], ["y"])], "single assignment"),
    ([Node("Relu", "a", ["x"], ["z"])], "outputs produced"),
    ([Node("Gelu", "a", ["x"], ["y"], {"approximate": "fast"})], "attribute value"),
])
def test_invariants(nodes, invariant):
    with pytest.raises(InvalidGraphError) as e:
        validate(_graph(nodes))
    assert e.value.invariant == invariant


def test_every_op_has_semantics_note():
    from convert.ir.optable import OPS

    assert all(spec.doc for spec in OPS.values())


def test_load_rejects_garbage(tmp_path):
    from convert.errors import ModelLoadError

    (tmp_path / "bad.nnir").mkdir()
    (tmp_path / "bad.nnir" / "graph.json").write_text("{not json")
    with pytest.raises(ModelLoadError):
        load(tmp_path / "bad.nnir")
