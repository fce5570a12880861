"""marshmallow schemas: the wire shape and field rules of the API, nothing else."""

from marshmallow import RAISE, Schema


class StrictSchema(Schema):
    """Unknown fields are an error, not something to drop silently."""

    class Meta:
        unknown = RAISE
        ordered = True
