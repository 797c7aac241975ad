"""Test helpers shipped for users' tests and ours: in-memory ports, a stand-in upstream, canaries,
log capture. Nothing here is used on a production path except as an explicit stand-in."""
