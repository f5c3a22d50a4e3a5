"""Retrievers and rank fusion."""
