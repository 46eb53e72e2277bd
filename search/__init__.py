"""Shared core of the text-to-image search: settings, encoders, catalog, vectors, engine.

Nothing here imports Telegram; both ``indexer`` and ``bot`` depend on this package.
"""
