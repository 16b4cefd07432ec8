"""JSON log lines, the one log format of every long-running ``oracle`` command (``run``,
``serve``, ``paid serve``): one object per line on stderr, and appended to ``--log-file`` too."""

from __future__ import annotations

import json
import logging
import sys
import traceback
from pathlib import Path


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {"ts": round(record.created, 3), "level": record.levelname, "logger": record.name}
        msg = record.msg
        if isinstance(msg, dict):
            doc.update(msg)
        else:
            doc["msg"] = record.getMessage()
        return json.dumps(doc, default=str)


def setup_json_logging(level: int = logging.INFO, log_file: str | None = None) -> None:
    """JSON lines on stderr, and appended to ``log_file`` too when one is given (for logrotate:
    the file is reopened by path on each start)."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    for handler in handlers:
        handler.setFormatter(JsonFormatter())
    root = logging.getLogger("oracle")
    root.handlers[:] = handlers
    root.setLevel(level)
    root.propagate = False


def unexpected(exc: BaseException) -> str:
    """An error no handler expected, with where it was raised: what a long-running loop logs
    before it goes on (its journal resumes the work), so one surprise never ends the daemon."""
    frames = traceback.extract_tb(exc.__traceback__)[-3:]
    trail = " <- ".join(f"{Path(f.filename).name}:{f.lineno}" for f in reversed(frames))
    return f"unexpected {type(exc).__name__}: {str(exc)[:300]}" + (f" (at {trail})" if trail else "")
