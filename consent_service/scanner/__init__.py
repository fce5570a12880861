"""The scanner: what a site really sets and sends, before and after consent.

It owns crawling a site's own pages in headless Chromium three times (no choice, after "Reject
all", after "Accept all"; `crawl.py`, with the page instrumentation in `observe.py`), turning
what it saw into findings classified against the site's declared services and the shipped Open
Cookie Database (`declared.py`, `cookie_db.py`, `findings.py`), the rules a finding can break
(`violations.py`), the reports a person or a CI job reads (`reports.py`, `proposals.py`), and
the captures of the banner as rendered, kept as evidence by banner version (`captures.py`).
`scans.py` runs one scan end to end. Nothing here knows Flask's request; the CLI
(`cli/scan.py`) and the API (`api/captures.py`) call in.
"""
