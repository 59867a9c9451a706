#!/usr/bin/python3
"""test_load_html.py: `dpstatus load --html`: the page is self-contained (no network, no scripts),
escapes the error codes it shows, and renders its charts in headless Chromium (Debian `chromium`,
installed by scripts/test): a screenshot that is not blank and shows the throughput line's colour,
and a rendered DOM with both charts and their polylines.

Every subprocess has a timeout; the whole file takes about 10 s.
Run: DPS_BINARY=build/dpstatus python3 test_load_html.py
"""
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest
import zlib

sys.dont_write_bytecode = True  # no __pycache__ in the source tree for the import below
from test_load import Server, TempDir, load, read_json, read_text

CHROMIUM = "/usr/bin/chromium"
OK_COLOUR = (0x1F, 0x77, 0xB4)  # the ok/s polyline's stroke (cli/load_report.c)


def chromium(*args):
    """Headless Chromium, isolated: a fresh profile, nothing fetched, no sandbox (root in CI)."""
    profile = tempfile.mkdtemp(prefix="dps-chromium-")
    try:
        return subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--user-data-dir=" + profile, "--window-size=1200,900", *args],
            capture_output=True, text=True, timeout=90)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def png_pixels(path):
    """(width, height, rows of RGB tuples) of an 8-bit RGB or RGBA, non-interlaced PNG."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, ihdr = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = ihdr
    assert depth == 8 and colour in (2, 6) and interlace == 0, ihdr
    bpp = 3 if colour == 2 else 4
    raw, stride = zlib.decompress(idat), width * bpp
    prev, rows = bytearray(stride), []
    for y in range(height):
        start = y * (stride + 1)
        ftype, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        if ftype == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 255
        elif ftype == 2:
            line = bytearray((a + b) & 255 for a, b in zip(line, prev))
        elif ftype == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 255
        elif ftype == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b, c = prev[i], prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append([tuple(line[i:i + 3]) for i in range(0, stride, bpp)])
        prev = line
    return width, height, rows


class HtmlReport(TempDir):
    @classmethod
    def setUpClass(cls):
        if not os.access(CHROMIUM, os.X_OK):
            raise AssertionError("%s is missing: scripts/test installs Debian's chromium" % CHROMIUM)
        # one run for all the tests: a ramp, so the throughput line has a slope
        cls.run_dir = tempfile.mkdtemp(prefix="dps-load-html-")
        cls.json, cls.page = (os.path.join(cls.run_dir, n) for n in ("r.json", "r.html"))
        server = Server()
        try:
            p = load("--endpoint-url", server.url, "--ramp", "100..400/2s", "--duration", "3s",
                     "--json", cls.json, "--html", cls.page)
        finally:
            server.stop()
        if p.returncode != 0:
            shutil.rmtree(cls.run_dir, ignore_errors=True)
            raise AssertionError("dpstatus load failed: " + p.stderr)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.run_dir, ignore_errors=True)

    def run_load(self):
        return read_json(self.json), self.page

    def test_page_is_self_contained_and_complete(self):
        r, page = self.run_load()
        html = read_text(page)
        for banned in ("http:", "https:", "<script", "<link", "<img", "@import", "url("):
            self.assertNotIn(banned, html.lower())
        self.assertIn('<svg id="throughput"', html)
        self.assertIn('<svg id="latency"', html)
        for cls in ("ok", "errors", "p50", "p99"):
            m = re.search(r'<polyline class="series %s"[^>]* points="([^"]*)"' % cls, html)
            self.assertTrue(m, cls)
            self.assertGreaterEqual(len(m.group(1).split()), 3, (cls, m.group(1)))
        self.assertIn("<th>requests</th><td>%d</td>" % r["requests"], html)
        self.assertIn('<table id="errors">', html)
        self.assertIn("100/s to 400/s over 2 s", html)

    def test_error_codes_are_escaped(self):
        r, _ = self.run_load()
        evil = '<img src=x onerror="alert(1)">&\''
        r["ok"] -= 1
        r["errors"][evil] = 1
        crafted, page = self.path("crafted.json"), self.path("m.html")
        with open(crafted, "w") as f:
            json.dump(r, f)
        p = load("--merge", crafted, "--html", page)
        self.assertEqual(p.returncode, 0, p.stderr)
        html = read_text(page)
        self.assertNotIn("<img", html)
        self.assertIn("</th><td>1</td><td>", html)
        self.assertIn("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;&#39;", html)
        self.assertIn('<svg id="throughput"', html)

    def test_renders_in_headless_chromium(self):
        _, page = self.run_load()
        shot = self.path("shot.png")
        p = chromium("--screenshot=" + shot, "file://" + page)
        self.assertEqual(p.returncode, 0, p.stderr[-2000:])
        self.assertTrue(os.path.exists(shot), p.stderr[-2000:])
        self.assertGreater(os.path.getsize(shot), 8000)
        width, height, rows = png_pixels(shot)
        self.assertEqual((width, height), (1200, 900))
        self.assertGreater(len(set(map(tuple, rows))), 50, "the screenshot is (nearly) blank")
        near = sum(1 for row in rows for px in row
                   if all(abs(a - b) <= 40 for a, b in zip(px, OK_COLOUR)))
        self.assertGreater(near, 300, "no ok/s line drawn in the screenshot")

        p = chromium("--dump-dom", "file://" + page)
        self.assertEqual(p.returncode, 0, p.stderr[-2000:])
        dom = p.stdout
        self.assertIn('<svg id="throughput"', dom)
        self.assertIn('<svg id="latency"', dom)
        lines = re.findall(r'<polyline class="series [^"]*"[^>]* points="([^"]*)"', dom)
        self.assertEqual(len(lines), 4, dom[:2000])
        for points in lines:
            self.assertGreaterEqual(len(points.split()), 3, points)
        self.assertIn('<table id="summary">', dom)


if __name__ == "__main__":
    if not os.environ.get("DPS_BINARY"):
        raise SystemExit("set DPS_BINARY to the dpstatus executable")
    unittest.main(verbosity=2)
