"""Consent decisions: recording a visitor's choice idempotently in the ledger's event table,
reading the current state and whether to ask again, and erasure requests.
"""
