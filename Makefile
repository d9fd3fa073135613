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

.PHONY: demo test install clean

demo: install var/secret_key var/token_keys
	$(DEMO_ENV) $(BIN)/python manage.py migrate --noinput
	$(DEMO_ENV) $(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(DEMO_ENV) $(BIN)/python manage.py demo_seed
	$(DEMO_ENV) $(BIN)/python manage.py runserver 127.0.0.1:8000

var/secret_key:
	@mkdir -p var
	@umask 077 && $(PYTHON) -c "import secrets; print(secrets.token_urlsafe(50))" > $@

# The demo's key ring for server tokens: one key, id "demo", 32 random bytes in URL-safe base64.
var/token_keys:
	@mkdir -p var
	@umask 077 && $(PYTHON) -c "import base64, secrets; print('demo:' + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())" > $@

test: install
	$(BIN)/python -m pytest

install: $(INSTALLED)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(INSTALLED): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@

clean:
	rm -rf $(VENV) staticfiles .pytest_cache
