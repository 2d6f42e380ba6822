"""``python -m services.runtime`` / ``barque-runtimed``: run the runtime service."""

from services.common.daemon import main_for
from services.runtime.server import run

main = main_for("runtime", run)

if __name__ == "__main__":
    main()
