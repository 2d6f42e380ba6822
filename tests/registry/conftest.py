"""The registry tier: the registry-proxy against a real ``docker-registry``
and against a fault-injecting HTTP server (no root, no containers). The
integration tier's leak check runs here too."""

from tests.integration.conftest import no_leaks  # noqa: F401  (a fixture, found by name)
