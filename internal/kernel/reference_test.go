//go:build !openblas

package kernel

// referenceGemms returns the GEMMs that BenchmarkGemmCompare measures mpq's
// against: none without the openblas tag.
func referenceGemms[T Float]() map[string]gemmFunc[T] { return nil }

// setReferenceThreads sets the number of threads of the references.
func setReferenceThreads(int) {}
