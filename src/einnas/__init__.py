"""einnas: neural architecture search over einspace with Delta-NAS predictor-guided evolution."""

__version__ = "0.1.0"
