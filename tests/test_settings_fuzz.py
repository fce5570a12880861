"""Generated settings documents: a value anywhere in a valid document replaced by any JSON.
The check answers findings, never an exception; an apply writes all or nothing."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from consent_service.models import SettingsChange
from consent_service.sites import settings
from tests.conftest import count_rows
from tests.settings_support import document

JSON_SCALARS = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)


def paths(value: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [at] if at else []
    if isinstance(value, dict):
        for key, item in value.items():
            found.extend(paths(item, (*at, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(paths(item, (*at, index)))
    return found


PATHS = paths(document())


def mutated(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(document())
    target: Any = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return doc


@hypothesis_settings(max_examples=300, deadline=None)
@given(path=st.sampled_from(PATHS), value=JSON_VALUES)
def test_check_answers_findings_and_never_raises(path, value):
    prepared, findings = settings.check(mutated(path, value))
    if prepared is None:
        assert findings and all(
            item.pointer.startswith("/") or item.pointer == "" for item in findings
        )


@hypothesis_settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(path=st.sampled_from(PATHS), value=JSON_VALUES)
def test_apply_writes_all_or_nothing(app, path, value):
    before = count_rows(SettingsChange)
    try:
        result = settings.apply_settings(mutated(path, value))
    except settings.SettingsRejected as rejected:
        assert rejected.errors
        assert count_rows(SettingsChange) == before
    else:
        assert result.applied or not result.changed
