# Two commands: `make demo` runs the product on the embedded default; `make test` runs the suite.
# Both create .venv when it is missing and work on a fresh machine with Python 3.11 and make.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

# The demo runs the product as production does (no DEBUG pages, hashed static files) on plain HTTP
# on loopback, against the in-process Postmark sandbox. Its keys and state live under var/.
# `DEBUG=1 make demo` shows Django's debug pages instead.
DEMO_ENV := DEMO=1 SECRET_KEY="$$(cat var/secret_key)" TOKEN_ENCRYPTION_KEYS="$$(cat var/token_keys)" \
	POSTMARK_SANDBOX_STATE=var/sandbox.json STATIC_ROOT=var/staticfiles

# The browser tests (tests/browser) need Debian's chromium and axe-core from the npm registry. Without
# chromium they are skipped, and the run says so at its end; REQUIRE_BROWSER=1 (set by .ci/run) fails instead.
CHROMIUM ?= /usr/bin/chromium
AXE := tests/browser/node_modules/axe-core/axe.min.js
# The pictures in the README, by their names in var/screenshots/ (written by tests/browser/test_screenshots.py).
README_PICTURES := overview-desktop list-desktop create-desktop archive-dialog-desktop detail-archived-desktop \
	audit-log-desktop list-phone archive-dialog-phone

.PHONY: demo test install browser-test-tools screenshots clean

demo: install var/secret_key var/token_keys
	$(DEMO_ENV) $(BIN)/python manage.py migrate --noinput
	$(DEMO_ENV) $(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(DEMO_ENV) $(BIN)/python manage.py demo_seed
	@# One watch round of every server, its tasks run at once: the archived stream 5 days from its purge
	@# date gets its purge reminder, printed below by the console e-mail backend (once: a reminder is never resent).
	$(DEMO_ENV) TASKS_BACKEND=django_tasks.backends.immediate.ImmediateBackend $(BIN)/python manage.py watch_servers
	$(DEMO_ENV) $(BIN)/python manage.py runserver 127.0.0.1:8000

var/secret_key:
	@mkdir -p var
	@umask 077 && $(PYTHON) -c "import secrets; print(secrets.token_urlsafe(50))" > $@

# The demo's key ring for server tokens: one key, id "demo", 32 random bytes in URL-safe base64.
var/token_keys:
	@mkdir -p var
	@umask 077 && $(PYTHON) -c "import base64, secrets; print('demo:' + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())" > $@

test: install browser-test-tools
	@test -x $(CHROMIUM) || echo "Note: chromium is not installed, so the browser tests will be skipped (apt-get install chromium)."
	$(BIN)/python -m pytest

# Runs only the screenshot test and copies the README's pictures from var/screenshots/ into docs/screenshots/.
screenshots: install browser-test-tools
	REQUIRE_BROWSER=1 $(BIN)/python -m pytest tests/browser/test_screenshots.py -q
	@mkdir -p docs/screenshots
	@for name in $(README_PICTURES); do cp var/screenshots/$$name.png docs/screenshots/$$name.png; done
	@echo "Copied $(words $(README_PICTURES)) pictures from var/screenshots/ into docs/screenshots/."

browser-test-tools: $(AXE)

$(AXE): tests/browser/package.json tests/browser/package-lock.json
	@if command -v npm >/dev/null; then \
		npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error && touch $@; \
	else echo "Note: npm is not installed, so axe-core is missing and the browser tests will be skipped."; fi

install: $(INSTALLED)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(INSTALLED): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@

clean:
	rm -rf $(VENV) staticfiles .pytest_cache tests/browser/node_modules
