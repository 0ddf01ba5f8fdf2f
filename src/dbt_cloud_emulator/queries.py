"""Query-string parsing for the list endpoints, with dbt Cloud's 400s for bad values."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from dbt_cloud_emulator.envelope import invalid

Query = dict[str, list[str]]
MAX_LIMIT = 100
RUN_ORDERINGS = ("id", "created_at", "finished_at")
JOB_ORDERINGS = ("id", "name", "created_at")
WHOLE_NUMBER = "Enter a whole number."
# dbt Cloud's 400 for a `status__in` that is not its JSON list (apache/airflow#40047).
NOT_A_LIST = "'{value}' is not valid under any of the given schemas"


@dataclass(frozen=True)
class ListQuery:
    filters: dict[str, Any]  # field -> int, field__in -> list[int], field__icontains -> str
    order_by: str
    limit: int
    offset: int
    include: frozenset[str]

    def envelope_extra(self, account_id: int, count: int, total: int) -> dict[str, Any]:
        """The `extra` block dbt Cloud returns with a page of results."""
        return {
            "filters": {
                "account_id": account_id,
                **self.filters,
                "limit": self.limit,
                "offset": self.offset,
            },
            "order_by": self.order_by,
            "pagination": {"count": count, "total_count": total},
        }


def parse_include(query: Query) -> frozenset[str]:
    """`include_related` as `a,b`, repeated, or a JSON-ish `["a","b"]` list."""
    names: set[str] = set()
    for value in query.get("include_related", []):
        for part in value.strip("[]").split(","):
            name = part.strip().strip("'\"")
            if name:
                names.add(name)
    return frozenset(names)


def parse_list_query(
    query: Query,
    int_filters: tuple[str, ...],
    orderings: tuple[str, ...],
    default_order: str = "id",
    *,
    in_filters: tuple[str, ...] | None = None,
    text_filters: tuple[str, ...] = (),
) -> ListQuery:
    """The list parameters; `in_filters` are the int filters that also take `__in` (default:
    all), `text_filters` the `<field>__icontains` ones. Any other parameter is ignored, as
    Django's filters ignore what they do not declare (so is an `__in` the spec does not
    declare, e.g. the runs list's `job_definition_id__in`)."""
    errors: dict[str, list[str]] = {}
    filters: dict[str, Any] = {}
    for name in text_filters:
        key = f"{name}__icontains"
        if key in query:
            filters[key] = query[key][-1]
    for name in int_filters:
        if name in query:
            value = _integer(query[name][-1])
            if value is None:
                errors[name] = [WHOLE_NUMBER]
            else:
                filters[name] = value
        in_name = f"{name}__in"
        if in_name in query and (in_filters is None or name in in_filters):
            values = _json_list(query[in_name][-1])
            if values is None:
                errors[in_name] = [NOT_A_LIST.format(value=query[in_name][-1])]
            else:
                filters[in_name] = values
    order_by = query.get("order_by", [default_order])[-1]
    if order_by.removeprefix("-") not in orderings:
        allowed = ", ".join(f"{o}, -{o}" for o in orderings)
        errors["order_by"] = [f"Select a valid choice. {order_by!r} is not one of {allowed}."]
    limit = _bounded(query, "limit", default=MAX_LIMIT, low=1, high=MAX_LIMIT, errors=errors)
    offset = _bounded(query, "offset", default=0, low=0, high=None, errors=errors)
    if errors:
        raise invalid(errors)
    return ListQuery(filters, order_by, limit, offset, parse_include(query))


def _json_list(text: str) -> list[int] | None:
    """`status__in` as dbt Cloud reads it: one JSON list of whole numbers (`[1,2,3]`,
    apache/airflow#40048); None for anything else (`1,2`, a bare `3`, `[1,x]`). Repeated keys
    are read as Django reads them: the last one."""
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        return None
    if not isinstance(parsed, list) or not all(type(v) is int for v in parsed):
        return None
    return parsed


def _integer(text: str) -> int | None:
    text = text.strip()
    if not text.lstrip("-").isdigit():
        return None
    return int(text)


def _bounded(
    query: Query,
    name: str,
    *,
    default: int,
    low: int,
    high: int | None,
    errors: dict[str, list[str]],
) -> int:
    if name not in query:
        return default
    value = _integer(query[name][-1])
    if value is None:
        errors[name] = [WHOLE_NUMBER]
        return default
    if value < low:
        errors[name] = [f"Ensure this value is greater than or equal to {low}."]
    elif high is not None and value > high:
        errors[name] = [f"Ensure this value is less than or equal to {high}."]
    return value
