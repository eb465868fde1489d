"""Contracts that read no files: controlled vocabularies and table checks shared by engines and readers."""
