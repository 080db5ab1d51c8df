"""Bad Caffe input: every problem reported, precisely, before anything is written."""
from __future__ import annotations

import numpy as np
import pytest

from convert.errors import ModelLoadError, UnsupportedError
from convert.importers.caffe import from_caffe, load
from caffe_cases import write_caffemodel

HEAD = 'input: "x"\ninput_shape { dim: 1 dim: 2 dim: 5 dim: 5 }\n'
CONV = ('layer { name: "conv" type: "Convolution" bottom: "x" top: "conv"\n'
        '  convolution_param { num_output: 3 kernel_size: 3 } }\n')


def _write(tmp_path, text: str, name: str = "deploy.prototxt") -> str:
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_malformed_prototxt_gives_line_and_column(tmp_path):
    path = _write(tmp_path, HEAD + 'layer {\n  name: "r"\n  type: "ReLU"\n  bottom "x"\n}\n')
    with pytest.raises(ModelLoadError) as e:
        from_caffe(path, allow_missing_weights=True)
    assert "line 6, column" in str(e.value), str(e.value)


def test_blob_shape_mismatch_names_layer_and_both_shapes(tmp_path):
    path = _write(tmp_path, HEAD + CONV)
    w = tmp_path / "w.caffemodel"
    write_caffemodel(w, {"conv": [np.zeros((3, 2, 5, 5), np.float32), np.zeros(3, np.float32)]})
    with pytest.raises(ModelLoadError) as e:
        from_caffe(path, str(w))
    msg = str(e.value)
    assert "'conv'" in msg and "(3, 2, 5, 5)" in msg and "(3, 2, 3, 3)" in msg, msg


def test_missing_layer_weights_is_an_error(tmp_path):
    path = _write(tmp_path, HEAD + CONV)
    w = tmp_path / "w.caffemodel"
    write_caffemodel(w, {})
    with pytest.raises(ModelLoadError, match="'conv'.*no weights"):
        from_caffe(path, str(w))


def test_prototxt_without_weights_needs_the_flag(tmp_path):
    path = _write(tmp_path, HEAD + CONV)
    with pytest.raises(ModelLoadError, match="no caffemodel"):
        from_caffe(path)
    loaded = load(path, allow_missing_weights=True)
    assert any("zero-filled" in w and "conv" in w for w in loaded.warnings)
    assert loaded.run is None and loaded.framework_version == "caffe (no runtime)"


def test_unsupported_layers_all_listed_with_counts_and_python_by_name(tmp_path):
    body = HEAD + (
        'layer { name: "a" type: "Foo" bottom: "x" top: "a" }\n'
        'layer { name: "b" type: "Foo" bottom: "a" top: "b" }\n'
        'layer { name: "c" type: "Bar" bottom: "b" top: "c" }\n'
        'layer { name: "py" type: "Python" bottom: "c" top: "d" python_param { module: "evil" layer: "X" } }\n')
    with pytest.raises(UnsupportedError) as e:
        from_caffe(_write(tmp_path, body), allow_missing_weights=True)
    err = e.value
    assert sorted(i.layer for i in err.items) == ["a", "b", "c", "py"]
    msg = str(err)
    assert "Foo x2" in msg and "Bar x1" in msg and "Python x1" in msg
    assert "py (Python)" in msg and "evil" in msg and "never executed" in msg


def test_unsupported_attribute_named(tmp_path):
    body = HEAD + 'layer { name: "p" type: "Pooling" bottom: "x" top: "p" pooling_param { pool: STOCHASTIC kernel_size: 2 } }\n'
    with pytest.raises(UnsupportedError, match=r"p \(Pooling\): pool='STOCHASTIC'"):
        from_caffe(_write(tmp_path, body), allow_missing_weights=True)


def test_unknown_fields_are_reported_not_fatal(tmp_path):
    body = HEAD + ('layer { name: "r" type: "ReLU" bottom: "x" top: "r"\n'
                   '  my_fork_param { speed: 3 nested { a: 1 } }\n  engine_hint: 2 }\n')
    loaded = load(_write(tmp_path, body), allow_missing_weights=True)
    unknown = [w for w in loaded.warnings if "unknown field" in w]
    assert len(unknown) == 2, loaded.warnings
    assert "caffe.LayerParameter.my_fork_param (line 4" in unknown[0]
    assert "engine_hint (line 5" in unknown[1]


@pytest.mark.parametrize("data", [b"\x0a\xff\xff\xff", b"\xa2\x06\x10garbage", b"\x07"], ids=["truncated", "overrun", "bad-wire-type"])
def test_corrupt_caffemodel(tmp_path, data):
    p = tmp_path / "bad.caffemodel"
    p.write_bytes(data)
    with pytest.raises(ModelLoadError, match="caffemodel"):
        from_caffe(None, str(p))


def test_v1_layers_with_unknown_enum_free_types(tmp_path):
    # Legacy V1 text: enum layer types, input_dim; upgraded to current type strings.
    body = ('input: "x"\ninput_dim: 1\ninput_dim: 2\ninput_dim: 3\ninput_dim: 3\n'
            'layers { name: "r" type: RELU bottom: "x" top: "r" }\n'
            'layers { name: "s" type: SOFTMAX bottom: "r" top: "s" }\n')
    g = from_caffe(_write(tmp_path, body), allow_missing_weights=True)
    assert [n.op for n in g.nodes] == ["Relu", "Softmax"]
    assert [n.source.layer_type for n in g.nodes] == ["ReLU", "Softmax"]
