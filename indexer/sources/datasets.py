"""Registers the dataset sources (Unsplash Lite, Fashion Product Images, manifests).

Imported by ``indexer.sources`` when present, so the core registry does not depend on them.
"""

from __future__ import annotations

from indexer.sources import register_source
from indexer.sources.fashion import FashionSource
from indexer.sources.manifest import ManifestSource
from indexer.sources.unsplash import UnsplashSource

register_source("unsplash", UnsplashSource)
register_source("fashion", FashionSource)
register_source("manifest", ManifestSource)
