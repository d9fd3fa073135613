"""gunicorn's logger with the secrets of invitation and reset links left out of both of its logs: the access log
(request line, Referer, whatever the format names) and the error log ("Error handling request /invitations/…").
The Dockerfile's CMD names it (`--logger-class`)."""

from gunicorn.glogging import Logger

from dashboard.secret_paths import SecretPathsFilter


class SecretlessLogger(Logger):
    def setup(self, cfg) -> None:
        super().setup(cfg)  # (re)creates the handlers, at start and on every reload
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                if not any(isinstance(each, SecretPathsFilter) for each in handler.filters):
                    handler.addFilter(SecretPathsFilter())
