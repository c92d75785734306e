"""Where and how the model runs: devices, int8 quantisation, ONNX export and runtime."""
