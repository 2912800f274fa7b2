"""Attacks from a hostile pull request, one class per module (issue 9)."""
