"""Contracts that read no files: table checks, measures catalogue, vocabularies and image data classes."""
