"""Online path of scenario-serve: runtimes, routing, the BentoML service."""
