"""Firstline's hands: typed diagnostic tools and the targets they run against.

Nothing in this package knows about models, HTTP or storage.
"""
