"""Helpers shared by the test suite: small real fakes and programs run as child processes."""
