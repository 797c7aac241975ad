"""The web console: server-rendered pages on the control-plane services."""
