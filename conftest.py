"""Test-session settings shared by tests/ and the nbval run over solutions/.

`make test` runs on two pytest-xdist workers with ``--dist loadgroup``. Work that must stay on one
worker is grouped: the cells of one notebook (nbval runs them in order in one kernel) and the
end-to-end grading of one day (one grading run feeds all of that day's tests).
"""

from __future__ import annotations

import pytest


def _group(item: pytest.Item) -> str | None:
    path = item.nodeid.split("::", 1)[0]
    if path.endswith(".ipynb"):
        return path
    if path.endswith("test_autograder_end_to_end.py") and hasattr(item, "callspec"):
        params = item.callspec.params
        if "day" in params:
            return f"grading-{params['day']}"
        if "notebook" in params:
            return f"grading-{params['notebook'].split('/')[0]}"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        group = _group(item)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(name=group))
