"""Textual widgets of the console, one per file; cells.py holds the shared cell formatting."""
