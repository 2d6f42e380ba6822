"""The peers tier: other engines driving barque's parts (podman through
conmon with barque-oci as its runtime). Root, the kernel and a registry, as
the integration tier, whose leak check runs here too."""

from tests.integration.conftest import no_leaks  # noqa: F401  (a fixture, found by name)
