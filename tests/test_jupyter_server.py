"""Interactive use: a Jupyter server on loopback lists the notebooks and runs one through its kernel.

This is what `jupyter lab` does under the hood: the REST API lists `notebooks/`, a `python3`
kernel (this environment's interpreter, registered by the bootstrap) is started through the API,
and the notebook's cells are executed over the kernel's websocket with quick-mode parameters.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid

import nbformat
import pytest
import websocket

from idsd.paths import NOTEBOOKS, ROOT
from idsd.stage import load_config, notebook_parameters

pytestmark = [pytest.mark.notebook, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port, token = _free_port(), uuid.uuid4().hex
    runtime = tmp_path_factory.mktemp("jupyter-runtime")
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(runtime), IDSD_HEADLESS="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "server", "--no-browser", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={ROOT}",
         "--ServerApp.port_retries=0", "--allow-root"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2):
                break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(proc.stderr.read().decode()[-2000:]) from None
            time.sleep(0.5)
    else:
        proc.kill()
        raise RuntimeError("jupyter server did not start")
    yield base, token, port
    proc.terminate()
    proc.wait(timeout=30)


def _api(base, token, path, method="GET", body=None):
    req = urllib.request.Request(f"{base}{path}?token={token}", method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read().decode() or "null")


def _execute(ws, code: str, timeout: float = 600) -> list[dict]:
    msg_id = uuid.uuid4().hex
    ws.send(json.dumps({
        "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "test", "session": "t",
                   "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell",
        "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                    "allow_stdin": False, "stop_on_error": True},
    }))
    outputs, deadline = [], time.time() + timeout
    while time.time() < deadline:
        msg = json.loads(ws.recv())
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "error":
            raise AssertionError("\n".join(msg["content"]["traceback"])[-3000:])
        if msg["msg_type"] in ("stream", "execute_result", "display_data"):
            outputs.append(msg["content"])
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return outputs
    raise TimeoutError(code[:200])


def test_server_lists_notebooks_and_runs_one_in_quick_mode(server, tmp_path):
    base, token, port = server
    listing = _api(base, token, "/api/contents/notebooks")
    names = sorted(item["name"] for item in listing["content"])
    expected = sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    assert expected and names == expected
    assert "python3" in _api(base, token, "/api/kernelspecs")["kernelspecs"]

    kernel = _api(base, token, "/api/kernels", method="POST", body={"name": "python3"})
    ws = websocket.create_connection(f"ws://127.0.0.1:{port}/api/kernels/{kernel['id']}/channels?token={token}",
                                     timeout=600)
    try:
        out = _execute(ws, "import sys, idsd; print(sys.prefix); print(idsd.__file__)")
        text = "".join(o.get("text", "") for o in out).split()
        assert os.path.realpath(text[0]) == os.path.realpath(sys.prefix), "kernel runs another environment"
        assert text[1].startswith(str(ROOT))

        nb = nbformat.read(NOTEBOOKS / expected[0], as_version=4)
        outputs_dir = tmp_path / "outputs"
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            _execute(ws, cell.source)
            if "parameters" in cell.metadata.get("tags", []):
                # what papermill injects with configs/quick.yaml (the notebook's own keys)
                quick = {k: v for k, v in load_config(ROOT / "configs" / "quick.yaml").items()
                         if k in notebook_parameters(NOTEBOOKS / expected[0])}
                _execute(ws, "".join(f"{k} = {v!r}\n" for k, v in quick.items())
                         + f"outputs_dir = {str(outputs_dir)!r}")
        assert any(outputs_dir.rglob("*")), "the notebook wrote nothing under outputs_dir"
    finally:
        ws.close()
        _api(base, token, f"/api/kernels/{kernel['id']}", method="DELETE")
