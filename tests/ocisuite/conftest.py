"""The conformance tier (runc's own integration suite, tests/ocisuite/README.md).
The integration tier's leak check runs here too, beside the tier's own check of
the paths runc's suite names."""

from tests.integration.conftest import no_leaks  # noqa: F401  (a fixture, found by name)
