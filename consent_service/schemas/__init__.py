"""marshmallow schemas: the wire shape and field rules of the API, nothing else.

The field types here are the strict ones every schema uses: a boolean is JSON `true` or
`false` and nothing that merely looks like one, a pattern must match the whole value (a
trailing newline included), a date must still be a date once moved to UTC, and an integer
must fit the 64-bit columns it is compared with.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

#: The largest value a BIGINT column (and PostgreSQL's int8) holds.
MAX_INT64 = 2**63 - 1


class StrictSchema(Schema):
    """Unknown fields are an error, not something to drop silently."""

    class Meta:
        unknown = RAISE
        ordered = True


class StrictBoolean(fields.Boolean):
    """Only JSON true and false: "yes", 1 or "on" are not a visitor's choice."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class Regexp(validate.Regexp):
    """A pattern that must match the whole value (`$` would let "en\\n" through)."""

    def __call__(self, value: Any) -> Any:
        regex: Any = self.regex
        if not isinstance(value, str) or regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


class CalendarDateTime(fields.AwareDateTime):
    """An aware date and time (its offset kept) that is still a date in UTC: one whose offset
    moves it past year 9999 or before year 1 is a 422, not an OverflowError in the database."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("default_timezone", UTC)
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        parsed = super()._deserialize(value, attr, data, **kwargs)
        try:
            parsed.astimezone(UTC)
        except OverflowError as exc:
            raise ValidationError("Out of the range of dates.") from exc
        return parsed


class Int64(fields.Integer):
    """A whole number that fits a 64-bit column (a larger one would fail in the database)."""

    def __init__(self, *, minimum: int = 0, **kwargs: Any) -> None:
        kwargs["validate"] = validate.Range(min=minimum, max=MAX_INT64)
        super().__init__(**kwargs)
