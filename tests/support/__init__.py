"""Helpers the tests share: the session's peers and environment."""
