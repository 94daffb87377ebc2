// Package openblas links OpenBLAS into builds of package kernel with the
// openblas build tag (the cgo directive -lopenblas, so that CGO_LDFLAGS
// need not be set) and exposes the one OpenBLAS function the benchmarks
// need beyond CBLAS, SetThreads. It is a package of its own because
// package kernel, which holds Go assembly, cannot use cgo. Without the
// tag it is empty.
package openblas
