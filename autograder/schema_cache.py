"""nbgrader's cell metadata check with its JSON schema checked once, not once per cell.

nbgrader validates every graded cell's metadata with ``jsonschema.validate(metadata, schema)``
(``nbgrader.nbgraderformat.common``, run by ``CheckCellMetadata`` twice per autograded notebook
and by every release). ``jsonschema.validate`` first checks the *schema* against its
metaschema, every call: about nine tenths of the check's time (docs/performance.md, "Grading a
cohort"). ``install()`` gives that module a ``jsonschema`` whose ``validate`` does the same with
a validator built once per schema: the same metaschema check (once), the same validator class,
the same error (``best_match`` of the same errors), raised the same way.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import jsonschema
from jsonschema.exceptions import best_match


@functools.lru_cache(maxsize=16)
def _validator(schema_text: str) -> Any:
    schema = json.loads(schema_text)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)  # a broken schema raises SchemaError, as jsonschema.validate does
    return cls(schema)


def validate(instance: Any, schema: dict) -> None:
    """``jsonschema.validate(instance, schema)``, the schema checked and compiled once."""
    error = best_match(_validator(json.dumps(schema, sort_keys=True)).iter_errors(instance))
    if error is not None:
        raise error


class CachedJsonschema:
    """The ``jsonschema`` module as nbgrader's metadata validator sees it after ``install()``:
    ``validate`` above, every other name the real module's."""

    validate = staticmethod(validate)

    def __getattr__(self, name: str) -> Any:
        return getattr(jsonschema, name)


def install() -> None:
    """Have nbgrader's metadata validator use ``validate`` above (idempotent)."""
    import nbgrader.nbgraderformat.common as common

    if not isinstance(common.jsonschema, CachedJsonschema):
        common.jsonschema = CachedJsonschema()
