"""barque's services: registry-proxy, image-store and runtime, plus their shared helpers."""
