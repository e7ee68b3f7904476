"""visualmic: recover sound from high-speed video."""

__version__ = "0.1.0"
