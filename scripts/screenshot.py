#!/usr/bin/env python3
"""Screenshot of a web page once its scripts have drawn it: Playwright (PyPI) driving the system's
Chromium.   usage: screenshot.py URL OUT.png [SECONDS]"""
import shutil
import sys
import time

from playwright.sync_api import sync_playwright

url, out = sys.argv[1], sys.argv[2]
settle = float(sys.argv[3]) if len(sys.argv) > 3 else 12
chromium = shutil.which("chromium") or shutil.which("chromium-browser")
with sync_playwright() as p:
    browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(url)
    time.sleep(settle)
    page.screenshot(path=out)
    browser.close()
