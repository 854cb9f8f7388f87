"""Typed domain errors: each carries a message fit to show a person."""

from __future__ import annotations


class DomainError(Exception):
    """A rule said no. `str(error)` is safe and useful to show the user."""


class InvalidTransition(DomainError):
    pass


class NotAuthorized(DomainError):
    pass
