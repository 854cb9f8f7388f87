"""What every command shares: reading the settings, and turning a mistake into one line."""

from __future__ import annotations

import typer

from app.config import ConfigError, Settings, load_settings


def settings() -> Settings:
    """The settings from the environment; a bad one is one line and exit code 2."""
    try:
        return load_settings()
    except ConfigError as error:
        typer.echo(f"countersign: configuration error: {error}", err=True)
        raise typer.Exit(2) from None
