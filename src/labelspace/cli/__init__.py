from labelspace.cli.app import app

__all__ = ["app"]
