"""What happens beside a recorded consent: signed webhooks to the site's backend, the shared outbox
schedule, lead capture into NeoCRM (`crm/`) and marketing e-mail (`mail/`).
"""
