"""Contracts that read no files: table checks, date rules and controlled vocabularies shared by engines and readers."""
