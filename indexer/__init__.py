"""Build and query the image catalog from the command line: ``python -m indexer``."""
