package arch

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// packages returns every mpq package with its direct and transitive imports.
func packages(t *testing.T) (direct, deps map[string][]string) {
	t.Helper()
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}|{{join .Imports \" \"}}|{{join .Deps \" \"}}", "mpq/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	direct, deps = map[string][]string{}, map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		parts := strings.Split(line, "|")
		direct[parts[0]] = strings.Fields(parts[1])
		deps[parts[0]] = strings.Fields(parts[2])
	}
	return direct, deps
}

func TestImportDirection(t *testing.T) {
	direct, deps := packages(t)
	forbidden := []struct {
		pkg, dep, why string
	}{
		{"mpq/evaluator", "mpq/sensitivity", "evaluator and sensitivity never import each other"},
		{"mpq/sensitivity", "mpq/evaluator", "evaluator and sensitivity never import each other"},
		{"mpq/evaluator", "mpq/search", "search orchestrates evaluator, not the reverse"},
		{"mpq/sensitivity", "mpq/search", "search orchestrates sensitivity, not the reverse"},
		{"mpq/evaluator", "mpq/store", "only search and cmd use store"},
		{"mpq/sensitivity", "mpq/store", "only search and cmd use store"},
		{"mpq/internal/engine", "mpq/internal/onnxio", "the runtime does not know the file format"},
		{"mpq/internal/engine", "mpq/internal/quant", "the runtime does not know the quantizers"},
		{"mpq/internal/kernel", "mpq/internal/graph", "kernels are below the graph"},
		{"mpq/internal/graph", "mpq/internal/kernel", "the graph form is independent of kernels"},
		{"mpq/internal/quant", "mpq/internal/engine", "quantizers are a leaf"},
		{"mpq/store", "mpq/search", "store is below search"},
		{"mpq/internal/qdq", "mpq/evaluator", "the QDQ writer takes plain numbers; search glues the evaluator to it"},
		{"mpq/internal/qdq", "mpq/search", "the QDQ writer is below search"},
		{"mpq/evaluator", "mpq/internal/qdq", "the evaluator does not write ONNX files"},
		{"mpq/internal/engine", "mpq/internal/qdq", "the runtime does not know the file format"},
	}
	for _, f := range forbidden {
		if slices.Contains(deps[f.pkg], f.dep) {
			t.Errorf("%s depends on %s: %s", f.pkg, f.dep, f.why)
		}
	}
	for pkg, imps := range direct {
		for _, imp := range imps {
			switch {
			case strings.HasPrefix(imp, "gorm.io/") && pkg != "mpq/store":
				t.Errorf("%s imports %s: only store touches gorm", pkg, imp)
			case strings.HasPrefix(imp, "github.com/c-bata/goptuna") && pkg != "mpq/store" && pkg != "mpq/search":
				t.Errorf("%s imports %s: only store and search touch goptuna", pkg, imp)
			case imp == "mpq/store" && pkg != "mpq/search" && !strings.HasPrefix(pkg, "mpq/cmd/"):
				t.Errorf("%s imports store: only search and cmd use it", pkg)
			case strings.HasPrefix(imp, "mpq/cmd"):
				t.Errorf("%s imports %s: nothing imports a command", pkg, imp)
			}
		}
	}
	if len(direct) < 10 {
		t.Fatalf("go list found only %d packages", len(direct))
	}
}
