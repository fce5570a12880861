"""WSGI entry point of an installed package: `gunicorn consent_service.wsgi:app`."""

from consent_service import create_app

app = create_app()
