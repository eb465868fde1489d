"""Contracts that read no files: table checks, date rules, image data classes and controlled vocabularies shared by engines and readers."""
