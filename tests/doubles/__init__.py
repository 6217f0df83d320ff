"""Test doubles: in-process fakes and small real servers that stand in for the world in tests."""
