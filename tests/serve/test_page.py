"""The web page in headless Chromium (Debian's `chromium`): draw a digit, predict, see the bars.

Nothing is installed at run time; the test skips where Playwright or Chromium is absent
(.ci/run installs Debian's chromium, so CI runs it).
"""

from __future__ import annotations


def test_draw_a_digit_and_see_the_prediction(browser, digits_server, tmp_path):
    page = browser.new_page(viewport={"width": 960, "height": 760})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(digits_server + "/")
    page.wait_for_selector("#image-panel:not(.hidden)")
    box = page.locator("#pad").bounding_box()
    # a "1": one vertical stroke down the middle of the pad
    page.mouse.move(box["x"] + 140, box["y"] + 40)
    page.mouse.down()
    for y in range(40, 250, 10):
        page.mouse.move(box["x"] + 142, box["y"] + y)
    page.mouse.up()
    page.click("#predict-btn")
    page.wait_for_selector("#prediction .bar-row", timeout=15000)
    labels = page.locator("#prediction .label").all_inner_texts()
    probs = [float(t) for t in page.locator("#prediction .prob").all_inner_texts()]
    assert len(labels) == 5 and set(labels) <= {str(i) for i in range(10)}
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0001
    assert "digits_test_cnn" in page.inner_text("#title") and not errors
    shot = tmp_path / "page.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 5000
    page.close()


def test_page_shows_server_errors(browser, digits_server):
    page = browser.new_page()
    page.goto(digits_server + "/")
    page.wait_for_selector("#image-panel:not(.hidden)")
    page.set_input_files(
        "#upload", files=[{"name": "x.png", "mimeType": "image/png", "buffer": b"not a png"}]
    )
    page.wait_for_selector("#error:not(.hidden)")
    assert "could not be decoded" in page.inner_text("#error")
    page.close()


def test_text_streams_into_the_page(browser, lm_server):
    page = browser.new_page()
    page.goto(lm_server + "/")
    page.wait_for_selector("#text-panel:not(.hidden)")
    page.fill("#prompt", "to be")
    page.fill("#length", "30")
    page.click("#generate-btn")
    page.wait_for_function(
        "document.querySelector('#text').textContent.length >= 35", timeout=15000
    )
    assert page.inner_text("#text").startswith("to be")
    page.close()


def test_forecast_plot_is_drawn(browser, forecast_server):
    page = browser.new_page()
    page.goto(forecast_server + "/")
    page.wait_for_selector("#forecast-panel:not(.hidden)")
    page.wait_for_selector("#plot polyline", timeout=15000)
    assert page.locator("#plot polyline").count() == 2 and "24 steps" in page.text_content("#plot")
    page.close()
