"""HTTP blueprints: parse with a schema, call one operation, dump, choose the status."""
