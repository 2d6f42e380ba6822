"""Helpers shared by every barque service and the CLI.

This package imports no service: errors, logging, configuration, OCI types and
the gRPC server/client bootstrap live here.
"""
