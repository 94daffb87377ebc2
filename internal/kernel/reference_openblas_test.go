//go:build openblas

package kernel

// referenceGemms returns the GEMMs that BenchmarkGemmCompare measures mpq's
// against: OpenBLAS in builds with the openblas tag.
func referenceGemms[T Float]() map[string]gemmFunc[T] {
	return map[string]gemmFunc[T]{"openblas": gemmOpenBLAS[T]}
}

// setReferenceThreads sets the number of threads of the references.
func setReferenceThreads(n int) { setOpenBLASThreads(n) }
