"""Recurrent Keras layers: LSTM / GRU / SimpleRNN options and Bidirectional merge modes,
checked against Keras on random weights and inputs."""
from __future__ import annotations

import pytest

from keras_cases import check, keras, make_inputs, randomize, seq_model

pytest.importorskip("keras")
L = keras().layers


def _with_initial_state(kind, units, **kw):
    k = keras()
    x = k.Input((5, 3), name="seq")
    states = [k.Input((units,), name=f"s{i}") for i in range(2 if kind is L.LSTM else 1)]
    y = kind(units, **kw)(x, initial_state=states)
    return k.Model([x, *states], y)


def _bidir_with_state():
    k = keras()
    x = k.Input((5, 3), name="seq")
    outs = L.Bidirectional(L.LSTM(4, return_sequences=True, return_state=True))(x)
    return k.Model(x, outs)


def _state_then_default_named_layers():
    # The names Keras gives by default in a fresh session (spelled out: its counters run on
    # across a test session): the first LSTM's three outputs are numbered lstm_0..lstm_2,
    # and the second LSTM layer is itself called "lstm_1".
    k = keras()
    x = k.Input((5, 3), name="seq")
    seq, h, c = L.LSTM(4, return_sequences=True, return_state=True, name="lstm")(x)
    bi = L.Bidirectional(L.GRU(3, return_sequences=True))(seq)
    back = L.GRU(2, go_backwards=True, reset_after=False)(bi)
    back_seq = L.LSTM(2, go_backwards=True, return_sequences=True, name="lstm_1")(bi)
    return k.Model(x, [seq, h, c, back, back_seq])


CASES = {
    "lstm_last": lambda: seq_model((5, 3), L.LSTM(4)),
    "lstm_sequences": lambda: seq_model((5, 3), L.LSTM(4, return_sequences=True)),
    "lstm_go_backwards_sequences": lambda: seq_model((5, 3), L.LSTM(4, return_sequences=True, go_backwards=True)),
    "lstm_go_backwards_last": lambda: seq_model((5, 3), L.LSTM(4, go_backwards=True)),
    "lstm_return_state": lambda: seq_model((5, 3), L.LSTM(4, return_state=True)),
    "lstm_sequences_state": lambda: seq_model((5, 3), L.LSTM(4, return_sequences=True, return_state=True)),
    "lstm_initial_state": lambda: _with_initial_state(L.LSTM, 4, return_sequences=True),
    "lstm_no_bias": lambda: seq_model((5, 3), L.LSTM(4, use_bias=False)),
    "lstm_stacked": lambda: seq_model((5, 3), L.LSTM(4, return_sequences=True), L.LSTM(3, return_sequences=True)),
    "lstm_relu": lambda: seq_model((5, 3), L.LSTM(4, activation="relu", return_sequences=True)),
    "gru_reset_after": lambda: seq_model((5, 3), L.GRU(4, return_sequences=True)),
    "gru_reset_before": lambda: seq_model((5, 3), L.GRU(4, reset_after=False, return_sequences=True)),
    "gru_go_backwards": lambda: seq_model((5, 3), L.GRU(4, go_backwards=True, return_sequences=True)),
    "gru_return_state": lambda: seq_model((5, 3), L.GRU(4, return_state=True)),
    "gru_initial_state": lambda: _with_initial_state(L.GRU, 4),
    "gru_reset_before_backwards_last": lambda: seq_model((5, 3), L.GRU(4, reset_after=False, go_backwards=True)),
    "simple_rnn_sequences": lambda: seq_model((5, 3), L.SimpleRNN(4, return_sequences=True)),
    "simple_rnn_backwards_relu": lambda: seq_model((5, 3), L.SimpleRNN(4, activation="relu", go_backwards=True)),
    "simple_rnn_state": lambda: seq_model((5, 3), L.SimpleRNN(4, return_state=True)),
    "simple_rnn_initial_state": lambda: _with_initial_state(L.SimpleRNN, 4),
    "bidir_lstm_concat_seq": lambda: seq_model((5, 3), L.Bidirectional(L.LSTM(4, return_sequences=True))),
    "bidir_lstm_concat_last": lambda: seq_model((5, 3), L.Bidirectional(L.LSTM(4))),
    "bidir_lstm_sum": lambda: seq_model((5, 3), L.Bidirectional(L.LSTM(4, return_sequences=True), merge_mode="sum")),
    "bidir_lstm_mul": lambda: seq_model((5, 3), L.Bidirectional(L.LSTM(4, return_sequences=True), merge_mode="mul")),
    "bidir_lstm_ave_last": lambda: seq_model((5, 3), L.Bidirectional(L.LSTM(4), merge_mode="ave")),
    "bidir_lstm_none": lambda: seq_model((5, 3), L.Bidirectional(L.LSTM(4, return_sequences=True), merge_mode=None)),
    "bidir_lstm_state": _bidir_with_state,
    "lstm_state_default_names": _state_then_default_named_layers,
    "bidir_gru_concat": lambda: seq_model((5, 3), L.Bidirectional(L.GRU(4, return_sequences=True))),
    "bidir_gru_reset_before_sum": lambda: seq_model((5, 3), L.Bidirectional(L.GRU(4, reset_after=False), merge_mode="sum")),
    "bidir_simple_rnn": lambda: seq_model((5, 3), L.Bidirectional(L.SimpleRNN(4, return_sequences=True))),
    "time_distributed_dense": lambda: seq_model((5, 3), L.TimeDistributed(L.Dense(4, activation="relu"))),
    "time_distributed_conv2d": lambda: seq_model((3, 6, 6, 2), L.TimeDistributed(L.Conv2D(4, 3, padding="same"))),
    "time_distributed_conv_then_lstm": lambda: seq_model(
        (3, 4, 4, 2), L.TimeDistributed(L.Conv2D(2, 3)), L.TimeDistributed(L.Flatten()), L.LSTM(3)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_recurrent_from_keras_file(case, tmp_path):
    from convert.importers.keras import load

    model = CASES[case]()
    randomize(model)
    path = tmp_path / "m.keras"
    model.save(path)
    check(load(str(path)).graph, model, make_inputs(model))


def test_output_names_unique_with_default_layer_names(tmp_path):
    from convert.importers.keras import load

    model = _state_then_default_named_layers()
    randomize(model)
    path = tmp_path / "m.keras"
    model.save(path)
    graph = load(str(path)).graph
    names = [v.name for v in graph.outputs]
    assert len(set(names)) == 5 and names[-1] == "lstm_1", names
    check(graph, model, make_inputs(model))


@pytest.mark.parametrize("case", ["lstm_go_backwards_sequences", "gru_reset_before", "bidir_lstm_concat_seq"])
def test_recurrent_from_h5_file(case, tmp_path):
    from convert.importers.keras import load

    model = CASES[case]()
    randomize(model)
    path = tmp_path / "m.h5"
    model.save(path)
    check(load(str(path)).graph, model, make_inputs(model))
