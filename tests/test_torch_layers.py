"""The PyTorch importer's layer table: each case converted and compared with torch's own
output at several batch sizes (tests/torch_cases.py, tests/torch_layer_table.py)."""
from __future__ import annotations

import pytest

pytest.importorskip("torch")

from torch_cases import Case, check_case  # noqa: E402
from torch_layer_table import ALL, EXPORT  # noqa: E402


@pytest.mark.parametrize("case", ALL, ids=[c.id for c in ALL])
def test_layer_matches_torch(case: Case):
    check_case(case, "fx")


@pytest.mark.parametrize("case", EXPORT, ids=[c.id for c in EXPORT])
def test_layer_matches_torch_export(case: Case):
    check_case(case, "export")
