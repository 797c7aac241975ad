"""Test helpers shipped for users' tests and ours: a stand-in upstream, canaries, log capture, a
PostgreSQL server, a gateway on a loopback port (`harness`). The ports' in-memory twins are in
`zdr.inmemory`. Nothing here is used on a production path except as an explicit stand-in, and
nothing the gateway's wiring needs lives here (`zdr.wiring` never imports `zdr.testing`)."""
