"""Screenshots of the map page of a running site, for docs/img: as a person sees it, in Debian's headless
Chromium (driven by Playwright, no browser download).

    .venv/bin/python scripts/screenshot_map.py http://127.0.0.1:8000 --at LAT LON --out docs/img/map.png

Types the coordinate into the page's search form (as a user would), waits until the high-resolution map
of the default model has been computed by the site's worker and its statistics are shown, zooms the map
to the patch and saves the page. Several --at give several files (--out gets -1, -2, … before .png).
With --area, a place outside the catalogue: the page offers the square around it, which is mapped from
the imagery sources (the local catalogue's demo scene, or a STAC API), and the area card is shot.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def search(page, base: str, lat: float, lon: float) -> None:
    """Open the map page and type the coordinate into its search form, as a user would."""
    page.goto(f"{base}/map/")
    page.wait_for_selector("#search-form button:not([disabled])")
    page.fill("#search-lat", f"{lat:.6f}")
    page.fill("#search-lon", f"{lon:.6f}")
    page.click("#search-form button")


def shoot(page, base: str, lat: float, lon: float, out: Path, zoom: int, timeout_s: float) -> str:
    """One place: search it, wait for the model's statistics, zoom in, save; returns the statistics text."""
    search(page, base, lat, lon)
    page.locator("#card-high .stats-table").wait_for(timeout=timeout_s * 1000)
    # The MODIS card settles too (a table, or a note where the patch has no MODIS map), for a few seconds.
    page.wait_for_timeout(3000)
    page.evaluate(f"window.hrmarsMap.setView([{lat}, {lon}], {zoom})")
    page.wait_for_function("document.querySelectorAll('.overlay-high img.leaflet-tile-loaded').length > 0",
                           timeout=timeout_s * 1000)
    page.wait_for_timeout(1500)  # the last tiles and the zoom animation
    out.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(out), full_page=False)
    return str(page.locator("#card-high .stats-table").inner_text())


def shoot_area(page, base: str, lat: float, lon: float, out: Path, zoom: int, timeout_s: float) -> str:
    """A place outside the catalogue: map the square around it from imagery, wait for its statistics, save."""
    search(page, base, lat, lon)
    page.locator("button.map-square").click()
    page.locator("#card-area .stats-table").wait_for(timeout=timeout_s * 1000)
    page.evaluate(f"window.hrmarsMap.setView([{lat}, {lon}], {zoom})")
    page.locator("#card-area .opacity").fill("0.55")  # the Sentinel-2 image shows through the land cover
    page.locator("#card-area .area-facts").scroll_into_view_if_needed()
    page.wait_for_function("document.querySelectorAll('.overlay-area img.leaflet-tile-loaded').length > 0",
                           timeout=timeout_s * 1000)
    page.wait_for_timeout(1500)
    out.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(out), full_page=False)
    return str(page.locator("#card-area").inner_text())


def main(argv: list[str] | None = None) -> int:
    """Take the screenshots."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="the site, e.g. http://127.0.0.1:8000")
    parser.add_argument("--at", nargs=2, type=float, action="append", metavar=("LAT", "LON"), required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--zoom", type=int, default=14)
    parser.add_argument("--area", action="store_true", help="map the square around each place from imagery")
    parser.add_argument("--size", nargs=2, type=int, default=(1400, 900), metavar=("W", "H"))
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for a map")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=args.chromium, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": args.size[0], "height": args.size[1]})
        for i, (lat, lon) in enumerate(args.at, start=1):
            out = args.out if len(args.at) == 1 else args.out.with_name(f"{args.out.stem}-{i}{args.out.suffix}")
            stats = (shoot_area if args.area else shoot)(page, args.url.rstrip("/"), lat, lon, out, args.zoom,
                                                          args.timeout)
            print(f"{out}:\n{stats}\n")
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
