"""`mlap`, the platform's own command line (see `ml_assets.cli.main`)."""

from ml_assets.cli.main import app

__all__ = ["app"]
