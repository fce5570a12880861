"""`scan`: what a site really sets and sends, before and after consent. Exits 1 on a violation,
so a site owner can run it in CI against staging."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from flask.cli import with_appcontext

from consent_service.cli.common import site_or_fail


class ScanError(click.ClickException):
    """The scan could not run: exit 2, so that 1 always means "violations found"."""

    exit_code = 2


@contextmanager
def progress_bar(length: int) -> Iterator[Any]:
    """Click's bar on a terminal; silent in scripts and CI."""
    if not sys.stderr.isatty():
        yield None
        return
    with click.progressbar(length=length, label="Scanning", file=sys.stderr) as bar:
        yield bar


def write(path: str, text: str) -> None:
    if path == "-":
        click.echo(text, nl=False)
    else:
        Path(path).write_text(text, encoding="utf-8")


@click.command("scan")
@click.option("--site", "site_key", required=True, help="The site's key.")
@click.argument("urls", nargs=-1, required=True)
@click.option(
    "--pages",
    "max_pages",
    default=10,
    show_default=True,
    type=click.IntRange(1, 500),
    help="Visit at most this many pages (links and sitemap followed).",
)
@click.option("--json", "json_path", help="Write the JSON report here ('-' for stdout).")
@click.option("--html", "html_path", help="Write the HTML report here.")
@click.option(
    "--propose",
    "propose_path",
    type=click.Path(dir_okay=False),
    help="Write the undeclared findings as proposed services (never applied).",
)
@click.option(
    "--locale",
    "locales",
    multiple=True,
    help="Capture the banner in this locale only; repeat. Default: every locale.",
)
@click.option(
    "--chromium",
    "executable",
    default="/usr/bin/chromium",
    show_default=True,
    help="The Chromium binary Playwright drives.",
)
@with_appcontext
def scan_command(
    site_key: str,
    urls: tuple[str, ...],
    max_pages: int,
    json_path: str | None,
    html_path: str | None,
    propose_path: str | None,
    locales: tuple[str, ...],
    executable: str,
) -> None:
    """Scan URL... of the site in headless Chromium: no choice, after Reject all, after
    Accept all. Prints the violations; exits 1 when there is one."""
    from consent_service.scanner import proposals, reports
    from consent_service.scanner.crawl import ScannerUnavailable
    from consent_service.scanner.scans import run_scan, steps
    from consent_service.sites.public_config import site_locales

    try:
        site = site_or_fail(site_key)
    except click.ClickException as exc:
        raise ScanError(exc.message) from exc
    chosen = list(locales) or None
    try:
        with progress_bar(steps(max_pages, chosen or site_locales(site))) as bar:
            outcome = run_scan(
                site, list(urls), max_pages=max_pages, locales=chosen, executable=executable,
                progress=bar.update if bar is not None else None,
            )  # fmt: skip
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="URL") from exc
    except ScannerUnavailable as exc:
        raise ScanError(str(exc)) from exc
    report = outcome.report
    if json_path:
        write(json_path, reports.json_report(report))
    if html_path:
        write(html_path, reports.html_report(report, outcome.shots))
    if propose_path:
        proposals.write_proposal(Path(propose_path), site, proposals.propose(outcome.findings))
    summary = report["summary"]
    err = json_path == "-"
    click.echo(
        f"{summary['pages']} pages, {len(report['findings'])} findings, "
        f"{summary['violations']} violations ({report['duration_seconds']} s)",
        err=err,
    )
    for violation in outcome.violations:
        click.echo(f"  {violation['rule']} [{violation['state']}] {violation['page']}", err=err)
        click.echo(f"    {violation['evidence']}", err=err)
    if outcome.violations:
        click.get_current_context().exit(1)
