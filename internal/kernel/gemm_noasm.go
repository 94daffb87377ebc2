//go:build !amd64 || purego || noasm

package kernel

// Without assembly only the generic micro-kernel is used.

func asmArchs32() []*gemmArch[float32] { return nil }

func asmArchs64() []*gemmArch[float64] { return nil }

func asmQArchs() []*qArchT { return nil }

func packCols8Asm[T Float](d, b []T, ldb, kb, nr int) int { return 0 }

func quantizeCodesAsm(dst []uint8, src []float32, q *FakeQuant[float32]) int { return 0 }

func reluAsm(dst, src []float32) int { return 0 }

func fakeQuantAsm(dst, src []float32, q *FakeQuant[float32]) int { return 0 }

func dequantRowAsm(dst []float32, acc []int32, corr int32, scale, bias float32) int { return 0 }

func hasShortMasks() bool { return false }

func hasAVX2() bool { return false }

func dequantBlocksAsm(dst []float32, acc []int32, blocks, rows, n, ld, lb int, rowSum []int32, zp int32, scale, bias []float32, relu bool) bool {
	return false
}

func dequantRowsAsm(dst []float32, acc []int32, rows, n, srcStride int, corr int32, scale, bias float32) bool {
	return false
}

func depthwise3x3Asm(dst, src []float32, wp int, k []float32, b float32) int { return 0 }

func relu64Asm(dst, src []float64) int { return 0 }

func reluBackAsm[T Float](gx, x, gy []T) int { return 0 }

func addAsm(y, a, b []float32, relu bool) int { return 0 }

func biasRowsAsm(dst, src []float32, rows, width, ld, lb int, bias []float32, per int, relu bool) int {
	return 0
}

func placeRowsAsm(dst, src []float32, blocks, rows, n, ldd, lds, stride, bd, bs, span int) int {
	return 0
}

func placePairAsm(dstA, dstB, src []float32, blocks, rows, nA, nB, ldd, lds, bd, bs int, q *FakeQuant[float32]) bool {
	return false
}

func placePairU8Asm(dstA, dstB []uint8, src []float32, blocks, rows, nA, nB, ldd, lds, bd, bs int, q *FakeQuant[float32]) bool {
	return false
}

func planeMeansAsm(dst, src []float32, n int, scale float32) bool { return false }

func placeRowsU8Asm(dst, src []uint8, blocks, rows, n, ldd, lds, stride, bd, bs, span int, pad uint8) int {
	return 0
}

func maxPool2x2Asm[T Float](out, src []T, w int) bool { return false }

func clampAsm(y, x []float32, lo, hi float32) int { return 0 }

func hardAsm(y, x []float32, a, b float32, swish bool) int { return 0 }

func tanhAsm(y, x []float32) int { return 0 }

func sigmoidAsm(y, x []float32) int { return 0 }

func erfAsm(y, x []float32) int { return 0 }

func dequantTileTAsm(y []float32, ldy int, tile []int32, corr []int32, scale, bias []float32, cols int) bool {
	return false
}

func expSumAsm(x []float32, m float32) (float32, int) { return 0, 0 }

func expStoreAsm(y, x []float32, m float32) (float32, int) { return 0, 0 }

func binaryAsm(op byte, y, a, b []float32, sa, sb int) int { return 0 }

func fillAsm(dst []float32, v float32) int { return 0 }

func leakyAsm(y, x []float32, alpha float32) int { return 0 }

func softplusAsm(y, x []float32) int { return 0 }
