"""Retries of one decision racing each other still write exactly one event."""

from __future__ import annotations

import threading

from consent_service.models import ConsentEvent
from tests.conftest import count_rows, decision_body


def test_concurrent_replays_write_once(app, site):
    body = decision_body(site)
    url = f"/api/v1/sites/{site.site_key}/consents"
    barrier = threading.Barrier(6)
    answers: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def send() -> None:
        client = app.test_client()
        barrier.wait()
        response = client.post(url, json=body)
        with lock:
            answers.append((response.status_code, response.json))

    threads = [threading.Thread(target=send) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    statuses = sorted(status for status, _ in answers)
    assert statuses == [200, 200, 200, 200, 200, 201], answers
    assert len({answer["event_id"] + answer["visitor_token"] for _, answer in answers}) == 1
    assert count_rows(ConsentEvent) == 1
