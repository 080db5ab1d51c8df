"""limits._text_depth (the nesting bound checked before json.loads) agrees with a plain
character-by-character scan on any text, valid JSON or not."""
from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from convert import limits


def _scan(text: str) -> int:
    """The specification: brackets outside strings, escapes only inside strings, an
    unterminated string hiding the rest."""
    depth = best = 0
    in_str = esc = False
    for ch in text:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            best = max(best, depth)
        elif ch in "]}":
            depth -= 1
    return best


JSONISH = st.text(alphabet=st.sampled_from('[]{}"\\\n ,:aé1'), max_size=60)
VALUES = st.recursive(st.none() | st.integers() | st.text(alphabet='[]{}"\\a', max_size=5),
                      lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(alphabet='[]{}"\\b', max_size=3), c,
                                                                          max_size=3), max_leaves=12)


@settings(max_examples=300, derandomize=True, database=None)
@given(JSONISH)
def test_any_text(text):
    assert limits._text_depth(text) == _scan(text)
    assert limits._text_depth(text.encode()) == _scan(text)


@settings(max_examples=100, derandomize=True, database=None)
@given(VALUES)
def test_valid_json_depth_is_the_parsed_depth(value):
    text = json.dumps(value)
    assert limits._text_depth(text) == _scan(text) == limits.json_depth(value)
