"""Headless Chromium for the card tests: find it, load a card's HTML and keep the DOM after the card's
scripts have run, then read what a person sees in it: the visible text, the images, the numbers.

Chromium comes from Debian (``apt-get install -y chromium``; ``.ci/run`` installs it when it can);
``SPYFLOW_CHROMIUM`` names another binary. :func:`chromium_or_reason` says why none can be used.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# Headless, offline and quiet: no sandbox (CI runs as root), no GPU, no network or update traffic.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
)
# A number as a person reads it: optional sign, digits with thousands separators, decimals, exponent;
# not part of a word or an identifier (hex digests, ``v1``, ``ret_20``).
NUMBER = re.compile(r"(?<![\w.])[-+−]?\d[\d,]*(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w])")
INVISIBLE_TAGS = frozenset({"script", "style", "noscript", "template", "head", "title"})


def find_chromium() -> str | None:
    """The Chromium binary: ``$SPYFLOW_CHROMIUM``, else the first of :data:`CHROMIUM_NAMES` on PATH."""
    override = os.environ.get("SPYFLOW_CHROMIUM")
    if override:
        return shutil.which(override) or (override if Path(override).is_file() else None)
    return next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)


def chromium_or_reason() -> tuple[str | None, str]:
    """``(binary, "")`` when a headless Chromium starts here, else ``(None, why not)``."""
    binary = find_chromium()
    if binary is None:
        if os.environ.get("SPYFLOW_CHROMIUM"):
            return None, f"SPYFLOW_CHROMIUM={os.environ['SPYFLOW_CHROMIUM']} is not an executable"
        names = ", ".join(CHROMIUM_NAMES)
        return None, f"none of {names} is on PATH (Debian: apt-get install -y chromium)"
    try:
        done = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as error:
        return None, f"{binary} --version failed: {error}"
    if done.returncode != 0:
        return None, f"{binary} --version exited {done.returncode}: {done.stderr.strip()[-300:]}"
    return binary, ""


def _run_chromium(binary: str, url: str, extra: list[str], width: int, height: int, timeout: float) -> str:
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        command = [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
                   *extra, url]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"chromium exited {done.returncode}: {done.stderr.strip()[-2000:]}")
    return done.stdout


def dump_dom(binary: str, html: Path, *, width: int = 1400, height: int = 6000, timeout: float = 180) -> str:
    """The DOM of ``html`` after its scripts have run (``--dump-dom``, with a virtual-time budget so the
    card's JavaScript has rendered every component before the dump)."""
    return _run_chromium(binary, html.resolve().as_uri(), ["--virtual-time-budget=15000", "--dump-dom"],
                         width, height, timeout)  # fmt: skip


def screenshot(binary: str, html: Path, png: Path, *, width: int = 1400, height: int = 6000) -> Path:
    """A PNG of ``html`` as a ``width`` px wide window shows it (for a person to look at)."""
    _run_chromium(binary, html.resolve().as_uri(), ["--virtual-time-budget=15000", f"--screenshot={png}"],
                  width, height, 180)  # fmt: skip
    return png


@dataclass
class RenderedPage:
    """What a reader sees of a rendered page: its text fragments (scripts and styles left out), its
    tables (rows of cell texts), its value boxes (the card's coloured banners: CSS classes and text) and
    its images' ``src`` attributes."""

    texts: list[str] = field(default_factory=list)
    tables: list[list[list[str]]] = field(default_factory=list)
    value_boxes: list[tuple[frozenset[str], str]] = field(default_factory=list)
    image_sources: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The visible text, fragments joined by single spaces."""
        return " ".join(self.texts)

    def table_with_header(self, *headers: str) -> list[list[str]]:
        """The rows (header row first) of the first table whose header row holds every one of ``headers``."""
        for table in self.tables:
            if table and all(h in table[0] for h in headers):
                return table
        raise LookupError(f"no table with columns {headers}; headers: {[t[0] for t in self.tables if t]}")

    def image_bytes(self) -> list[bytes]:
        """The decoded bytes of every image (data URIs; other sources give b"")."""
        out = []
        for src in self.image_sources:
            head, _, data = src.partition(",")
            out.append(
                base64.b64decode(data.strip()) if head.startswith("data:") and "base64" in head else b""
            )
        return out


class _PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = RenderedPage()
        self.hidden = 0
        self.row: list[str] | None = None
        self.cell: list[str] | None = None
        self.open_tables: list[list[list[str]]] = []
        self.divs = 0
        self.box: tuple[int, frozenset[str], list[str]] | None = None  # (div depth, classes, texts)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "div":
            self.divs += 1
            classes = frozenset((dict(attrs).get("class") or "").split())
            if "value-box" in classes and self.box is None:
                self.box = (self.divs, classes, [])
        if tag in INVISIBLE_TAGS:
            self.hidden += 1
        elif tag == "img":
            self.page.image_sources.append(dict(attrs).get("src") or "")
        elif tag == "table":
            self.open_tables.append([])
        elif tag == "tr" and self.open_tables:
            self.row = []
        elif tag in ("td", "th") and self.row is not None:
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "div":
            if self.box is not None and self.box[0] == self.divs:
                self.page.value_boxes.append((self.box[1], " ".join(self.box[2])))
                self.box = None
            self.divs -= 1
        if tag in INVISIBLE_TAGS:
            self.hidden = max(self.hidden - 1, 0)
        elif tag in ("td", "th") and self.cell is not None and self.row is not None:
            self.row.append(" ".join(self.cell))
            self.cell = None
        elif tag == "tr" and self.row is not None and self.open_tables:
            self.open_tables[-1].append(self.row)
            self.row = None
        elif tag == "table" and self.open_tables:
            self.page.tables.append(self.open_tables.pop())

    def handle_data(self, data: str) -> None:
        text = " ".join(data.split())
        if self.hidden or not text:
            return
        self.page.texts.append(text)
        if self.box is not None:
            self.box[2].append(text)
        if self.cell is not None:
            self.cell.append(text)


def card_html(root: Path, run_id: str, step: str, task_id: str, card_id: str) -> Path:
    """The HTML file of a rendered card of a test run in the datastore under ``root`` (see
    :func:`tests.helpers.cards.card_text` for why the file is read directly)."""
    pattern = f"**/{run_id}/steps/{step}/tasks/{task_id}/cards/*-{card_id}-*.html"
    files = sorted(root.glob(pattern))
    if not files:
        raise FileNotFoundError(f"no card matching {pattern} under {root}")
    return files[-1]


def read_page(dom: str) -> RenderedPage:
    """Parse a dumped DOM into what a reader sees."""
    parser = _PageParser()
    parser.feed(dom)
    parser.close()
    return parser.page


def significant_digits(number: str) -> int:
    """Significant digits of a number as written: ``0.0589`` -> 3, ``7,455`` -> 4, ``1.87e-05`` -> 3,
    ``250`` -> 2 (trailing zeros of a whole number are not counted), ``0`` -> 1."""
    mantissa = re.split(r"[eE]", number.lstrip("-+−"))[0].replace(",", "")
    digits = mantissa.replace(".", "").lstrip("0")
    if "." not in mantissa:
        digits = digits.rstrip("0")
    return max(len(digits), 1)


def long_numbers(text: str, limit: int = 6, ignore: tuple[str, ...] = ()) -> list[str]:
    """The numbers in ``text`` shown with more than ``limit`` significant digits, after removing the
    ``ignore`` strings (identifiers such as run ids, which are names, not measurements)."""
    for name in ignore:
        text = text.replace(name, " ")
    return [n for n in NUMBER.findall(text) if significant_digits(n) > limit]
