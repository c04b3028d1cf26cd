"""Fakes of outside systems over real HTTP, and sample values for tests that use them."""
