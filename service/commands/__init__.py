"""CLI command groups, one module per concern; assembled in service/cli.py."""
