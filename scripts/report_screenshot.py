"""Screenshot an output folder's report with headless chromium (``make report-screenshot``).

Usage: ``python scripts/report_screenshot.py OUT PNG [--width 1280] [--height 2000] [--render]``

The README shows what a reviewer sees; taking the picture from the real page in a real browser, rather
than by hand, keeps it in step with the report. The report is rendered first when OUT has none (or with
``--render``). Chromium runs with networking extras off and a throw-away profile, so the shot needs no
network and leaves nothing behind.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from transforms.publish.report import (  # after the path fix above
    CHROMIUM_MISSING,
    REPORT_FILE,
    chromium_command,
    find_chromium,
    page_url,
    render_report,
)


def screenshot(out: Path, png: Path, width: int = 1280, height: int = 2000, render: bool = False) -> Path:
    """Write ``png`` (width × height) of ``out/report.html``; raises RuntimeError when chromium fails."""
    browser = find_chromium()
    if browser is None:
        raise RuntimeError(CHROMIUM_MISSING)
    page = out / REPORT_FILE
    if render or not page.exists():
        page = render_report(out)
    png = png.resolve()
    png.parent.mkdir(parents=True, exist_ok=True)
    png.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="powerlists-chromium-") as profile:
        command = chromium_command(
            browser,
            Path(profile),
            f"--window-size={width},{height}",
            "--virtual-time-budget=5000",  # let the page's script render the tables first
            f"--screenshot={png}",
            page_url(page),
        )
        done = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    if done.returncode != 0 or not png.exists():
        raise RuntimeError(f"chromium failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return png


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="output folder (with report.html, or Parquet to render it from)")
    parser.add_argument("png", type=Path, help="where to write the screenshot")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=2000)
    parser.add_argument("--render", action="store_true", help="re-render report.html first")
    args = parser.parse_args(argv)
    if not args.out.is_dir():
        print(f"{args.out}: not an output folder (run `make run` first)", file=sys.stderr)
        return 2
    try:
        png = screenshot(args.out, args.png, args.width, args.height, args.render)
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
