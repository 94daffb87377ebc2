package config

import (
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary bytes to Parse: it must never panic, every error
// must name the file first, and a parsed config must hash.
func FuzzParse(f *testing.F) {
	f.Add([]byte(example))
	f.Add([]byte(head + "search:\n  samplr: tpe\n  weight_bits: [0, 33]\n"))
	f.Add([]byte("model: m\ndata:\n  test: &s {format: npy, inputs: a, labels: b}\n  val: {<<: *s, inputs: c}\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("---\nmodel: x\n---\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "fuzz.yaml")
		if err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "fuzz.yaml") && !strings.HasPrefix(line, "... and ") {
					t.Fatalf("error line %q does not start with the file name", line)
				}
			}
			return
		}
		if len(c.Hash()) != 64 {
			t.Fatalf("hash %q", c.Hash())
		}
	})
}
