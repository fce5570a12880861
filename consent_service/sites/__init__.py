"""What a site is and shows: its settings document (checked, resolved, linted, applied with a
plan, kept in a history), the site registry and API tokens, policy and banner versions, the
per-process snapshot cache, forms and the wordings they show, the served banner script, the
service catalogue and the demo site.
"""
