"""Contracts that read no files: the rules every reader applies (dates, ...)."""
