"""The banner in the browser: size, time to a fully painted banner, cost to the page, click cost.

Serves one plain article page three ways from the same local server: with our tag, with a
hand-made 40-line banner loaded the same way (an async external script), and with no banner.
Headless Chromium (/usr/bin/chromium) loads them interleaved, each run in a fresh context, in
three profiles: desktop; a phone viewport with 4x CPU throttling; that plus Slow 4G (DevTools
protocol throttling). It prints median, min and max of:

- banner: navigation start to the first frame with the banner painted at full opacity;
- FCP: the page's own first contentful paint (with tag vs without, on Slow 4G);
- script: main-thread script time (CDP Performance.getMetrics ScriptDuration);
- long tasks over 50 ms, layout shift, DOM nodes of the first layer;
- click: from the click on "Accept all" to the site's consent callback (desktop).

    python bench/snippet.py [--runs 15]
"""

from __future__ import annotations

import argparse
import gzip
import re
import statistics
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from support import ROOT

sys.path.insert(0, str(ROOT))

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
# Chrome DevTools' "Slow 4G" preset.
SLOW_4G = {
    "offline": False,
    "latency": 562.5,
    "downloadThroughput": 1.4 * 1024 * 1024 / 8 * 0.9,
    "uploadThroughput": 750 * 1024 / 8 * 0.9,
}
PROFILES = {
    "desktop": {"viewport": {"width": 1280, "height": 800}, "cpu": 1, "network": None},
    "phone 4x CPU": {
        "viewport": {"width": 390, "height": 844},
        "mobile": True,
        "cpu": 4,
        "network": None,
    },
    "phone 4x CPU + Slow 4G": {
        "viewport": {"width": 390, "height": 844},
        "mobile": True,
        "cpu": 4,
        "network": SLOW_4G,
    },
}
ARTICLE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Article</title>
{tag}</head><body><main style="max-width:720px;margin:auto;font:17px/1.6 serif">
<h1>Industrial sensors for global manufacturers</h1>
{paragraphs}</main></body></html>"""
PARAGRAPH = (
    "<p>Our sensors measure temperature, vibration and pressure on production lines in forty "
    "countries. Each one reports every second, keeps a week of readings when the network is "
    "down, and runs for five years on one battery.</p>"
)
# Polls every frame from navigation start: the first frame in which the banner is in the
# layout with full opacity is when it was painted.
PROBE = """
window.__bench = {banner: null, shift: 0, longTasks: 0};
new PerformanceObserver(l => l.getEntries().forEach(e => { if (!e.hadRecentInput)
  __bench.shift += e.value; })).observe({type: 'layout-shift', buffered: true});
new PerformanceObserver(l => __bench.longTasks += l.getEntries().length)
  .observe({type: 'longtask', buffered: true});
(function poll() {
  const host = document.getElementById('consent-service');
  const el = host ? host.shadowRoot && host.shadowRoot.querySelector('.b')
                  : document.getElementById('handmade-banner');
  if (el && el.getBoundingClientRect().height > 0 && getComputedStyle(el).opacity === '1')
    __bench.banner = performance.now();
  else requestAnimationFrame(poll);
})();
"""


def percentiles(values: list[float]) -> str:
    return f"{statistics.median(values):8.1f} {min(values):8.1f} {max(values):8.1f}"


def start_server() -> tuple[str, str]:
    from flask import Response
    from flask_migrate import upgrade
    from werkzeug.serving import make_server

    from consent_service import create_app
    from consent_service.sites import demo

    workdir = Path(tempfile.mkdtemp(prefix="bench-snippet-"))
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{workdir}/bench.sqlite",
            "SECRET_KEY": "bench-secret-key-that-is-long-enough-0123456789",
            "LEDGER_SIGNING_KEY": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        }
    )
    server = make_server("127.0.0.1", 0, app, threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    with app.app_context():
        upgrade()
        site, _ = demo.ensure_demo_site(base)
        site_key = site.site_key
    handmade = (ROOT / "bench" / "handmade-banner.js").read_bytes()
    tags = {
        "ours": f'<script src="/c/{site_key}.js" async></script>',
        "handmade": '<script src="/bench/handmade.js" async></script>',
        "none": "",
    }
    paragraphs = PARAGRAPH * 12
    body = {
        name: ARTICLE.format(tag=tag, paragraphs=paragraphs).encode() for name, tag in tags.items()
    }
    app.add_url_rule(
        "/bench/<name>.html", "bench_page", lambda name: Response(body[name], mimetype="text/html")
    )
    app.add_url_rule(
        "/bench/handmade.js",
        "bench_handmade",
        lambda: Response(
            handmade, mimetype="text/javascript", headers={"Cache-Control": "max-age=300"}
        ),
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return base, site_key


def measure(browser: Any, base: str, variant: str, profile: dict[str, Any]) -> dict[str, float]:
    context = browser.new_context(
        viewport=profile["viewport"], is_mobile=profile.get("mobile", False)
    )
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Performance.enable")
    if profile["cpu"] > 1:
        cdp.send("Emulation.setCPUThrottlingRate", {"rate": profile["cpu"]})
    if profile["network"]:
        cdp.send("Network.enable")
        cdp.send("Network.emulateNetworkConditions", profile["network"])
    page.add_init_script(PROBE)
    page.goto(f"{base}/bench/{variant}.html", wait_until="load")
    if variant != "none":
        page.wait_for_function("() => window.__bench.banner !== null", timeout=60000)
    page.wait_for_timeout(300)
    figures: dict[str, float] = page.evaluate(
        """() => ({
        banner: __bench.banner || 0,
        fcp: (performance.getEntriesByName('first-contentful-paint')[0] || {startTime: 0})
          .startTime,
        shift: __bench.shift,
        long_tasks: __bench.longTasks,
        nodes: (() => { const h = document.getElementById('consent-service');
          if (!h) return 0; let n = 1; const w = document.createTreeWalker(h.shadowRoot);
          while (w.nextNode()) n++; return n; })(),
    })"""
    )
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    figures["script"] = metrics["ScriptDuration"] * 1000
    if variant == "ours" and profile["cpu"] == 1 and not profile["network"]:
        # A real mouse click (pointer down, up, click), timed from the click event's dispatch
        # to the end of our handler (hide and store; the window's bubbling listener runs right
        # after it) and to the site's consent callback (after the browser painted the result).
        page.evaluate(
            """() => { window.__click = new Promise(done => {
            let start, handled;
            addEventListener('click', () => { start = performance.now(); }, true);
            addEventListener('click', () => { handled = performance.now() - start; });
            consentService.on('change', () => done([handled, performance.now() - start]));
        }); }"""
        )
        page.locator("#consent-service .b button").first.click()
        figures["handler"], figures["click"] = page.evaluate("() => window.__click")
    context.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    runtime = (ROOT / "consent_service" / "static" / "snippet" / "runtime.js").read_bytes()
    stub = (ROOT / "consent_service" / "static" / "snippet" / "stub.js").read_bytes()
    handmade = (ROOT / "bench" / "handmade-banner.js").read_bytes()
    base, site_key = start_server()
    import urllib.request

    served = urllib.request.urlopen(f"{base}/c/{site_key}.js").read()
    forms = (ROOT / "consent_service" / "static" / "snippet" / "forms.js").read_bytes()
    # Fetched only by pages with a <form data-consent-form>: the URL the banner script names.
    forms_url = re.search(rb'"(https?://[^"]+/c/forms/[^"]+[.]js)"', served)
    served_forms = urllib.request.urlopen(forms_url.group(1).decode()).read() if forms_url else b""
    print("size (gzip -9)")
    for label, data in [
        ("runtime JS+CSS (budget 6000)", runtime),
        ("stub (budget 400)", stub),
        ("demo site's whole script (runtime + config, 2 languages)", served),
        ("forms script, pages with a form only (budget 3000)", forms),
        ("demo site's forms script (+ its 2 forms, 2 languages)", served_forms),
        ("hand-made banner", handmade),
    ]:
        print(f"  {label:<58} {len(data):>7} B {len(gzip.compress(data, 9)):>6} B gzip")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        for name, profile in PROFILES.items():
            results: dict[str, list[dict[str, float]]] = {"ours": [], "handmade": [], "none": []}
            for _ in range(args.runs):
                for variant in results:
                    results[variant].append(measure(browser, base, variant, profile))
            print(f"\n{name}: {args.runs} interleaved runs      median      min      max")

            def row(label: str, variant: str, key: str, results: dict[str, Any] = results) -> None:
                values = [run[key] for run in results[variant]]
                print(f"  {label:<34} {percentiles(values)}")

            row("banner painted, ours (ms)", "ours", "banner")
            row("banner painted, hand-made (ms)", "handmade", "banner")
            ratio = [
                a["banner"] / b["banner"]
                for a, b in zip(results["ours"], results["handmade"], strict=True)
            ]
            print(f"  {'  ratio ours/hand-made (<= 1.15)':<34} {percentiles(ratio)}")
            row("FCP with our tag (ms)", "ours", "fcp")
            row("FCP without a banner (ms)", "none", "fcp")
            delta = [
                a["fcp"] - b["fcp"] for a, b in zip(results["ours"], results["none"], strict=True)
            ]
            print(f"  {'  FCP delta (<= 10 ms on Slow 4G)':<34} {percentiles(delta)}")
            row("script time, ours (ms)", "ours", "script")
            row("script time, hand-made (ms)", "handmade", "script")
            row("script time, no banner (ms)", "none", "script")
            row("long tasks > 50 ms, ours", "ours", "long_tasks")
            row("long tasks > 50 ms, hand-made", "handmade", "long_tasks")
            row("long tasks > 50 ms, no banner", "none", "long_tasks")
            row("layout shift, ours", "ours", "shift")
            row("first-layer DOM nodes (<= 25)", "ours", "nodes")
            if "click" in results["ours"][0]:
                row("click to hidden and stored (ms)", "ours", "handler")
                row("click to consent callback (ms)", "ours", "click")
        browser.close()


if __name__ == "__main__":
    main()
