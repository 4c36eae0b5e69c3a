"""Network files: supernet checkpoints, standalone sub-network files, export of a static network to ONNX
with its checks, and the accuracy of a network on arrays."""
