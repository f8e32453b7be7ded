#!/usr/bin/env python3
"""Screenshots of the review page for the README, taken from a running daemon.

Makes a throw-away SQLite database with two dry-run accounts and a week of sample posts (their images made
by the offline card renderer, nothing sent anywhere), starts ``postpilot run`` with the review page on, logs
in with headless Chromium (Debian's /usr/bin/chromium and /usr/bin/chromedriver) and saves the queue, the
week view and a post page as docs/screenshots/{queue,week,post}.png.

    .venv/bin/python scripts/review-screenshots.py [--out docs/screenshots] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
# A throw-away login for a throw-away database.
PASSWORD = secrets.token_urlsafe(16)
ZONE = ZoneInfo("Europe/Berlin")

# (account, days from today, local time, type, caption, prompt, extra columns)
SAMPLES: list[tuple[str, int, str, str, str, str | None, dict[str, object]]] = [
    ("bakery", 0, "18:30", "photo", "Last loaves of the day, 20% off until close 🥖 #bakery #evening",
     "warm bread loaves on a wooden counter at dusk", {}),
    ("bakery", 1, "07:00", "photo", "Fresh croissants from 7 ☕ #breakfast #croissant @ourcafe",
     "golden croissants in a basket, morning light", {"requires_approval": True}),
    ("bakery", 1, "12:15", "carousel", "Three ways to enjoy sourdough #sourdough #lunch",
     "sourdough sandwiches, a soup bowl and a cheese board", {"image_count": 3, "aspect": "portrait"}),
    ("bakery", 2, "09:00", "photo", "Our new rye loaf is here #rye #newin",
     "a dark rye loaf on linen, overhead", {"requires_approval": True}),
    # A story (9:16, no caption) and a reel kept off the feed: Instagram fetches the reel's video itself.
    ("bakery", 0, "21:00", "story", "", "a tray of cinnamon buns, steam rising", {}),
    ("bakery", 1, "17:30", "reel", "Shaping baguettes in 30 seconds #bakery #reels", None,
     {"video_url": "https://videos.example.com/baguettes.mp4", "share_to_feed": False}),
    ("bakery", 3, "16:00", "photo", "Weekend cake orders open " + " ".join(f"#cake{i}" for i in range(31)),
     "a layered berry cake", {}),
    ("bakery", 4, "08:30", "photo", "Meet Anna, our head baker #team #bakery",
     "a baker dusting flour over dough", {"aspect": "portrait"}),
    ("bakery", 5, "11:00", "photo", "Saturday market stall: find us at the square #market",
     "a market stall with bread and a striped awning", {"aspect": "landscape"}),
    ("flowers", 0, "20:00", "photo", "Tulips are back 🌷 #tulips #spring",
     "a bunch of red and yellow tulips in a glass vase", {}),
    ("flowers", 2, "10:00", "carousel", "Wedding bouquets of the season #wedding #flowers",
     "white wedding bouquets: roses, peonies and eucalyptus", {"image_count": 2}),
    ("flowers", 3, "13:30", "photo", "How to keep cut flowers fresh for longer #tips",
     "scissors trimming flower stems over a sink", {"requires_approval": True}),
    ("flowers", 6, "09:30", "photo", "Sunday opening hours: 10 to 14 #opening",
     "a flower shop door with an open sign", {}),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def postpilot(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    done = subprocess.run([sys.executable, "-m", "postpilot", *args], env=env, input=stdin, capture_output=True,
                          text=True, check=True)
    return done.stdout


def seed(env: dict[str, str]) -> None:
    """Accounts, users and posts, written as a marketer would: plain SQL through the repository's engine."""
    from sqlalchemy import text

    from postpilot.db.engine import build_engine

    engine = build_engine(env["POSTPILOT_DATABASE_URL"])
    today = datetime.now(ZONE).date()
    with engine.begin() as conn:
        for name, ig_user in (("bakery", "17841400000000101"), ("flowers", "17841400000000102")):
            conn.execute(text("INSERT INTO accounts (name, ig_user_id, dry_run, time_zone) "
                              "VALUES (:n, :i, true, 'Europe/Berlin')"), {"n": name, "i": ig_user})
        ids = {r[1]: r[0] for r in conn.execute(text("SELECT id, name FROM accounts"))}
        for account, day, clock, kind, caption, prompt, extra in SAMPLES:
            hour, minute = map(int, clock.split(":"))
            local = datetime.combine(today + timedelta(days=day), datetime.min.time(), ZONE).replace(
                hour=hour, minute=minute)
            at = max(local.astimezone(UTC), datetime.now(UTC) + timedelta(minutes=20))
            columns = {"account_id": ids[account], "post_type": kind, "caption": caption, "prompt": prompt,
                       "scheduled_at": at, **extra}
            names, values = ", ".join(columns), ", ".join(f":{k}" for k in columns)
            conn.execute(text(f"INSERT INTO scheduled_posts ({names}) VALUES ({values})"), columns)
    engine.dispose()
    postpilot(env, "user", "add", "maria", stdin=PASSWORD + "\n")


def wait(check: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.3)
    raise SystemExit(f"timed out waiting for {what}")


def prepared(env: dict[str, str]) -> bool:
    status = json.loads(urllib.request.urlopen(f"http://{env['POSTPILOT_HEALTH_LISTEN']}/status", timeout=5).read())
    counts = status["counts"]
    return not counts.get("scheduled") and not counts.get("preparing")


def shoot(base: str, out: Path) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    profile = tempfile.mkdtemp(prefix="postpilot-shots-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--no-first-run", "--hide-scrollbars", f"--user-data-dir={profile}", "--window-size=1280,900"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        driver.get(base + "/login")
        driver.find_element(By.ID, "name").send_keys("maria")
        driver.find_element(By.ID, "password").send_keys(PASSWORD)
        driver.find_element(By.ID, "login").click()
        wait(lambda: "/login" not in driver.current_url, 20, "the login")
        # A post waiting for approval, with its images: what a reviewer opens most.
        approval = driver.find_element(By.CSS_SELECTOR, "#needs-you .card.status-ready a").get_attribute("href")
        for name, path in (("queue", "/?days=3"), ("week", "/week"), ("post", None)):
            driver.set_window_size(1280, 900)
            driver.get(approval if path is None else base + path)
            # The whole page in one picture: the window as tall as the document (at most 3,200 px), set before
            # waiting for the images, so lazy ones far down the page are in view and load too.
            height = int(driver.execute_script("return document.documentElement.scrollHeight"))
            driver.set_window_size(1280, min(height + 140, 3200))  # the window frame takes some of it
            wait(lambda: driver.execute_script(
                "return [...document.images].every(i => i.complete && i.naturalWidth > 0)"), 30, f"{name} images")
            driver.save_screenshot(str(out / f"{name}.png"))
            print(f"wrote {out / f'{name}.png'}")
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--keep", action="store_true", help="keep the temporary state directory")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="postpilot-review-shots-"))
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("POSTPILOT_", "OPENAI_", "CLOUDINARY_", "STATE_DIRECTORY", "NOTIFY_SOCKET"))}
    from cryptography.fernet import Fernet

    env = {**clean,
           "POSTPILOT_STATE_DIR": str(work),
           "POSTPILOT_DATABASE_URL": f"sqlite:///{work / 'postpilot.db'}",
           "POSTPILOT_SECRET_KEY": Fernet.generate_key().decode(),
           "POSTPILOT_HEALTH_LISTEN": f"127.0.0.1:{free_port()}",
           "POSTPILOT_WEB_LISTEN": f"127.0.0.1:{free_port()}",
           "POSTPILOT_PREPARE_AHEAD_S": str(8 * 86400),  # a week ahead prepared at once: every card has images
           "POSTPILOT_POLL_INTERVAL_S": "1",
           "POSTPILOT_LOG_LEVEL": "warning"}
    postpilot(env, "db", "upgrade")
    seed(env)
    with (work / "daemon.log").open("wb") as log:
        daemon = subprocess.Popen([sys.executable, "-m", "postpilot", "run"], cwd=work, env=env, stdout=log,
                                  stderr=subprocess.STDOUT)
    try:
        wait(lambda: _answers(env), 30, "the daemon")
        wait(lambda: prepared(env), 120, "every post prepared")
        shoot("http://" + env["POSTPILOT_WEB_LISTEN"], args.out)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=60)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"state kept in {work}")


def _answers(env: dict[str, str]) -> bool:
    try:
        return prepared(env) or True
    except OSError:
        return False


if __name__ == "__main__":
    main()
