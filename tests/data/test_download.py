"""The downloader: file:// and a local http.server only — never the network."""

from __future__ import annotations

import hashlib
import http.client
import http.server
import io
import threading
import urllib.request
from pathlib import Path

import pytest

from brickwork.data import download as dl
from brickwork.errors import BrickworkError
from brickwork.files import file_mode


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def resource(
    tmp_path: Path, payload: bytes, name: str = "blob.bin", md5sum: str | None = None, mirrors=None
):
    src = tmp_path / "mirror"
    src.mkdir(exist_ok=True)
    (src / name).write_bytes(payload)
    return dl.Resource(name, md5sum or md5(payload), tuple(mirrors or [src.as_uri() + "/"]))


def test_file_url_download_verifies_and_renames(tmp_path):
    r = resource(tmp_path, b"x" * 5000)
    folder = dl.ensure_files("toy", tmp_path / "cache", resources=(r,))
    assert (folder / "blob.bin").read_bytes() == b"x" * 5000
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]  # no temp file left
    assert (folder / "blob.bin").stat().st_mode & 0o777 == file_mode()  # the umask's, not 0600


def test_checksum_mismatch_deletes_temp_and_fails(tmp_path):
    r = resource(tmp_path, b"payload", md5sum="0" * 32)
    with pytest.raises(BrickworkError, match="MD5"):
        dl.ensure_files("toy", tmp_path / "cache", resources=(r,))
    assert list((tmp_path / "cache").iterdir()) == []


def test_falls_back_to_next_mirror(tmp_path):
    good = resource(tmp_path, b"abc")
    r = dl.Resource("blob.bin", good.md5, ("file:///nonexistent/dir/",) + good.mirrors)
    folder = dl.ensure_files("toy", tmp_path / "c", resources=(r,))
    assert (folder / "blob.bin").read_bytes() == b"abc"


def test_all_mirrors_fail_names_files_and_folder(tmp_path):
    r = dl.Resource("train.gz", "0" * 32, ("file:///nonexistent/a/", "file:///nonexistent/b/"))
    with pytest.raises(BrickworkError) as e:
        dl.ensure_files("toy", tmp_path / "here", resources=(r,))
    assert (
        "train.gz" in str(e.value)
        and str(tmp_path / "here") in str(e.value)
        and "every mirror failed" in str(e.value)
    )


class CutOff(io.BytesIO):
    """A response that sends some bytes, then fails as a server closing mid-file does."""

    def read(self, size=-1):
        if self.tell():
            raise http.client.IncompleteRead(b"", 1000)
        return super().read(size)


def test_incomplete_read_deletes_temp_and_tries_next_mirror(tmp_path):
    good = resource(tmp_path, b"complete payload")
    seen = []

    def opener(url, timeout):
        seen.append(url)
        if url.startswith("https://cut.example/"):
            return CutOff(b"compl")
        return urllib.request.urlopen(url, timeout=timeout)

    r = dl.Resource("blob.bin", good.md5, ("https://cut.example/",) + good.mirrors)
    folder = dl.ensure_files("toy", tmp_path / "c", opener=opener, resources=(r,))
    assert seen[0] == "https://cut.example/blob.bin" and len(seen) == 2
    assert not [
        p for p in folder.iterdir() if p.suffix == ".part"
    ]  # the cut-off temp file was deleted
    assert (folder / "blob.bin").read_bytes() == b"complete payload"


def test_offline_message_names_every_missing_file(tmp_path):
    def offline(url, timeout):
        if "t10k-images" in url:
            return CutOff(b"partial")
        raise OSError("no network")

    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(b"already here")
    with pytest.raises(BrickworkError) as e:
        dl.ensure_files("mnist", tmp_path, opener=offline, verify_present=False)
    message = str(e.value)
    for name in (
        "train-images-idx3-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ):
        assert name in message.split("every mirror failed")[0]
    assert "train-labels" not in message and f"in '{tmp_path}'" in message and "\n" not in message
    assert [p.name for p in tmp_path.iterdir()] == ["train-labels-idx1-ubyte.gz"]


def test_download_off_names_files(tmp_path):
    with pytest.raises(BrickworkError, match="t10k-labels-idx1-ubyte.gz.*download: false"):
        dl.ensure_files("mnist", tmp_path, download=False)


def test_corrupt_present_file_fails_checksum(tmp_path):
    r = resource(tmp_path, b"good bytes")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "blob.bin").write_bytes(b"good byte")  # truncated copy
    with pytest.raises(BrickworkError, match="truncated or corrupt"):
        dl.ensure_files("toy", tmp_path / "d", download=False, resources=(r,))


def test_local_http_server(tmp_path):
    payload = bytes(range(256)) * 100
    r = resource(tmp_path, payload)
    handler_cls = type(
        "Quiet", (http.server.SimpleHTTPRequestHandler,), {"log_message": lambda *a: None}
    )
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), lambda *a: handler_cls(*a, directory=str(tmp_path / "mirror"))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        r = dl.Resource("blob.bin", r.md5, (url,))
        folder = dl.ensure_files("toy", tmp_path / "http", resources=(r,))
        assert (folder / "blob.bin").read_bytes() == payload
    finally:
        server.shutdown()
        server.server_close()


def test_monkeypatched_opener_and_cache_env(tmp_path, monkeypatch):
    monkeypatch.setenv("BRICKWORK_DATA", str(tmp_path / "envcache"))
    assert dl.cache_dir("mnist") == tmp_path / "envcache" / "mnist"
    seen = []

    def opener(url, timeout):
        seen.append(url)
        if "ossci" in url:
            raise OSError("mirror down")
        return urllib.request.urlopen((tmp_path / "x").as_uri())

    (tmp_path / "x").write_bytes(b"data")
    r = dl.Resource("f.gz", md5(b"data"), dl.RESOURCES["mnist"][0].mirrors)
    dl.ensure_files("mnist", None, opener=opener, resources=(r,))
    assert seen[0].startswith("https://ossci-datasets.s3.amazonaws.com/mnist/")
    assert seen[1].startswith("https://storage.googleapis.com/cvdf-datasets/mnist/")
    assert (tmp_path / "envcache" / "mnist" / "f.gz").read_bytes() == b"data"


def test_published_checksums_are_known():
    assert dl.RESOURCES["cifar10"][0].md5 == "c58f30108f718f92721af3b95e74349a"
    assert {r.filename for r in dl.RESOURCES["fashion_mnist"]} == {
        r.filename for r in dl.RESOURCES["mnist"]
    }
    assert all(len(r.md5) == 32 for rs in dl.RESOURCES.values() for r in rs)


def test_progress_reports_bytes_received(tmp_path):
    payload = b"y" * (3 * dl.CHUNK + 5)
    r = resource(tmp_path, payload)
    seen = []
    dl.ensure_files("toy", tmp_path / "p", resources=(r,), progress=lambda res, n: seen.append(n))
    assert seen == [dl.CHUNK, 2 * dl.CHUNK, 3 * dl.CHUNK, len(payload)]


def test_data_dir_may_hold_one_folder_per_dataset(tmp_path):
    r = resource(tmp_path, b"abc")
    (tmp_path / "root" / "toy").mkdir(parents=True)
    (tmp_path / "root" / "toy" / "blob.bin").write_bytes(b"abc")
    folder = dl.ensure_files("toy", tmp_path / "root", download=False, resources=(r,))
    assert folder == tmp_path / "root" / "toy"
    (tmp_path / "root" / "blob.bin").write_bytes(b"abc")  # the files directly in it win
    assert dl.ensure_files("toy", tmp_path / "root", resources=(r,)) == tmp_path / "root"


def test_offline_message_names_the_dataset_and_both_fixes(tmp_path):
    def offline(url, timeout):
        raise OSError("no network")

    with pytest.raises(BrickworkError) as e:
        dl.ensure_files("tinyshakespeare", None, opener=offline)
    message = str(e.value)
    assert "dataset 'tinyshakespeare' needs input.txt" in message
    assert "`brickwork download tinyshakespeare`" in message and "--data-dir DIR" in message
    assert "raw.githubusercontent.com/karpathy/char-rnn" in message and "\n" not in message


def test_tinyshakespeare_resource_is_the_char_rnn_file():
    (r,) = dl.RESOURCES["tinyshakespeare"]
    assert (r.filename, r.md5, r.size) == ("input.txt", "6fb458f1232090904fb40fe944165e91", 1115394)
    assert r.mirrors[0].startswith("https://raw.githubusercontent.com/karpathy/char-rnn/")
    assert all(res.size for rs in dl.RESOURCES.values() for res in rs)


@pytest.mark.parametrize("name", sorted(dl.EMBEDDED))
def test_embedded_files_ship_with_their_published_checksums(name):
    path = dl.embedded_file(name)
    assert path.stat().st_size == dl.EMBEDDED[name].size


def test_damaged_embedded_file_is_refused(tmp_path, monkeypatch):
    (tmp_path / "co2.csv").write_text("date,co2\n19580329,0\n")
    monkeypatch.setattr(dl, "EMBEDDED_DIR", tmp_path)
    with pytest.raises(BrickworkError, match="installation is damaged"):
        dl.embedded_file("co2")
    monkeypatch.setattr(dl, "EMBEDDED_DIR", tmp_path / "nowhere")
    with pytest.raises(BrickworkError, match="installation is incomplete"):
        dl.embedded_file("co2")


def test_embedded_files_are_installed_as_package_data():
    """pyproject's package-data globs cover every embedded file, so a wheel carries them."""
    import fnmatch

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    root = Path(__file__).resolve().parents[2]
    pyproject = tomllib.loads((root / "pyproject.toml").read_text())
    globs = pyproject["tool"]["setuptools"]["package-data"]["brickwork"]
    package = root / "src" / "brickwork"
    for path in dl.EMBEDDED_DIR.iterdir():
        rel = path.relative_to(package).as_posix()
        assert any(fnmatch.fnmatch(rel, g) for g in globs), rel
