package quant

// Panic messages for programmer errors. They are constants, like gonum's
// blas/gonum/errors.go, so that tests can match them.
const (
	errDstLength      = "quant: len(dst) != len(w)"
	errChannels       = "quant: channels < 1"
	errChannelsDivide = "quant: channels does not divide len(w)"
	errScalesLength   = "quant: len(scales) != channels"
	errCodesLength    = "quant: len(codes) != len(w)"
	errCodeType       = "quant: code type too narrow for bits"
	errBits           = "quant: bits out of range"
	errInvalidSpec    = "quant: invalid weight spec"
	errImportance     = "quant: len(weights) != len(w)"
	errNonFinite      = "quant: non-finite input"
	errRange          = "quant: non-finite range"
	errAffine         = "quant: invalid affine parameters"
	errPercentile     = "quant: percentile outside (50, 100]"
)
