"""WSGI entry point from a checkout: `gunicorn wsgi:app` (the same app as consent_service.wsgi)."""

from consent_service.wsgi import app

__all__ = ["app"]
