"""The Messages-API edge: auth, request facts, decision, relay, errors."""
