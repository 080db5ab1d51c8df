"""Verification: run two sides on the same inputs, compare every output (and, with
``per_layer``, every intermediate value both sides expose), and report.

The API function is ``convert.verify`` (:func:`convert.api.verify`); this package is
named apart from it so that importing one never replaces the other.
"""
