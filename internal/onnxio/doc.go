// Package onnxio reads ONNX model files (the protobuf form of the ONNX
// specification, as torch.onnx.export writes them) into mpq's graph form, and
// writes graph forms back out (for the QDQ export). It validates everything it
// reads before allocating: declared tensor sizes against their data, absurd
// dimensions, unknown element types and external data each fail with an error
// that names the tensor or node and says what to do.
//
// The protobuf types come from gonnx's onnx package; no other ONNX protobuf
// registration may be linked into the same binary.
package onnxio
