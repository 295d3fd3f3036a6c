"""Command-line interface (typer + rich). Only parsing and reporting live here."""
