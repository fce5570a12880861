"""The baseline: a hello-world Flask app, served by gunicorn with the same settings as ours."""

from flask import Flask

app = Flask(__name__)


@app.get("/hello")
def hello() -> dict[str, str]:
    return {"hello": "world"}
