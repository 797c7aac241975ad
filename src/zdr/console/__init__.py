"""The web console: server-rendered pages on the control-plane services.

    from zdr.console import build_console_app
    app.mount("/console", build_console_app(plane, settings))
"""

from zdr.console.app import build_console_app

__all__ = ["build_console_app"]
