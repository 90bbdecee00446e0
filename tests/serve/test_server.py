"""The real server on a free loopback port: every endpoint and every bad-input case."""

from __future__ import annotations

import io
import json
import socket

import httpx
import numpy as np
import pytest
import torch

import brickwork
from brickwork.data import apply_preprocessing


@pytest.fixture(scope="module")
def client(digits_server):
    with httpx.Client(base_url=digits_server, timeout=30) as c:
        yield c


@pytest.fixture(scope="module")
def lm(lm_server):
    with httpx.Client(base_url=lm_server, timeout=30) as c:
        yield c


def digit_images(n: int = 8) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.images[-n:].astype(np.float32)[:, None], d.target[-n:]


def png(array: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(array.astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def test_health_info_and_page(client, digits_file):
    assert client.get("/health").json()["status"] == "ok"
    info = client.get("/info").json()
    assert info["kind"] == "image_classifier" and info["input_shape"] == [1, 8, 8]
    assert (
        info["classes"] == [str(i) for i in range(10)] and info["metrics"]["test"]["accuracy"] > 0.8
    )
    assert info["parameters"] == sum(p.numel() for p in brickwork.load(digits_file).parameters())
    page = client.get("/")
    assert (
        page.status_code == 200
        and "<canvas" in page.text
        and page.headers["content-type"].startswith("text/html")
    )


def test_predict_json_matches_pytorch(client, digits_file):
    x, y = digit_images()
    got = client.post("/predict", json={"inputs": x.tolist(), "top_k": 10}).json()["predictions"]
    model = brickwork.load(digits_file)
    with torch.no_grad():
        probs = model(apply_preprocessing(model.card.preprocessing, torch.from_numpy(x))).softmax(
            -1
        )
    for row, p in zip(got, probs, strict=True):
        assert [t["label"] for t in row["top"]][0] == str(int(p.argmax()))
        assert abs(row["top"][0]["probability"] - float(p.max())) < 1e-5
    assert np.mean([int(r["top"][0]["label"]) == t for r, t in zip(got, y, strict=True)]) >= 0.75
    one = client.post("/predict", json={"inputs": x[0].tolist()}).json()[
        "predictions"
    ]  # one sample, no batch axis
    assert len(one) == 1 and len(one[0]["top"]) == 3


def test_predict_image_upload(client):
    x, y = digit_images(1)
    image = png(
        x[0, 0] * 255 / 16
    )  # the page and users send 0-255 pixels; the server maps them to 0-16
    by_form = client.post(
        "/predict", files={"file": ("d.png", image, "image/png")}, data={"top_k": "2"}
    ).json()
    by_json = client.post("/predict", json={"inputs": x.tolist(), "top_k": 2}).json()
    assert (
        by_form["predictions"][0]["top"][0]["label"] == by_json["predictions"][0]["top"][0]["label"]
    )
    raw = client.post(
        "/predict?top_k=1", content=image, headers={"Content-Type": "image/png"}
    ).json()
    assert len(raw["predictions"][0]["top"]) == 1


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"inputs": [[0] * 8] * 8}, 422, "shape [8, 8]"),
        ({"inputs": [[[0] * 8] * 7]}, 422, "shape [1, 7, 8]"),
        ({"inputs": [[["a"] * 8] * 8]}, 422, "numbers only, found strings"),
        ({"inputs": [[[True] * 8] * 8]}, 422, "true/false"),
        ({"inputs": [[[0] * 8] * 7 + [[0] * 7]]}, 422, "ragged"),
        ({"inputs": "/etc/passwd"}, 422, "JSON array"),
        ({"input": []}, 422, "unknown field(s) 'input'"),
        ({}, 422, "no 'inputs'"),
        ({"inputs": [[[0] * 8] * 8], "top_k": 0}, 422, "'top_k' must be between"),
        ([1, 2], 422, "JSON object"),
    ],
)
def test_bad_json_inputs(client, body, status, says):
    r = client.post("/predict", json=body)
    assert r.status_code == status and says in r.json()["error"], r.text


def test_bad_bodies(client):
    r = client.post("/predict", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]
    r = client.post(
        "/predict", content=b'{"inputs": [NaN]}', headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 422 and "NaN" in r.json()["error"]
    r = client.post(
        "/predict",
        content=b'{"inputs": [['
        + b",".join([b"[" + b",".join([b"1e400"] * 8) + b"]"] * 8)
        + b"]]}",
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 422 and "finite" in r.json()["error"]
    r = client.post("/predict", content=b"1,2,3", headers={"Content-Type": "text/csv"})
    assert r.status_code == 415 and "text/csv" in r.json()["error"]
    big = b"[" + b"0," * 300_000 + b"0]"  # over the 0.5 MB limit the fixture sets
    r = client.post("/predict", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and "524,288" in r.json()["error"]
    r = client.post(
        "/predict", content=iter([b"x" * 200_000] * 4), headers={"Content-Type": "application/json"}
    )  # chunked
    assert r.status_code == 413 and "over the" in r.json()["error"]


def test_malformed_content_length_is_a_400_not_a_crash(digits_server):
    """Raw bytes on the socket: a Content-Length that is no number is answered 400, by the
    HTTP parser or by the body limit, and the server stays up."""
    host, port = digits_server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(
            b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 12abc\r\n\r\n{}"
        )
        assert s.recv(4096).split(b"\r\n", 1)[0].split(b" ")[1] == b"400"
    assert httpx.get(f"{digits_server}/health", timeout=10).status_code == 200


def test_bad_images(client):
    r = client.post("/predict", files={"file": ("d.png", b"\x89PNG garbage", "image/png")})
    assert r.status_code == 422 and "could not be decoded" in r.json()["error"]
    r = client.post("/predict", files={"file": ("d.png", b"", "image/png")})
    assert r.status_code == 422 and "empty" in r.json()["error"]
    r = client.post("/predict", files={"other": ("d.png", png(np.zeros((8, 8))), "image/png")})
    assert r.status_code == 422 and "'file'" in r.json()["error"]


def test_unknown_paths_and_methods(client):
    for path in ("/static/../../etc/passwd", "/etc/passwd", "/predict/../../../etc/passwd"):
        r = client.get(path)
        assert r.status_code in (404, 405) and "error" in r.json() and "root:" not in r.text
    r = client.get("/predict")
    assert r.status_code == 405 and "does not accept GET" in r.json()["error"]
    r = client.post("/generate", json={"prompt": "a"})
    assert r.status_code == 404 and "language models" in r.json()["error"]
    assert client.get("/health").status_code == 200  # still up after all of the above


def test_concurrent_requests_are_batched_and_answered(client):
    import concurrent.futures

    x, _ = digit_images(16)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(
            pool.map(
                lambda i: client.post("/predict", json={"inputs": x[i].tolist()}).json(), range(16)
            )
        )
    singles = [client.post("/predict", json={"inputs": x[i].tolist()}).json() for i in range(16)]
    for a, b in zip(results, singles, strict=True):
        assert a["predictions"][0]["top"][0]["label"] == b["predictions"][0]["top"][0]["label"]
        assert (
            abs(
                a["predictions"][0]["top"][0]["probability"]
                - b["predictions"][0]["top"][0]["probability"]
            )
            < 1e-5
        )


def test_generate_streams_the_same_text_as_the_library(lm, lm_file):
    from brickwork.data.text import Vocab
    from brickwork.generate import generate

    body = {"prompt": "to be", "length": 40, "temperature": 0.9, "top_k": 5, "seed": 3}
    pieces = []
    with lm.stream("POST", "/generate", json=body) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
        pieces = list(r.iter_text())
    model = brickwork.load(lm_file)
    expected = "".join(
        generate(
            model,
            Vocab.from_json(model.card.vocab),
            "to be",
            length=40,
            temperature=0.9,
            top_k=5,
            seed=3,
        )
    )
    assert "".join(pieces) == expected and len(expected) == 40


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"prompt": "t" * 51}, "51 characters, more than the 50"),
        ({"prompt": ""}, "empty"),
        ({"prompt": 5}, "must be a string"),
        ({"prompt": "to be #"}, "'#'"),
        ({"prompt": "to", "length": 101}, "'length' must be between 1 and 100"),
        ({"prompt": "to", "temperature": "hot"}, "'temperature' must be a number"),
        ({"prompt": "to", "top_k": 2.5}, "'top_k' must be a whole number"),
        ({"prompt": "to", "lenght": 5}, "unknown field(s) 'lenght'"),
    ],
)
def test_bad_generate_requests(lm, body, says):
    r = lm.post("/generate", json=body)
    assert r.status_code == 422 and says in r.json()["error"], r.text


def test_language_model_info_and_predict(lm):
    info = lm.get("/info").json()
    assert (
        info["kind"] == "language_model"
        and "POST /generate" in info["endpoints"]
        and info["vocab_size"] > 10
    )
    ids = [2] * 16
    top = lm.post("/predict", json={"inputs": ids}).json()["predictions"][0]["top"]
    assert len(top) == 3 and all(isinstance(t["label"], str) for t in top)
    r = lm.post("/predict", json={"inputs": [info["vocab_size"]] * 16})
    assert r.status_code == 422 and "token ids must be 0 to" in r.json()["error"]
    r = lm.post("/predict", json={"inputs": [0.5] * 16})
    assert r.status_code == 422 and "whole numbers" in r.json()["error"]
    r = lm.post("/predict", files={"file": ("d.png", b"x", "image/png")})
    assert r.status_code == 415
    assert json.loads(lm.get("/health").text)["status"] == "ok"


def test_serve_refuses_a_missing_model(tmp_path):
    from brickwork.cli.main import main

    assert main(["serve", str(tmp_path / "nope.safetensors"), "--port", "0"]) == 2


def test_forecast_matches_the_library(forecast_server, forecast_file):
    from brickwork.forecast import forecast

    with httpx.Client(base_url=forecast_server, timeout=30) as c:
        info = c.get("/info").json()
        assert (
            info["kind"] == "forecaster"
            and info["forecast"]["lookback"] == 8
            and "POST /forecast" in info["endpoints"]
        )
        history = [10 + i / 10 for i in range(20)]
        got = c.post("/forecast", json={"history": history, "steps": 5}).json()
        default = c.post("/forecast", json={}).json()
        r = c.post("/forecast", json={"history": [1.0, 2.0], "steps": 5})
        assert r.status_code == 422 and "lookback" in r.json()["error"]
        r = c.post("/forecast", json={"history": ["a"] * 10})
        assert r.status_code == 422 and "numbers only" in r.json()["error"]
        r = c.post("/forecast", json={"steps": 0})
        assert r.status_code == 422 and "'steps'" in r.json()["error"]
    model = brickwork.load(forecast_file)
    expected = forecast(model, 5, history=np.asarray(history, dtype=np.float64))
    assert (
        np.allclose(got["forecast"], expected["forecast"], atol=1e-5)
        and len(default["forecast"]) == 12
    )
