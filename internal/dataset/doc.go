// Package dataset reads labelled datasets into memory for calibration,
// sensitivity measurement and evaluation.
//
// # Formats
//
// Three on-disk formats are understood; [Source] names the files and [Load]
// reads them:
//
//   - idx: the IDX format of the original MNIST distribution (LeCun, Cortes
//     and Burges, "The MNIST database of handwritten digits"). An image file
//     starts with the magic number 0x00000803 (unsigned bytes, three
//     dimensions: count, rows, columns) and a label file with 0x00000801
//     (unsigned bytes, one dimension), all header integers big-endian.
//     Files may be gzip-compressed; compression is detected by the gzip magic
//     bytes 0x1f 0x8b (RFC 1952), not by the file name.
//   - npy: NumPy's .npy format (NEP 1, "A simple file format for NumPy
//     arrays", versions 1.0–3.0): one file of inputs (float32, float64 or
//     any integer dtype; the first axis indexes samples) and one of labels
//     (any integer dtype, shape (N,) or (N, 1)). C and Fortran order are both
//     accepted.
//   - npz: a NumPy .npz archive (a zip file of .npy members, as written by
//     numpy.savez) holding both arrays by name.
//
// The NumPy element data is decoded with codeberg.org/sbinet/npyio; the
// headers are parsed and checked here first, because npyio trusts them.
//
// # Invariants
//
// A loaded [Dataset] is never empty, every input value is finite and every
// label is non-negative. Sizes declared in a file's header are compared with
// the file's size (and with a fixed cap) before any buffer is allocated, so a
// corrupt header fails fast with an error rather than with a huge allocation.
//
// # Layout and aliasing
//
// X holds the samples one after another ("sample-major"); within a sample
// the values are in the file's order (C order), which for images stored as
// channels × height × width is channel-major, the layout [Dataset.Apply]
// assumes. [Dataset.First] and [Dataset.Sample] return views that share
// memory with the receiver: a [Dataset.Apply] on a view changes the parent.
// [Dataset.Random] copies.
//
// # Reproducibility
//
// [Dataset.Random] draws its subset with a partial Fisher–Yates shuffle
// (Knuth, TAOCP vol. 2, Algorithm 3.4.2P, stopped after n steps) driven by
// math/rand/v2's PCG generator, so a seed picks the same samples on every
// run and platform.
package dataset
