"""Open a local HTML file in the system's headless Chromium and report what loaded (for tests).

Talks to Chromium over the Chrome DevTools Protocol (``websocket-client``). Chromium is a test tool
that ``scripts/bootstrap.sh`` installs with ``IDSD_DEV=1``; when it is missing this fails, never skips.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import websocket

PROBE = """(() => {
  const imgs = Array.from(document.images);
  const meta = document.querySelector('meta[name="idsd-expected"]');
  const tables = Array.from(document.querySelectorAll('table'));
  return {
    images: imgs.length,
    broken: imgs.filter(i => !i.complete || i.naturalWidth === 0).map(i => i.alt || i.src.slice(0, 80)),
    tables: tables.length,
    empty_tables: tables.filter(t => t.querySelectorAll('td').length === 0).length,
    expected: meta ? JSON.parse(meta.content) : null,
    title: document.title,
  };
})()"""


def chromium() -> str:
    """The path of the system Chromium; raises RuntimeError naming how to install it."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        raise RuntimeError("no chromium on PATH: IDSD_DEV=1 scripts/bootstrap.sh installs it "
                           "(or apt-get install chromium)")
    return exe


def open_in_chromium(path: Path, timeout: float = 60) -> dict:
    """Load ``path`` in headless Chromium and return what the page holds once loaded.

    Returns
    -------
    dict
        ``images`` (count), ``broken`` (alt texts of images that did not decode), ``tables``,
        ``empty_tables`` (without a ``<td>``), ``expected`` (the parsed ``idsd-expected`` meta or
        None) and ``title``.
    """
    deadline = time.monotonic() + timeout
    with tempfile.TemporaryDirectory(prefix="idsd-chromium-") as profile:
        proc = subprocess.Popen(
            [chromium(), "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--remote-debugging-port=0", f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        ws = None
        try:
            port_file = Path(profile) / "DevToolsActivePort"
            while not (port_file.is_file() and port_file.read_text().strip()):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"chromium did not start (exit status {proc.poll()})")
                time.sleep(0.1)
            port = int(port_file.read_text().split()[0])
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=timeout) as r:
                pages = [t for t in json.load(r) if t.get("type") == "page"]
            if not pages:
                req = urllib.request.Request(f"http://127.0.0.1:{port}/json/new?about:blank", method="PUT")
                with urllib.request.urlopen(req, timeout=timeout) as r:
                    pages = [json.load(r)]
            ws = websocket.create_connection(pages[0]["webSocketDebuggerUrl"], timeout=timeout,
                                             suppress_origin=True)
            ids = iter(range(1, 1_000_000))

            def call(method: str, **params) -> dict:
                msg_id = next(ids)
                ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
                while True:  # skip events until our answer
                    msg = json.loads(ws.recv())
                    if msg.get("id") == msg_id:
                        if "error" in msg:
                            raise RuntimeError(f"{method}: {msg['error']}")
                        return msg["result"]

            def evaluate(expr: str):
                result = call("Runtime.evaluate", expression=expr, returnByValue=True)
                if "exceptionDetails" in result:
                    raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
                return result["result"].get("value")

            call("Page.navigate", url=Path(path).resolve().as_uri())
            while not (evaluate("document.location.protocol") == "file:"
                       and evaluate("document.readyState") == "complete"):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{path} did not load within {timeout} s")
                time.sleep(0.1)
            return evaluate(PROBE)
        finally:
            if ws is not None:
                ws.close()
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            try:  # its renderer and helper processes (their own group, which Popen started)
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
