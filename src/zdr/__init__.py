"""zdr-gateway: zero data retention arrangements, enforced on live Messages API traffic."""

__version__ = "0.1.0"
