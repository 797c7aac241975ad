"""The policy catalog: a versioned TOML file loaded into frozen objects."""

from zdr.catalog.load import CatalogError, default_catalog, load_catalog, parse_catalog
from zdr.catalog.schema import (
    Catalog,
    FeatureSpec,
    Messages,
    ModelPattern,
    RetentionPeriods,
    SurfaceSpec,
)

__all__ = [
    "Catalog",
    "CatalogError",
    "FeatureSpec",
    "Messages",
    "ModelPattern",
    "RetentionPeriods",
    "SurfaceSpec",
    "default_catalog",
    "load_catalog",
    "parse_catalog",
]
