"""Offline evaluation of routing policies on per-query outcome tables."""
