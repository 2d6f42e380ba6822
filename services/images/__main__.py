"""``python -m services.images`` / ``barque-imagesd``: run the image-store."""

from services.common.daemon import main_for
from services.images.server import run

main = main_for("images", run)

if __name__ == "__main__":
    main()
