"""`--format web`: the static site runs the model in headless Chromium with the network
blocked, opened as a file and from a static server, and its outputs equal onnxruntime's in
Python for the same inputs. Skips where Playwright, Chromium or the onnxruntime-web files
(`npm install --prefix ~/.cache/brickwork/npm onnxruntime-web@1.30.0`; .ci/run does it) are
absent.
"""

from __future__ import annotations

import functools
import http.server
import json
import threading

import numpy as np
import pytest
import torch

from brickwork.data import apply_preprocessing
from brickwork.errors import BrickworkError
from brickwork.export.webpage import export_site, find_ort_web
from brickwork.models.io import load
from tests.serve.conftest import char_lm, digits_model, forecaster


def ort_web_or_skip():
    try:
        return find_ort_web()
    except BrickworkError:
        pytest.skip("onnxruntime-web is not installed (see the module docstring)")


def site(model_file, folder):
    model = load(model_file)
    export_site(model, folder, model.card.to_header(), {"name": model.card.name})
    return model, folder


@pytest.fixture(scope="module")
def sites(tmp_path_factory):
    ort_web_or_skip()
    root = tmp_path_factory.mktemp("web")
    return {
        "digits": site(digits_model(root / "digits.safetensors"), root / "digits_web"),
        "lm": site(char_lm(root / "lm.safetensors"), root / "lm_web"),
        "series": site(forecaster(root), root / "series_web"),
    }


@pytest.fixture(scope="module")
def server(sites):
    """One static server (Python's http.server) on loopback for the folder of all sites."""
    root = sites["digits"][1].parent
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()


def open_page(browser, url):
    """A page with every request refused except file://, loopback and blob: (the offline test)."""
    context = browser.new_context()
    refused = []

    def route(r):
        if r.request.url.startswith(("file://", "http://127.0.0.1", "blob:")):
            return r.continue_()
        refused.append(r.request.url)
        return r.abort()

    context.route("**/*", route)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    page.evaluate("window.brickwork.ready.then(() => true)")
    return page, errors, refused


def onnx_run(folder, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    return session.run(None, {"input": x})[0]


def urls(sites, server, name):
    folder = sites[name][1]
    return [folder.joinpath("index.html").as_uri(), f"{server}/{folder.name}/index.html"]


@pytest.mark.parametrize("where", ["file", "http"])
def test_digits_page_matches_onnxruntime(browser, sites, server, where):
    model, folder = sites["digits"]
    page, errors, refused = open_page(browser, urls(sites, server, "digits")[where == "http"])
    raw = np.random.default_rng(0).uniform(0, 16, (1, 1, 8, 8)).astype(np.float32)
    got = np.array(page.evaluate("(raw) => window.brickwork.predict(raw)", raw.ravel().tolist()))
    x = apply_preprocessing(model.card.preprocessing, torch.from_numpy(raw)).numpy()
    assert np.abs(got - onnx_run(folder, x)[0]).max() <= 1e-4
    # a drawn "1": the page turns the canvas into raw pixels, preprocesses and shows top classes
    box = page.locator("#pad").bounding_box()
    page.mouse.move(box["x"] + 140, box["y"] + 40)
    page.mouse.down()
    for y in range(40, 250, 10):
        page.mouse.move(box["x"] + 142, box["y"] + y)
    page.mouse.up()
    page.click("#predict-btn")
    page.wait_for_selector("#prediction .bar-row", timeout=15000)
    labels = page.locator("#prediction .label").all_inner_texts()
    assert len(labels) == 5 and set(labels) <= {str(i) for i in range(10)}
    last = page.evaluate("window.brickwork.last")
    drawn = np.array(last["raw"], dtype=np.float32).reshape(1, 1, 8, 8)
    assert drawn.max() > 4  # the stroke is there, in the digits' 0-16 range
    x = apply_preprocessing(model.card.preprocessing, torch.from_numpy(drawn)).numpy()
    assert np.abs(np.array(last["output"]) - onnx_run(folder, x)[0]).max() <= 1e-4
    assert not errors and not refused and "digits_test_cnn" in page.inner_text("#title")
    page.context.close()


@pytest.mark.parametrize("where", ["file", "http"])
def test_language_model_page_streams_and_matches_python(browser, sites, server, where):
    from brickwork.data.text import Vocab
    from brickwork.generate import generate

    model, folder = sites["lm"]
    vocab = Vocab.from_json(model.card.vocab)
    page, errors, refused = open_page(browser, urls(sites, server, "lm")[where == "http"])
    greedy = page.evaluate(
        "window.brickwork.generate('to be', {length: 25, temperature: 0})"
    )  # every step reruns the whole prompt: ids of any length
    assert greedy == "".join(generate(model, vocab, "to be", 25, temperature=0))
    last = page.evaluate("window.brickwork.last")
    ids = np.array([last["ids"]], dtype=np.int64)
    assert np.abs(np.array(last["logits"]) - onnx_run(folder, ids)[0, -1]).max() <= 1e-4
    same = "window.brickwork.generate('to be', {length: 20, temperature: 0.8, top_k: 5, seed: 7})"
    assert page.evaluate(same) == page.evaluate(same)  # the seeded RNG repeats itself
    page.fill("#prompt", "to be")
    page.fill("#length", "30")
    page.click("#generate-btn")
    page.wait_for_function("document.querySelector('#text').textContent.length >= 35")
    assert page.inner_text("#text").startswith("to be") and not errors and not refused
    page.context.close()


def test_language_model_page_names_unknown_characters(browser, sites):
    page, _, _ = open_page(browser, urls(sites, "", "lm")[0])
    page.fill("#prompt", "zq~")
    page.click("#generate-btn")
    page.wait_for_selector("#error:not(.hidden)")
    assert "vocabulary does not have" in page.inner_text("#error")
    page.context.close()


def test_forecaster_page_draws_the_same_forecast_as_python(browser, sites):
    from brickwork.forecast import forecast

    model, folder = sites["series"]
    page, errors, refused = open_page(browser, urls(sites, "", "series")[0])
    page.wait_for_selector("#plot polyline", timeout=15000)
    assert page.locator("#plot polyline").count() == 2 and "24 steps" in page.text_content("#plot")
    history = json.loads((folder / "model.json").read_text())["forecast"]["history"]
    got = page.evaluate("(h) => window.brickwork.forecast(h, 24)", history)["forecast"]
    expected = forecast(model, 24, history=np.array(history))["forecast"]
    assert np.abs(np.array(got) - np.array(expected)).max() <= 1e-4 and not errors and not refused
    page.context.close()


def test_site_contents_and_refusals(tmp_path, monkeypatch):
    dist = ort_web_or_skip()
    model = load(char_lm(tmp_path / "lm.safetensors"))
    out = tmp_path / "site"
    export_site(model, out, model.card.to_header(), ort_web=dist)
    names = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert {"index.html", "model.onnx", "model.json", "ort/ort.wasm.min.js"} <= names
    config = json.loads((out / "model.json").read_text())
    assert config["kind"] == "language_model" and config["vocab"]["tokens"][:2] == [
        "<pad>",
        "<unk>",
    ]
    assert (out / "index.html").stat().st_mode & 0o044  # a static server can read it
    with pytest.raises(BrickworkError, match="already exists"):
        export_site(model, out, model.card.to_header(), ort_web=dist)
    monkeypatch.delenv("BRICKWORK_ORT_WEB", raising=False)
    with pytest.raises(BrickworkError, match="npm install --prefix .* onnxruntime-web@"):
        find_ort_web(tmp_path / "nowhere")
    assert not (tmp_path / "other").exists()


def test_cli_web_export_and_its_errors(tmp_path, capsys, monkeypatch):
    from brickwork.cli.main import main

    model_file = char_lm(tmp_path / "lm.safetensors")
    monkeypatch.delenv("BRICKWORK_ORT_WEB", raising=False)
    dist = ort_web_or_skip()
    monkeypatch.setenv("BRICKWORK_ORT_WEB", str(tmp_path / "no_ort"))
    assert main(["export", str(model_file), "--format", "web", "-o", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert "npm install --prefix" in err and "Traceback" not in err
    assert not (tmp_path / "s").exists()
    assert main(["export", str(model_file), "--format", "torchscript"]) == 2
    assert "pt2" in capsys.readouterr().err
    monkeypatch.setenv("BRICKWORK_ORT_WEB", str(dist))
    out = tmp_path / "site"
    assert main(["export", str(model_file), "--format", "web", "-o", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["format"] == "web" and (out / "index.html").is_file()
