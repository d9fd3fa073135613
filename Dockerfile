# The production image: gunicorn serving the dashboard behind a proxy that terminates TLS.
# Configure it with environment variables (README, "Configuration"); it holds no secret: SECRET_KEY
# and the TOKEN_ENCRYPTION_KEYS key ring come from the environment at run time.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
RUN groupadd --system app && useradd --system --gid app --home-dir /app --no-create-home app

# Dependencies in their own layer, rebuilt only when pyproject.toml changes.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY . .
# collectstatic needs settings to load; this key and this key ring (32 zero bytes, never used to encrypt
# anything) exist only for this build step. The real ring comes from the environment at run time.
RUN SECRET_KEY=collectstatic-build-step-only DEBUG=0 \
    TOKEN_ENCRYPTION_KEYS=build:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= \
    python manage.py collectstatic --noinput \
    && mkdir -p /app/var && chown app:app /app/var

USER app
ENV DEBUG=0 PORT=8000 WEB_CONCURRENCY=3
EXPOSE 8000
# The same image runs each of a deployment's three processes (README, "Processes"):
#   web (this CMD)         gunicorn, as many instances as needed
#   worker                 docker run IMAGE python manage.py db_worker --queue-name '*'   (two or more)
#   periodic trigger       docker run IMAGE python manage.py watch_servers   every WATCH_EVERY_MINUTES, from cron
# gunicorn binds 0.0.0.0:$PORT and starts $WEB_CONCURRENCY workers when those are set.
CMD ["gunicorn", "dashboard.wsgi", "--threads", "4", "--timeout", "30", "--graceful-timeout", "20", "--access-logfile", "-", "--logger-class", "dashboard.gunicorn_logger.SecretlessLogger"]
