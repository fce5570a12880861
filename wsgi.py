"""WSGI entry point: `gunicorn wsgi:app`."""

from consent_service import create_app

app = create_app()
