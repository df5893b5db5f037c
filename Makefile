# Daily commands for the CSP partner portal. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000

# make test talks to the real services; override these to point elsewhere.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/portal
TEST_REDIS_URL ?= redis://127.0.0.1:6379/1

.DEFAULT_GOAL := help
.PHONY: help run test bench worker beat lint format messages compilemessages loadtest

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	@touch $@

# Links in the mail the demo writes (and every later one) point at the port this run serves on.
run: export PORTAL_BASE_URL ?= http://127.0.0.1:$(PORT)
run: $(VENV)/.installed ## Serve the portal on http://127.0.0.1:$(PORT) (SQLite, eager Celery, mail to var/mail)
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py import_guidance guidance/content --verbosity 0
	$(BIN)/python manage.py seed_demo
	@echo
	@echo "  The portal:  http://127.0.0.1:$(PORT)/"
	@echo "  Guidance:    http://127.0.0.1:$(PORT)/en/guidance/"
	@echo "  Sign in at:  http://127.0.0.1:$(PORT)/en/accounts/login/"
	@echo "  Demo accounts: <role>@contoso.example, <role>@fabrikam-china.example (role: global.admin,"
	@echo "  user.admin, helpdesk.agent, billing.admin, sales.agent) and admin@portal.example (staff);"
	@echo "  password: $${DEMO_PASSWORD:-demo-portal-2026}"
	@echo "  Mail the portal sends is written to var/mail/. Ctrl-C stops the server."
	@echo
	exec $(BIN)/python manage.py runserver --noreload 127.0.0.1:$(PORT)

test: $(VENV)/.installed-dev ## Run the whole suite against the real PostgreSQL and Redis
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} scripts/ensure-services
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} \
		$(BIN)/python -m pytest $(PYTEST_ARGS)

loadtest: $(VENV)/.installed-dev ## Load test: 50 partner users for 60 s (LOADTEST_WEB=3: three gunicorns behind HAProxy)
	$(BIN)/python -m loadtest.run $(if $(filter-out 1,$(LOADTEST_WEB)),--web $(LOADTEST_WEB) --kill-web --pgbouncer --s3) $(LOADTEST_ARGS)

bench: $(VENV)/.installed-dev ## Benchmark pages, e-mail pipeline and import under gunicorn (docs/benchmarks.md)
	DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=$${BENCH_REDIS_URL:-redis://127.0.0.1:6379/9} \
		scripts/ensure-services
	$(BIN)/python -m bench.run

worker: $(VENV)/.installed ## Start a Celery worker against REDIS_URL
	@test -n "$$REDIS_URL" || { echo "make worker needs REDIS_URL (e.g. redis://127.0.0.1:6379/0); without it tasks run eagerly in the web process." >&2; exit 2; }
	exec $(BIN)/celery -A portal worker --loglevel=INFO --concurrency=$${WORKER_CONCURRENCY:-2}

beat: $(VENV)/.installed ## Start Celery beat (periodic tasks) against REDIS_URL
	@test -n "$$REDIS_URL" || { echo "make beat needs REDIS_URL." >&2; exit 2; }
	@mkdir -p var
	exec $(BIN)/celery -A portal beat --loglevel=INFO --schedule=var/celerybeat-schedule

lint: $(VENV)/.installed-dev ## Check style with ruff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.installed-dev ## Fix style with ruff
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

messages: $(VENV)/.installed ## Extract UI strings into locale/*/LC_MESSAGES/django.po
	$(BIN)/python manage.py makemessages --all --no-obsolete --ignore='.venv/*' --ignore='var/*' --ignore='tests/*'

compilemessages: $(VENV)/.installed ## Compile the .po catalogues into .mo files
	$(BIN)/python manage.py compilemessages --ignore='.venv/*'
