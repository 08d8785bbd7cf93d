"""Compatibility layers: other libraries' APIs backed by clvlab's models.

:mod:`clvlab.compat.lifetimes` mirrors the public API of lifetimes 0.11.3, so code
written for lifetimes runs after changing one import. Nothing here is imported by
``import clvlab``.
"""
