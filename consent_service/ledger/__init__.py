"""The tamper-evident proof: the pure RFC 6962 Merkle core (`merkle`, `merkle_proofs`), what a leaf
holds (`records`), signing keys, sealing events into signed checkpoints, proofs for auditors,
exports and their offline verification.
"""
