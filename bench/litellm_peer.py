"""LiteLLM's proxy as the peer gateway: its own virtual environment, a config in front of the
stand-in upstream, and its request logging off or on.

- Installed on first use into `bench/.venv-litellm` from PyPI (`litellm[proxy]`), git-ignored.
- Served on its Anthropic-format endpoint `POST /v1/messages`, with one model routed to the
  stand-in: `model: anthropic/<id>`, `api_base: <stand-in URL>`.
- Offline: `LITELLM_LOCAL_MODEL_COST_MAP=True` makes it read its packaged model cost map instead of
  fetching the latest one at start; telemetry off. Nothing else it does at start needs the network.
- Logging off: no callbacks, uvicorn's access log off, LiteLLM's own logger at ERROR.
- Logging on: a `CustomLogger` callback (LiteLLM's documented way to send each request somewhere)
  appends its standard logging payload — messages and response included — as a JSON line to a
  file. Its database-backed spend logs are not an option here: they need PostgreSQL and Prisma,
  whose query engine is downloaded at first start (not from a package registry).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
VENV = BENCH / ".venv-litellm"
MASTER_KEY = "sk-bench-litellm-master"

CALLBACK = '''"""Appends each completed request's logging payload (content included) to a file."""
import json, os
from litellm.integrations.custom_logger import CustomLogger


class ContentFileLogger(CustomLogger):
    def __init__(self):
        super().__init__()
        self.handle = open(os.environ["BENCH_LITELLM_LOG_FILE"], "a", encoding="utf-8")

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        payload = kwargs.get("standard_logging_object") or {}
        self.handle.write(json.dumps(payload, default=str) + "\\n")
        self.handle.flush()


content_file_logger = ContentFileLogger()
'''

LOG_CONFIG = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr"}},
    "loggers": {
        "uvicorn": {"handlers": ["stderr"], "level": "WARNING"},
        "uvicorn.error": {"level": "WARNING"},
        "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
    },
}


def ensure_installed(log: Path) -> Path:
    """The `litellm` command of the private environment, installing it on first run."""
    command = VENV / "bin" / "litellm"
    if command.exists():
        return command
    with log.open("ab") as out:
        subprocess.run(
            [sys.executable, "-m", "venv", str(VENV)], check=True, stdout=out, stderr=out
        )
        subprocess.run(
            [str(VENV / "bin" / "pip"), "install", "-q", "--upgrade", "pip"],
            check=False,
            stdout=out,
            stderr=out,
        )
        subprocess.run(
            [str(VENV / "bin" / "pip"), "install", "litellm[proxy]"],
            check=True,
            stdout=out,
            stderr=out,
            timeout=1800,
        )
    return command


def version() -> str:
    python = VENV / "bin" / "python"
    found = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
        capture_output=True,
        text=True,
        check=False,
    )
    return found.stdout.strip() or "unknown"


def write_config(folder: Path, upstream: str, model: str, logging_on: bool) -> Path:
    """The proxy config (YAML is a superset of JSON: JSON it is) and, with logging, its callback."""
    folder.mkdir(parents=True, exist_ok=True)
    settings: dict[str, object] = {"telemetry": False, "drop_params": True}
    if logging_on:
        (folder / "content_file_logger.py").write_text(CALLBACK, encoding="utf-8")
        settings["callbacks"] = "content_file_logger.content_file_logger"
    config = {
        "model_list": [
            {
                "model_name": model,
                "litellm_params": {
                    "model": f"anthropic/{model}",
                    "api_base": upstream,
                    "api_key": "sk-ant-stand-in",
                },
            }
        ],
        "litellm_settings": settings,
        "general_settings": {"master_key": MASTER_KEY, "disable_spend_logs": not logging_on},
    }
    path = folder / "config.yaml"
    path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    (folder / "log_config.json").write_text(json.dumps(LOG_CONFIG), encoding="utf-8")
    return path


def command(folder: Path, port: int, workers: int) -> list[str]:
    return [
        str(VENV / "bin" / "litellm"),
        "--config",
        str(folder / "config.yaml"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--num_workers",
        str(workers),
        "--log_config",
        str(folder / "log_config.json"),
    ]


def environment(folder: Path) -> dict[str, str]:
    return {
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_LOG": "ERROR",
        "LITELLM_TELEMETRY": "False",
        "BENCH_LITELLM_LOG_FILE": str(folder / "requests.jsonl"),
        "PYTHONPATH": str(folder),
    }
