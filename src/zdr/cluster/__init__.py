"""The multi-instance deployment on one machine: nginx in front of several `zdr serve` instances
sharing one PostgreSQL server (`zdr cluster up`; docs/DEPLOYMENT.md)."""
