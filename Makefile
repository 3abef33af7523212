# Parley: `make run` serves the app on embedded defaults, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
REQS := $(wildcard requirements/*.txt)
STAMP := $(VENV)/.installed

.PHONY: install run test worker browser lint bench fakeprovider fuzz

$(STAMP): $(REQS)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q -r requirements/dev.txt
	@touch $(STAMP)

install: $(STAMP)

run: install
	DJANGO_SETTINGS_MODULE=config.settings.local $(BIN)/python manage.py migrate --noinput
	DJANGO_SETTINGS_MODULE=config.settings.local $(BIN)/python manage.py collectstatic --noinput -v 0
	DJANGO_SETTINGS_MODULE=config.settings.local $(BIN)/uvicorn config.asgi:application \
		--host 127.0.0.1 --port $(PORT) --lifespan on --timeout-graceful-shutdown 10

# Debian's Chromium drives the browser tests (Playwright cannot download its own here).
# PARLEY_CHROMIUM names another binary; apt-get runs through sudo when make is not root.
browser:
	@test -x "$${PARLEY_CHROMIUM:-/usr/bin/chromium}" || { \
		echo "Installing Debian's chromium for the browser tests..."; \
		sudo=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
		$$sudo apt-get update -qq && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

test: install browser
	$(BIN)/python -m pytest $(PYTEST_ARGS)

worker: install
	DJANGO_SETTINGS_MODULE=$${DJANGO_SETTINGS_MODULE:-config.settings.local} \
		$(BIN)/celery -A config worker --beat --loglevel info --concurrency 2

fakeprovider: install
	DJANGO_SETTINGS_MODULE=config.settings.local $(BIN)/python manage.py fakeprovider --port $${FAKE_PORT:-9100}

lint: install
	$(BIN)/ruff check .

bench: install
	$(BIN)/python -m bench

# schemathesis against /api/schema/ of a live server (not part of `make test`); FUZZ_ARGS replace the defaults.
fuzz: install
	$(BIN)/python -m tests.fuzz $(FUZZ_ARGS)
