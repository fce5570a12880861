"""Consent decisions: recording a visitor's choice idempotently in the ledger's event table,
reading the current state and whether to ask again, erasure requests (the leaf stays, the
personal payload goes, a tombstone says so) and retention.
"""
