//go:build !amd64 || purego || noasm

package kernel

// Without assembly only the generic micro-kernel is used.

func asmArchs32() []*gemmArch[float32] { return nil }

func asmArchs64() []*gemmArch[float64] { return nil }

func packCols8Asm[T Float](d, b []T, ldb, kb, nr int) int { return 0 }
