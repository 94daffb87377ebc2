package dataset

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// npyHeader is the content of an NPY header dictionary.
type npyHeader struct {
	descr   string
	fortran bool
	shape   []int
}

// parseNPYHeader parses the Python dictionary literal of an NPY header,
// such as {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
// followed by spaces and a newline.
func parseNPYHeader(s string) (npyHeader, error) {
	var h npyHeader
	p := &pyParser{s: strings.TrimRight(s, " \t\n\x00")}
	if !strings.HasSuffix(s, "\n") {
		return h, errors.New("it does not end with a newline")
	}
	if !p.eat('{') {
		return h, errors.New("it does not start with '{'")
	}
	seen := map[string]bool{}
	for {
		p.space()
		if p.eat('}') {
			break
		}
		key, ok := p.str()
		if !ok {
			return h, fmt.Errorf("expected a quoted key at offset %d", p.i)
		}
		if seen[key] {
			return h, fmt.Errorf("key %q appears twice", key)
		}
		seen[key] = true
		p.space()
		if !p.eat(':') {
			return h, fmt.Errorf("expected ':' after key %q", key)
		}
		p.space()
		switch key {
		case "descr":
			if p.peek() == '[' || p.peek() == '{' {
				return h, errors.New("structured dtypes (records) are not supported; store a plain numeric array")
			}
			if h.descr, ok = p.str(); !ok {
				return h, errors.New("descr is not a quoted string")
			}
		case "fortran_order":
			switch {
			case p.word("True"):
				h.fortran = true
			case p.word("False"):
				h.fortran = false
			default:
				return h, errors.New("fortran_order is neither True nor False")
			}
		case "shape":
			if h.shape, ok = p.tuple(); !ok {
				return h, errors.New("shape is not a tuple of non-negative integers")
			}
		default:
			return h, fmt.Errorf("unknown key %q", key)
		}
		p.space()
		if !p.eat(',') {
			p.space()
			if !p.eat('}') {
				return h, fmt.Errorf("expected ',' or '}' at offset %d", p.i)
			}
			break
		}
	}
	if p.i != len(p.s) {
		return h, errors.New("unexpected text after '}'")
	}
	for _, k := range []string{"descr", "fortran_order", "shape"} {
		if !seen[k] {
			return h, fmt.Errorf("key %q is missing", k)
		}
	}
	if len(h.shape) > maxNPYDims {
		return h, fmt.Errorf("shape has %d axes, more than %d", len(h.shape), maxNPYDims)
	}
	return h, nil
}

// pyParser scans the small subset of Python literals that NPY headers use.
type pyParser struct {
	s string
	i int
}

func (p *pyParser) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *pyParser) eat(c byte) bool {
	if p.peek() == c && p.i < len(p.s) {
		p.i++
		return true
	}
	return false
}

func (p *pyParser) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n') {
		p.i++
	}
}

func (p *pyParser) word(w string) bool {
	if strings.HasPrefix(p.s[p.i:], w) {
		p.i += len(w)
		return true
	}
	return false
}

// str scans a quoted string without escapes.
func (p *pyParser) str() (string, bool) {
	q := p.peek()
	if q != '\'' && q != '"' {
		return "", false
	}
	end := strings.IndexByte(p.s[p.i+1:], q)
	if end < 0 {
		return "", false
	}
	v := p.s[p.i+1 : p.i+1+end]
	if strings.ContainsRune(v, '\\') {
		return "", false
	}
	p.i += end + 2
	return v, true
}

// tuple scans a tuple of non-negative integers, such as (), (3,) or
// (3, 4); Python 2's long suffix L is accepted.
func (p *pyParser) tuple() ([]int, bool) {
	if !p.eat('(') {
		return nil, false
	}
	shape := []int{}
	for {
		p.space()
		if p.eat(')') {
			return shape, true
		}
		start := p.i
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
		}
		if p.i == start || p.i-start > 12 {
			return nil, false
		}
		v, err := strconv.Atoi(p.s[start:p.i])
		if err != nil {
			return nil, false
		}
		shape = append(shape, v)
		p.eat('L')
		p.space()
		if !p.eat(',') {
			p.space()
			return shape, p.eat(')')
		}
	}
}

// parseNPYDescr maps a dtype string such as '<f4' to a supported type.
func parseNPYDescr(descr string) (npyDtype, error) {
	unsupported := func(what string) error {
		return fmt.Errorf("unsupported dtype %q (%s); store float32, float64 or integer arrays (for example with .astype(numpy.float32))", descr, what)
	}
	s := descr
	dt := npyDtype{order: nativeOrder()}
	if len(s) > 0 && strings.ContainsRune("<>|=", rune(s[0])) {
		if s[0] == '<' || s[0] == '>' {
			dt.order = s[0]
		}
		s = s[1:]
	}
	if len(s) < 2 {
		return dt, unsupported("not a numeric type")
	}
	dt.kind = s[0]
	size, err := strconv.Atoi(s[1:])
	if err != nil {
		return dt, unsupported("not a numeric type")
	}
	dt.size = size
	switch {
	case dt.kind == 'f' && (size == 4 || size == 8):
	case (dt.kind == 'i' || dt.kind == 'u') && (size == 1 || size == 2 || size == 4 || size == 8):
	case dt.kind == 'f' && size == 2:
		return dt, unsupported("float16")
	case dt.kind == 'b':
		return dt, unsupported("bool")
	case dt.kind == 'c':
		return dt, unsupported("complex")
	default:
		return dt, unsupported("not a plain float or integer type")
	}
	if size == 1 {
		dt.order = '|'
	}
	return dt, nil
}

// nativeOrder returns the byte-order character of this machine.
func nativeOrder() byte {
	var b [2]byte
	binary.NativeEndian.PutUint16(b[:], 1)
	if b[0] == 1 {
		return '<'
	}
	return '>'
}
