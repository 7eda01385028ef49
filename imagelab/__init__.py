"""imagelab: a lab for watching image generators collapse when trained on their own output."""

__version__ = "0.1.0"
