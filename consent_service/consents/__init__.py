"""Consent decisions: recording a visitor's choice idempotently in the ledger's event table,
reading the current state and whether to ask again; and visitors' rights: data subject
requests (access, correction, erasure, portability, objection), their handling and the
export of what is held about a person; erasure (the leaf stays, the personal payload goes, a
tombstone says so) and retention.
"""
