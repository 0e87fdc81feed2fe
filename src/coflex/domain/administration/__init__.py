"""Complaints, privacy and record retention rules of Code section D and E."""
