"""Real parts the tests start: a distribution registry, images built by other tools, a fault server."""
