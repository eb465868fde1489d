"""Contracts that read no files: table checks, controlled vocabularies and their ranges."""
