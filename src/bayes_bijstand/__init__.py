"""bayes_bijstand: pool the Dutch social-assistance experiments with honest uncertainty."""

__version__ = "0.1.0"
