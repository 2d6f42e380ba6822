"""Server-side helpers every barque service shares: the gRPC server bootstrap
(:mod:`.server`), logging, content-addressed blobs, file locks, atomic writes,
daemon entry points and the safe tar package (:mod:`.safetar`).

What callers share with the services (errors, configuration, references,
units, channels) is in the client library, :mod:`client`. This package imports
no service.
"""
