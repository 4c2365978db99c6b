"""Tools for the repository, not the sweep: the README's generated reference sections (reference.py)."""
