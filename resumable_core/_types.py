"""JSON values, as both Airflow's task state store and our records accept them."""

from __future__ import annotations

import math
import sys
from typing import TypeAlias, TypeGuard, Union

if sys.version_info >= (3, 11):
    from typing import assert_never
else:  # typing-extensions is a dependency on 3.10 only, for this
    from typing_extensions import assert_never

JsonValue: TypeAlias = Union[
    None, bool, int, float, str, "list[JsonValue]", "dict[str, JsonValue]"
]


def is_json(value: object) -> TypeGuard[JsonValue]:
    """True when *value* survives a JSON round trip unchanged.

    Strict on purpose: a tuple would come back as a list, a NaN is refused by
    Airflow's server, a dict with int keys comes back with str keys. Recording
    such a value and returning it later would hand the caller something else
    than the job produced, so we do not record it at all.
    """
    if value is None or isinstance(value, (bool, str)):
        return True
    if isinstance(value, int):
        return type(value) is int
    if isinstance(value, float):
        return type(value) is float and math.isfinite(value)
    if type(value) is list:
        return all(is_json(item) for item in value)
    if type(value) is dict:
        return all(type(k) is str and is_json(v) for k, v in value.items())
    return False


__all__ = ["JsonValue", "assert_never", "is_json"]
