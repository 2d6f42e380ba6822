"""Generated gRPC contracts (package marker, written by hand)."""
