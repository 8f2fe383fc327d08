"""Screenshot the demo patient's home page of a running ``make run`` (docs/first-run.png).

    .venv/bin/python scripts/first-run-screenshot.py [URL] [OUT]

Signs in with the logins ``make run`` keeps in ``$SMARTCAB_DATA_DIR/demo-logins.txt``
(default ``data/``) in the Debian Chromium the browser tests use, at 1280 px.
"""

import os
import re
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str]) -> int:
    base = argv[0] if argv else "http://localhost:5000"
    out = Path(argv[1]) if len(argv) > 1 else ROOT / "docs" / "first-run.png"
    data = Path(os.environ.get("SMARTCAB_DATA_DIR", ROOT / "data"))
    logins = (data / "demo-logins.txt").read_text()
    password = re.search(r"user name demo, password (\S+)", logins)[1]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{base}/login")
        page.fill("input[name=email]", "demo@example.com")
        page.fill("input[name=username]", "demo")
        page.fill("input[name=password]", password)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/p/demo")
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(1500)  # the page's script puts times in the browser's zone
        page.screenshot(path=str(out), full_page=True)
        browser.close()
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
