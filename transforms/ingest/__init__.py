"""Ingest: the manifest, the jurisdiction registry, downloads, header detection and the readers of every format."""
