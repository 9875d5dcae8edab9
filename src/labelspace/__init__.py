"""labelspace: image classifiers that know what their labels mean."""

__version__ = "0.1.0"
