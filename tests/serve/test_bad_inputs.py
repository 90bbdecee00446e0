"""The server's bad-input table: every broken request to /predict, /generate and /forecast is
answered with a JSON 4xx that says what was wrong, never a 500, and the server log shows no
traceback (a client that hangs up mid-body is one log line)."""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from tests.serve.conftest import start_server, stop_server

IMAGE = [[[0.0] * 8] * 8]  # one digits sample [1, 8, 8]


def deep(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


def raw_image(cell: bytes) -> bytes:
    """A /predict body whose first pixel is `cell` (raw JSON text) and the rest zeros."""
    row = b"[" + b",".join([cell] + [b"0"] * 7) + b"]"
    return b'{"inputs": [[' + b",".join([row] + [b"[" + b",".join([b"0"] * 8) + b"]"] * 7) + b"]]}"


@pytest.fixture(scope="module")
def servers(digits_file, lm_file, forecast_file):
    """The three kinds of model, served; the digits server logs at info to show hang-ups."""
    started = {
        "digits": start_server(digits_file, "--max-body-mb", "0.5", "--log-level", "info"),
        "lm": start_server(lm_file, "--max-length", "100"),
        "series": start_server(forecast_file),
    }
    urls = {name: url for name, (_, url) in started.items()}
    hangups = []
    yield urls, hangups
    for name, (proc, _) in started.items():
        out = stop_server(proc)
        assert "Traceback" not in out and "Exception in ASGI" not in out, out
        if name == "digits":
            assert out.count("hung up before sending") == len(hangups), out


def post(url: str, path: str, body) -> httpx.Response:
    if isinstance(body, bytes):
        return httpx.post(
            url + path, content=body, headers={"Content-Type": "application/json"}, timeout=30
        )
    return httpx.post(url + path, json=body, timeout=30)


PREDICT = [
    ("overflow_float32", raw_image(b"1e308"), 422, "32-bit"),
    ("overflow_negative", raw_image(b"-3.5e38"), 422, "32-bit"),
    ("overflow_float64", raw_image(b"1e400"), 422, "finite"),
    ("nan_token", raw_image(b"NaN"), 422, "NaN"),
    ("infinity_token", raw_image(b"Infinity"), 422, "Infinity"),
    ("minus_infinity", raw_image(b"-Infinity"), 422, "Infinity"),
    ("huge_integer", raw_image(b"1" + b"0" * 400), 422, "numbers only"),
    ("bool_mixed", raw_image(b"true"), 422, "true/false"),
    ("false_mixed", raw_image(b"false"), 422, "true/false"),
    ("null_mixed", raw_image(b"null"), 422, "numbers only"),
    ("object_mixed", raw_image(b'{"a": 1}'), 422, "numbers only"),
    ("string_mixed", raw_image(b'"1"'), 422, "numbers only"),
    ("deep_40", b'{"inputs": ' + deep(40) + b"}", 400, "nested"),
    ("deep_100000", b'{"inputs": ' + deep(100_000) + b"}", 400, "nested"),
    ("deep_top_level", deep(5000), 400, "nested"),
    ("deep_in_top_k", b'{"inputs": [[[0]]], "top_k": ' + deep(60) + b"}", 400, "nested"),
    ("deep_object", b'{"a":' * 3000 + b"1" + b"}" * 3000, 400, "nested"),
    ("top_k_huge", {"inputs": IMAGE, "top_k": 1e308}, 422, "top_k"),
    ("top_k_true", {"inputs": IMAGE, "top_k": True}, 422, "top_k"),
    ("top_k_zero", {"inputs": IMAGE, "top_k": 0}, 422, "top_k"),
    ("top_k_string", {"inputs": IMAGE, "top_k": "3"}, 422, "top_k"),
    ("top_k_list", {"inputs": IMAGE, "top_k": [3]}, 422, "top_k"),
    ("top_k_nan", b'{"inputs": [[[0]]], "top_k": NaN}', 422, "NaN"),
    ("empty_inputs", {"inputs": []}, 422, "inputs"),
    ("empty_sample", {"inputs": [[]]}, 422, "inputs"),
    ("too_many_rows", {"inputs": [IMAGE] * 1025}, 422, "1 to 1024"),
    ("wrong_shape", {"inputs": [[0.0] * 64]}, 422, "shape"),
    ("inputs_number", {"inputs": 3}, 422, "JSON array"),
    ("inputs_object", {"inputs": {"a": 1}}, 422, "JSON array"),
    ("repeated_key", b'{"inputs": [[[0]]], "inputs": [[[1]]]}', 400, "'inputs' more than once"),
    ("body_null", b"null", 422, "JSON object"),
    ("body_string", b'"inputs"', 422, "JSON object"),
    ("body_number", b"1e308", 422, "JSON object"),
    ("body_empty", b"", 400, "not valid JSON"),
    ("body_truncated", b'{"inputs": [[[0, 1', 400, "not valid JSON"),
    ("body_not_utf8", b'{"inputs": "\xff\xfe"}', 400, "not valid JSON"),
    ("body_bom_garbage", b"\xef\xbb\xbf{]", 400, "not valid JSON"),
]

GENERATE = [
    ("temperature_huge", {"prompt": "to", "temperature": 1e308}, "temperature"),
    ("temperature_negative", {"prompt": "to", "temperature": -1}, "temperature"),
    ("temperature_true", {"prompt": "to", "temperature": True}, "temperature"),
    ("temperature_nan", b'{"prompt": "to", "temperature": NaN}', "NaN"),
    ("top_p_zero", {"prompt": "to", "top_p": 0}, "top_p"),
    ("top_p_above_1", {"prompt": "to", "top_p": 1.5}, "top_p"),
    ("top_p_false", {"prompt": "to", "top_p": False}, "top_p"),
    ("top_k_zero", {"prompt": "to", "top_k": 0}, "top_k"),
    ("top_k_true", {"prompt": "to", "top_k": True}, "top_k"),
    ("top_k_huge", {"prompt": "to", "top_k": 10**30}, "top_k"),
    ("length_zero", {"prompt": "to", "length": 0}, "length"),
    ("length_huge", {"prompt": "to", "length": 1e308}, "length"),
    ("length_fraction", {"prompt": "to", "length": 2.5}, "length"),
    ("seed_negative", {"prompt": "to", "seed": -1}, "seed"),
    ("seed_huge", {"prompt": "to", "seed": 2**64}, "seed"),
    ("prompt_list", {"prompt": ["to"]}, "prompt"),
    ("prompt_missing", {"length": 5}, "prompt"),
    ("prompt_null", {"prompt": None}, "prompt"),
    ("unknown_field", {"prompt": "to", "beam": 3}, "beam"),
]

FORECAST = [
    ("history_overflow", {"history": [1e308] * 20}, "32-bit"),
    ("history_bool", {"history": [1.0] * 19 + [True]}, "true/false"),
    ("history_empty", {"history": []}, "history"),
    ("history_string", {"history": "1,2,3"}, "history"),
    ("history_null_value", {"history": [1.0] * 19 + [None]}, "numbers only"),
    ("history_ragged", {"history": [[1.0], [2.0, 3.0]] * 10}, "ragged"),
    ("history_nan", b'{"history": [1, 2, NaN]}', "NaN"),
    ("steps_zero", {"steps": 0}, "steps"),
    ("steps_true", {"steps": True}, "steps"),
    ("steps_huge", {"steps": 1e308}, "steps"),
    ("unknown_field", {"horizon": 3}, "horizon"),
]

CASES = (
    [pytest.param("digits", "/predict", b, s, w, id=f"predict-{n}") for n, b, s, w in PREDICT]
    + [pytest.param("lm", "/generate", b, 422, w, id=f"generate-{n}") for n, b, w in GENERATE]
    + [pytest.param("series", "/forecast", b, 422, w, id=f"forecast-{n}") for n, b, w in FORECAST]
)


@pytest.mark.parametrize(("server", "path", "body", "status", "says"), CASES)
def test_bad_request_is_a_json_4xx(servers, server, path, body, status, says):
    r = post(servers[0][server], path, body)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json"), r.headers
    assert says in r.json()["error"], r.text


def test_the_table_is_big():
    assert len(CASES) >= 60


def test_a_client_hanging_up_mid_body_is_one_log_line(servers):
    url = servers[0]["digits"]
    host, port = url.removeprefix("http://").split(":")
    for _ in range(2):
        with socket.create_connection((host, int(port)), timeout=10) as s:
            s.sendall(
                b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b'Content-Length: 5000\r\n\r\n{"inputs": [[[0'
            )
            time.sleep(0.3)
        servers[1].append(1)
    time.sleep(0.5)
    assert httpx.get(f"{url}/health", timeout=10).status_code == 200
