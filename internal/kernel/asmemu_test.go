package kernel

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
)

// This file holds a small interpreter for the Plan 9 amd64 assembly of the
// GEMM micro-kernels (gemm_*_amd64.s), so that the AVX-512 kernels are
// tested on machines without AVX-512, such as the AMD Zen 3 ones mpq is
// developed on. It knows only the instructions gemmgen emits, with Go's
// operand order (sources first, destination last). It runs the AVX2
// kernels too, where their results are compared with the hardware's: that
// checks the interpreter itself, in particular the operand order of the
// fused multiply-add. What it cannot check is the assembler's encoding of
// the AVX-512 instructions.

// asmInst is one parsed instruction; a label has op "" and the name in args[0].
type asmInst struct {
	op   string
	args []string
	line int
}

// asmFunc is the parsed body of one TEXT symbol.
type asmFunc struct {
	name   string
	insts  []asmInst
	labels map[string]int
}

// parseAsmFile returns the functions of the assembly file path.
func parseAsmFile(t *testing.T, path string) map[string]*asmFunc {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	funcs := map[string]*asmFunc{}
	var f *asmFunc
	for i, line := range strings.Split(string(src), "\n") {
		if j := strings.Index(line, "//"); j >= 0 {
			line = line[:j]
		}
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
			continue
		case strings.HasPrefix(line, "TEXT "):
			name := strings.TrimPrefix(line, "TEXT ·")
			name = name[:strings.Index(name, "(")]
			f = &asmFunc{name: name, labels: map[string]int{}}
			funcs[name] = f
		case strings.HasSuffix(line, ":"):
			f.labels[strings.TrimSuffix(line, ":")] = len(f.insts)
		default:
			op, rest, _ := strings.Cut(line, " ")
			var args []string
			for _, a := range strings.Split(rest, ",") {
				if a = strings.TrimSpace(a); a != "" {
					args = append(args, a)
				}
			}
			f.insts = append(f.insts, asmInst{op: op, args: args, line: i + 1})
		}
	}
	return funcs
}

// asmRegion is a block of emulated memory at a fake address.
type asmRegion struct {
	base uint64
	mem  []byte
}

// asmMachine is the state of the emulated CPU.
type asmMachine struct {
	gpr     map[string]uint64
	vec     [32][64]byte
	zf, pf  bool
	regions []*asmRegion
	fp      uint64 // address of the argument frame
}

func (m *asmMachine) bytesAt(addr uint64, n int) []byte {
	for _, r := range m.regions {
		if addr >= r.base && addr+uint64(n) <= r.base+uint64(len(r.mem)) {
			return r.mem[addr-r.base : addr-r.base+uint64(n)]
		}
	}
	panic(fmt.Sprintf("access of %d bytes at %#x outside every region", n, addr))
}

// addr evaluates a memory operand: name+off(FP), off(REG) or
// off(REG)(IDX*S).
func (m *asmMachine) addr(op string) uint64 {
	if strings.HasSuffix(op, "(FP)") {
		_, off, _ := strings.Cut(strings.TrimSuffix(op, "(FP)"), "+")
		o, _ := strconv.Atoi(off)
		return m.fp + uint64(o)
	}
	i := strings.Index(op, "(")
	var a uint64
	if i > 0 {
		o, err := strconv.Atoi(op[:i])
		if err != nil {
			panic("bad offset in " + op)
		}
		a = uint64(int64(o))
	}
	rest := op[i:]
	base, rest, _ := strings.Cut(strings.TrimPrefix(rest, "("), ")")
	a += m.gpr[base]
	if rest != "" {
		idx, scale, _ := strings.Cut(strings.Trim(rest, "()"), "*")
		s, _ := strconv.Atoi(scale)
		a += m.gpr[idx] * uint64(s)
	}
	return a
}

// vecReg returns the number and width in bytes of a vector register.
func vecReg(op string) (int, int, bool) {
	width := map[byte]int{'X': 16, 'Y': 32, 'Z': 64}[op[0]]
	n, err := strconv.Atoi(op[1:])
	if width == 0 || err != nil {
		return 0, 0, false
	}
	return n, width, true
}

func isMem(op string) bool { return strings.Contains(op, "(") }

func imm(op string) uint64 {
	v, err := strconv.ParseUint(strings.TrimPrefix(op, "$"), 0, 64)
	if err != nil {
		panic("bad immediate " + op)
	}
	return v
}

// lanes reads the elements of a vector operand (register or memory) of
// width bytes as float64, for elements of esz bytes.
func (m *asmMachine) lanes(op string, width, esz int) []float64 {
	var b []byte
	if isMem(op) {
		b = m.bytesAt(m.addr(op), width)
	} else {
		n, _, _ := vecReg(op)
		b = m.vec[n][:width]
	}
	out := make([]float64, width/esz)
	for i := range out {
		if esz == 4 {
			out[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:])))
		} else {
			out[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
		}
	}
	return out
}

// setVec writes v to the register op, zeroing its bits above the width
// as VEX and EVEX encoded instructions do.
func (m *asmMachine) setVec(op string, v []float64, esz int) {
	n, _, _ := vecReg(op)
	m.vec[n] = [64]byte{}
	for i, x := range v {
		if esz == 4 {
			binary.LittleEndian.PutUint32(m.vec[n][4*i:], math.Float32bits(float32(x)))
		} else {
			binary.LittleEndian.PutUint64(m.vec[n][8*i:], math.Float64bits(x))
		}
	}
}

// elemSize returns the element size of a packed or scalar suffix.
func elemSize(op string) int {
	if strings.HasSuffix(op, "PS") || strings.HasSuffix(op, "SS") {
		return 4
	}
	return 8
}

// run interprets f until RET; it returns the number of instructions run.
func (m *asmMachine) run(f *asmFunc) int {
	count := 0
	for pc := 0; pc < len(f.insts); {
		in := f.insts[pc]
		pc++
		count++
		a := in.args
		jump := func(cond bool) {
			if cond {
				pc = f.labels[a[0]]
			}
		}
		switch in.op {
		case "MOVQ":
			switch {
			case isMem(a[0]):
				m.gpr[a[1]] = binary.LittleEndian.Uint64(m.bytesAt(m.addr(a[0]), 8))
			case strings.HasPrefix(a[0], "$"):
				m.gpr[a[1]] = imm(a[0])
			default:
				m.gpr[a[1]] = m.gpr[a[0]]
			}
		case "MOVL":
			m.gpr[a[1]] = uint64(binary.LittleEndian.Uint32(m.bytesAt(m.addr(a[0]), 4)))
		case "LEAQ":
			m.gpr[a[1]] = m.addr(a[0])
		case "SHLQ":
			m.gpr[a[1]] <<= imm(a[0])
		case "SHRQ":
			m.gpr[a[1]] >>= imm(a[0])
			m.zf = m.gpr[a[1]] == 0
		case "ANDQ":
			m.gpr[a[1]] &= imm(a[0])
			m.zf = m.gpr[a[1]] == 0
		case "ADDQ":
			m.gpr[a[1]] += m.gpr[a[0]]
		case "DECQ":
			m.gpr[a[0]]--
			m.zf = m.gpr[a[0]] == 0
		case "CMPL":
			m.zf = uint32(m.gpr[a[0]]) == uint32(imm(a[1]))
		case "CMPQ":
			m.zf = m.gpr[a[0]] == m.gpr[a[1]]
		case "JZ", "JEQ":
			jump(m.zf)
		case "JNZ", "JNE":
			jump(!m.zf)
		case "JPS":
			jump(m.pf)
		case "JMP":
			jump(true)
		case "PREFETCHT0":
			m.addr(a[0])
		case "VZEROUPPER":
			for i := range 16 {
				clear(m.vec[i][16:])
			}
		case "RET":
			return count
		case "VXORPS", "VXORPD", "VPXORD":
			if a[0] != a[1] || a[1] != a[2] {
				panic(fmt.Sprintf("line %d: only zeroing %s is emulated", in.line, in.op))
			}
			n, _, _ := vecReg(a[2])
			m.vec[n] = [64]byte{}
		case "VMOVUPS", "VMOVUPD":
			if isMem(a[1]) {
				n, w, _ := vecReg(a[0])
				copy(m.bytesAt(m.addr(a[1]), w), m.vec[n][:w])
				break
			}
			_, w, _ := vecReg(a[1])
			m.setVec(a[1], m.lanes(a[0], w, elemSize(in.op)), elemSize(in.op))
		case "VMOVSS", "VMOVSD":
			esz := elemSize(in.op)
			m.setVec(a[1], m.lanes(a[0], esz, esz), esz)
		case "VBROADCASTSS", "VBROADCASTSD":
			esz := elemSize(in.op)
			_, w, _ := vecReg(a[1])
			x := m.lanes(a[0], esz, esz)[0]
			v := make([]float64, w/esz)
			for i := range v {
				v[i] = x
			}
			m.setVec(a[1], v, esz)
		case "VFMADD231PS", "VFMADD231PD":
			// Go order: VFMADD231PS src2, src1, dst: dst = src1·src2 + dst.
			esz := elemSize(in.op)
			_, w, _ := vecReg(a[2])
			s2, s1, d := m.lanes(a[0], w, esz), m.lanes(a[1], w, esz), m.lanes(a[2], w, esz)
			for i := range d {
				if esz == 4 {
					d[i] = float64(float32(s1[i]*s2[i] + d[i])) // exact product, one rounding to float32 up to ties
				} else {
					d[i] = math.FMA(s1[i], s2[i], d[i])
				}
			}
			m.setVec(a[2], d, esz)
		case "VMULPS", "VMULPD":
			esz := elemSize(in.op)
			_, w, _ := vecReg(a[2])
			s2, s1 := m.lanes(a[0], w, esz), m.lanes(a[1], w, esz)
			for i := range s1 {
				s1[i] *= s2[i]
				if esz == 4 {
					s1[i] = float64(float32(s1[i]))
				}
			}
			m.setVec(a[2], s1, esz)
		case "VUCOMISS", "VUCOMISD":
			// Go order: VUCOMISS src, dst compares dst with src.
			esz := elemSize(in.op)
			x, y := m.lanes(a[1], esz, esz)[0], m.lanes(a[0], esz, esz)[0]
			unordered := math.IsNaN(x) || math.IsNaN(y)
			m.zf, m.pf = unordered || x == y, unordered
		default:
			panic(fmt.Sprintf("line %d: %s is not emulated", in.line, in.op))
		}
	}
	panic("fell off the end of " + f.name)
}

// emulatedKernel returns a microKernel[T] that interprets f. The operands
// are copied into emulated memory over the extents the microKernel
// contract allows (so that any access outside them fails), and C is
// copied back.
func emulatedKernel[T Float](f *asmFunc, rows, nr int) microKernel[T] {
	return func(k int, a *T, aStep, aRow int, b *T, ldb int, c *T, ldc int, alpha, beta T) {
		esz := 8
		if is32[T]() {
			esz = 4
		}
		as := unsafeSlice(a, (k-1)*aStep+(rows-1)*aRow+1)
		bs := unsafeSlice(b, (k-1)*ldb+nr)
		cs := unsafeSlice(c, (rows-1)*ldc+nr)
		ra := &asmRegion{base: 0x1000_0000, mem: toBytes(as, esz)}
		rb := &asmRegion{base: 0x2000_0000, mem: toBytes(bs, esz)}
		rc := &asmRegion{base: 0x3000_0000, mem: toBytes(cs, esz)}
		frame := &asmRegion{base: 0x100, mem: make([]byte, 80)}
		for i, v := range []uint64{uint64(k), ra.base, uint64(aStep), uint64(aRow), rb.base, uint64(ldb), rc.base, uint64(ldc)} {
			binary.LittleEndian.PutUint64(frame.mem[8*i:], v)
		}
		copy(frame.mem[64:], toBytes([]T{alpha, beta}, esz))
		m := &asmMachine{gpr: map[string]uint64{}, regions: []*asmRegion{ra, rb, rc, frame}, fp: frame.base}
		m.run(f)
		fromBytes(cs, rc.mem, esz)
	}
}

func toBytes[T Float](s []T, esz int) []byte {
	out := make([]byte, esz*len(s))
	for i, v := range s {
		if esz == 4 {
			binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(float32(v)))
		} else {
			binary.LittleEndian.PutUint64(out[8*i:], math.Float64bits(float64(v)))
		}
	}
	return out
}

func fromBytes[T Float](dst []T, b []byte, esz int) {
	for i := range dst {
		if esz == 4 {
			dst[i] = T(math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:])))
		} else {
			dst[i] = T(math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:])))
		}
	}
}
