"""photoanalyzer: index a photo library into a local SQLite catalog."""

__version__ = "0.1.0"
