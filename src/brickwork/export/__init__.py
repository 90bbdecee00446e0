"""Export to ONNX, pt2 (torch.export), AOTInductor, ExecuTorch or a static web page, with a
parity check against PyTorch on every export."""

from brickwork.export.exporters import export_model, parity

__all__ = ["export_model", "parity"]
