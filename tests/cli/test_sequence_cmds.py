"""`brickwork forecast --plot` never replaces the model or run it reads without --force."""

from brickwork.cli.main import main
from brickwork.models import build_model
from brickwork.models.io import save_model


def test_forecast_plot_may_not_replace_its_inputs(tmp_path, capsys):
    run = tmp_path / "runs" / "co2"
    model = save_model(
        build_model({"input_shape": [4], "layers": [{"dense": 1}]}), run / "model.safetensors"
    )
    (run / "spec.yaml").write_text("name: co2\n")
    before = model.read_bytes()
    for target in (model, run / "spec.yaml"):
        assert main(["forecast", str(run), "--steps", "2", "--plot", str(target)]) == 2
        assert "--plot" in capsys.readouterr().err
    assert model.read_bytes() == before and (run / "spec.yaml").read_text() == "name: co2\n"
