"""Docker's events filter lives in the client library (:mod:`client.eventfilter`),
which both the services and the CLI import; this name stays for the services
that import it from here."""

from client.eventfilter import KEYS, EventFilter

__all__ = ["EventFilter", "KEYS"]
