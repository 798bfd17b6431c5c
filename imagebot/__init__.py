"""imagebot: watch container registries, pick the newest tag per policy, update Git byte-exact."""

__version__ = "0.1.0"
