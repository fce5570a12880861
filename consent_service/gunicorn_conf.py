"""gunicorn settings: `gunicorn -c python:consent_service.gunicorn_conf wsgi:app`.

The access log leaves out the client address: the service never logs a full IP address.
"""

bind = "0.0.0.0:8000"
workers = 2
accesslog = "-"
access_log_format = '%(t)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"'
forwarded_allow_ips = "127.0.0.1"
