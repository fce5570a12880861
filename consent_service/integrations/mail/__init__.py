"""Marketing e-mail: double opt-in subscriptions (`opt_in`), one-click unsubscribe and
suppression (`opt_out`), imports with proof (`imports`), sending (`sending`), the mail outbox
(`outbox`) and the SMTP transport (`transport`).

Operations take values (a `SiteSnapshot`, a base URL for links, a `RequestContext`) and never
read the request; each commits once, except `opt_out.erase_subscriber`, whose caller commits.
"""
