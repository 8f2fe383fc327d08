"""``python -m services.web``: serve the dashboard, or run an admin command (``cli.py``)."""

from .cli import main

if __name__ == "__main__":
    main()
