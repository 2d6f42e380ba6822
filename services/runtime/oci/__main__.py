"""``python -m services.runtime.oci`` runs the barque-oci command line."""

from services.runtime.oci.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    main()
