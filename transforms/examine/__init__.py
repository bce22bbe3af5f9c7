"""Examine: findings, changes between versions, reform checks, legal bases, summaries."""
