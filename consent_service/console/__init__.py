"""The console's operations: accounts and their roles per site (`accounts.py`), slowed and
limited sign-ins (`signin.py`), the activity log (`activity.py`) and the daily decision
counters the dashboard draws (`stats.py`). Plain functions that know nothing of Flask's
request; the views are in `consent_service/api/console*.py`."""
