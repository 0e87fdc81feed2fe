"""Oversight and reporting rules: registrations, Code provisions, compliance plans."""
