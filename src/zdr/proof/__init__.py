"""Evidence anyone can check offline: signed statements, inclusion proofs, erasure receipts.

- `canonical`  RFC 8785 JSON (the bytes every signature and hash covers)
- `signing`    the deployment's Ed25519 signing key, its key id and public half
- `envelope`   one signed document in one file: canonical payload + detached signature
- `merkle`     RFC 9162 Merkle trees over metadata records (streaming root, inclusion proofs)
- `records`    the canonical form of one exchange's metadata record, streamed per org and period
- `statements` building a statement for one org and period
- `proofs`     inclusion proofs of one exchange's metadata record in a statement
- `receipts`   erasure receipts (an org's erasure, an end user's erasure)
- `ledger`     the attestation log (each document commits to the previous one)
- `verify`     offline verification of any of these files (no database)

Only `verify`, `envelope`, `merkle`, `canonical` and `signing` are needed to check a file; they
import no database code.
"""
