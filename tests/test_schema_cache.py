"""autograder.schema_cache: nbgrader's metadata check, the same answers, the schema checked once."""

from __future__ import annotations

import copy

import jsonschema
import nbformat
import pytest
from nbgrader.nbgraderformat import MetadataValidator
from nbgrader.nbgraderformat import common as nbgrader_common

from autograder import schema_cache

GOOD = {"schema_version": 3, "grade": True, "solution": False, "locked": True,
        "points": 2, "grade_id": "test_forward", "task": False}
# Each breaks the schema differently: a wrong type, a missing field, an extra field, a bad value.
BAD = [
    {**GOOD, "points": "two"},
    {k: v for k, v in GOOD.items() if k != "locked"},
    {**GOOD, "surprise": 1},
    {**GOOD, "schema_version": "3"},
    {**GOOD, "grade": None, "solution": [1]},
]


@pytest.fixture
def schema() -> dict:
    return copy.deepcopy(MetadataValidator().schema)


def test_valid_metadata_passes(schema):
    schema_cache.validate(GOOD, schema)
    jsonschema.validate(GOOD, schema)  # the reference agrees


@pytest.mark.parametrize("metadata", BAD)
def test_invalid_metadata_raises_what_jsonschema_raises(schema, metadata):
    with pytest.raises(jsonschema.ValidationError) as theirs:
        jsonschema.validate(metadata, schema)
    with pytest.raises(jsonschema.ValidationError) as ours:
        schema_cache.validate(metadata, schema)
    assert ours.value.message == theirs.value.message
    assert list(ours.value.absolute_path) == list(theirs.value.absolute_path)
    assert ours.value.validator == theirs.value.validator


def test_the_schema_is_checked_once_and_a_broken_one_still_refused(schema, monkeypatch):
    cls = jsonschema.validators.validator_for(schema)
    checks = []
    original = cls.check_schema
    monkeypatch.setattr(cls, "check_schema", classmethod(
        lambda c, s, *a, **k: (checks.append(1), original.__func__(c, s, *a, **k))[1]))
    schema_cache._validator.cache_clear()
    for _ in range(5):
        schema_cache.validate(GOOD, schema)
    assert len(checks) == 1
    broken = {**schema, "type": 12}
    with pytest.raises(jsonschema.SchemaError):
        schema_cache.validate(GOOD, broken)
    schema_cache._validator.cache_clear()


def test_installed_nbgrader_validator_still_refuses_bad_cells():
    schema_cache.install()
    schema_cache.install()  # idempotent
    assert isinstance(nbgrader_common.jsonschema, schema_cache.CachedJsonschema)
    assert nbgrader_common.jsonschema.ValidationError is jsonschema.ValidationError
    cell = nbformat.v4.new_code_cell("x = 1", metadata={"nbgrader": dict(GOOD)})
    MetadataValidator().validate_cell(cell)
    cell.metadata["nbgrader"]["points"] = "two"
    with pytest.raises(jsonschema.ValidationError, match="'two'"):
        MetadataValidator().validate_cell(cell)


def test_the_course_config_installs_it():
    from autograder.config import validate_config

    nbgrader_common.jsonschema = jsonschema  # as nbgrader left it
    validate_config()
    assert isinstance(nbgrader_common.jsonschema, schema_cache.CachedJsonschema)
