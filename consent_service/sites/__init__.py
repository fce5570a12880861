"""What a site is and shows: the site registry and API tokens, policy and banner versions, the per-
process snapshot cache, forms and the wordings they show, the served banner script, and the demo
site.
"""
