"""A bounded load test: users of several partners against gunicorn, a Celery worker, PostgreSQL and Redis.

`python -m loadtest.run` (or `make loadtest`) builds its own database, starts the servers, runs the locustfile
headless and checks the outcome; see docs/loadtest.md.
"""
