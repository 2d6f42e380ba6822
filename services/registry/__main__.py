"""``python -m services.registry`` / ``barque-registryd``: run the registry-proxy."""

from services.common.daemon import main_for
from services.registry.server import run

main = main_for("registry", run)

if __name__ == "__main__":
    main()
