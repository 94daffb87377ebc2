package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// maxProblems caps the problems listed in one error.
const maxProblems = 20

// maxNodes caps the YAML nodes visited while checking keys, so that aliases
// that expand a small file into a huge tree fail fast.
const maxNodes = 100_000

// Error lists the problems found in a config file, each formatted
// "file:line: key.path: what is wrong", in file order.
type Error struct {
	Problems []string
}

func (e *Error) Error() string { return strings.Join(e.Problems, "\n") }

// problem is one finding with its line (0: unknown).
type problem struct {
	line int
	msg  string
}

// problems collects findings and turns them into an *Error.
type problems []problem

func (ps problems) err() error {
	if len(ps) == 0 {
		return nil
	}
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].line < ps[j].line })
	e := &Error{}
	for i, p := range ps {
		if i == maxProblems {
			e.Problems = append(e.Problems, fmt.Sprintf("... and %d more problems", len(ps)-maxProblems))
			break
		}
		e.Problems = append(e.Problems, p.msg)
	}
	return e
}

// file names the config in messages.
func (c *Config) file() string {
	if c.Path == "" {
		return "config"
	}
	return c.Path
}

// at returns "file:line" for the key path, or for its nearest ancestor that
// has a line, or just the file.
func (c *Config) at(path string) string {
	if line := c.line(path); line > 0 {
		return fmt.Sprintf("%s:%d", c.file(), line)
	}
	return c.file()
}

// line returns the line of the key path or of its nearest ancestor, or 0.
func (c *Config) line(path string) int {
	for path != "" {
		if line, ok := c.lines[path]; ok {
			return line
		}
		i := max(strings.LastIndexByte(path, '.'), strings.LastIndexByte(path, '['))
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 0
}

// decode parses data strictly into a Config anchored at path.
func decode(data []byte, path string) (*Config, error) {
	c := newConfig(path)
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("%s: the config file is empty; it needs at least model: and data: (see the package documentation for an example)", c.file())
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: the config file holds only comments; it needs at least model: and data:", c.file())
		}
		return nil, c.yamlError(err)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == nil:
		return nil, fmt.Errorf("%s:%d: a second YAML document starts here; a config file holds one", c.file(), next.Line)
	case !errors.Is(err, io.EOF):
		return nil, c.yamlError(err)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: the config must be a mapping of sections (model:, data:, ...), not %s", c.file(), root.Line, describe(root))
	}
	w := &walker{c: c}
	w.walk(root, reflect.TypeFor[Config](), "", 0)
	if err := w.ps.err(); err != nil {
		return nil, err
	}
	// The key check above reports with key paths; the strict decoder
	// guards against anything it missed.
	dec = yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		return nil, c.yamlError(err)
	}
	return c, nil
}

// yamlError rewrites a yaml.v3 error as "file:N: message" lines.
func (c *Config) yamlError(err error) error {
	var msgs []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	var ps problems
	for _, m := range msgs {
		// yaml.v3 says "line N: message" (after its "yaml: " prefix).
		line := 0
		if rest, ok := strings.CutPrefix(m, "line "); ok {
			if num, msg, ok := strings.Cut(rest, ": "); ok {
				if n, err := strconv.Atoi(num); err == nil {
					line, m = n, msg
				}
			}
		}
		if isParserError(m) {
			// yaml.v3 numbers the lines of its parser errors (unlike its
			// scanner errors) from 0, and leaves out line 0.
			line++
		}
		if line > 0 {
			ps = append(ps, problem{line, fmt.Sprintf("%s:%d: %s", c.file(), line, m)})
		} else {
			ps = append(ps, problem{0, fmt.Sprintf("%s: %s", c.file(), m)})
		}
	}
	return ps.err()
}

// isParserError reports whether m is one of the messages of yaml.v3's
// parser (as opposed to its scanner), whose line numbers are 0-based.
func isParserError(m string) bool {
	switch m {
	case "did not find expected ',' or ']'", "did not find expected ',' or '}'",
		"did not find expected <document start>", "did not find expected <stream-start>",
		"did not find expected '-' indicator", "did not find expected key",
		"did not find expected node content", "found duplicate %YAML directive",
		"found duplicate %TAG directive", "found incompatible YAML document",
		"found undefined tag handle":
		return true
	}
	return false
}

// walker checks a YAML node tree against the Config type: unknown and
// duplicate keys and values of the wrong type, with key paths. It records
// the line of every key path on the way.
type walker struct {
	c     *Config
	ps    problems
	nodes int
}

func (w *walker) add(line int, path, format string, args ...any) {
	where := fmt.Sprintf("%s:%d", w.c.file(), line)
	if path != "" {
		where += ": " + path
	}
	w.ps = append(w.ps, problem{line, where + ": " + fmt.Sprintf(format, args...)})
}

// walk checks node n, found at path, against type t.
func (w *walker) walk(n *yaml.Node, t reflect.Type, path string, depth int) {
	for n.Kind == yaml.AliasNode && n.Alias != nil && depth < 100 {
		n, depth = n.Alias, depth+1
	}
	w.nodes++
	if w.nodes == maxNodes {
		w.add(n.Line, path, "the document expands to more than %d values (aliases?); simplify it", maxNodes)
	}
	if w.nodes >= maxNodes || depth >= 100 {
		return
	}
	if isNull(n) {
		return
	}
	w.c.set[path] = true
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == reflect.TypeFor[time.Duration]() {
		if n.Kind != yaml.ScalarNode {
			w.add(n.Line, path, "expected a duration such as 30m or 2h, got %s", describe(n))
		} else if _, err := time.ParseDuration(n.Value); err != nil {
			w.add(n.Line, path, "expected a duration such as 30m or 2h, got %s", describe(n))
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			w.add(n.Line, path, "expected a mapping of keys (key: value), got %s", describe(n))
			return
		}
		w.mapping(n, t, path, depth)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			w.add(n.Line, path, "expected a mapping (name: value), got %s", describe(n))
			return
		}
		w.mapping(n, t, path, depth)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			w.add(n.Line, path, "expected a list such as [a, b], got %s", describe(n))
			return
		}
		for i, e := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			w.c.lines[p] = e.Line
			w.walk(e, t.Elem(), p, depth+1)
		}
	default:
		if n.Kind != yaml.ScalarNode {
			w.add(n.Line, path, "expected %s, got %s", kindName(t), describe(n))
			return
		}
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			w.add(n.Line, path, "expected %s, got %s", kindName(t), describe(n))
		}
	}
}

// mapping checks the pairs of a mapping node against struct or map type t:
// keys are names given once and known to t, values of the right type.
// Merge keys (<<) bring in the pairs of the merged mappings, which the
// mapping's own keys may override.
func (w *walker) mapping(n *yaml.Node, t reflect.Type, path string, depth int) {
	var fields map[string]reflect.Type
	var rest reflect.Type // the type of keys that are not fields
	if t.Kind() == reflect.Struct {
		fields, rest = yamlFields(t)
	} else {
		rest = t.Elem()
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			for _, m := range mergeSources(v) {
				w.walk(m, t, path, depth+1)
			}
			continue
		}
		if k.Kind != yaml.ScalarNode {
			w.add(k.Line, path, "keys must be plain names, got %s", describe(k))
			continue
		}
		key := k.Value
		p := join(path, key)
		if first, dup := seen[key]; dup {
			w.add(k.Line, p, "key given twice (first on line %d); keep one", first)
			continue
		}
		seen[key] = k.Line
		w.c.lines[p] = k.Line
		vt, ok := fields[key]
		if !ok && rest != nil {
			vt, ok = rest, true
		}
		if !ok {
			w.add(k.Line, p, "unknown key%s", suggest(key, slices.Sorted(maps.Keys(fields)), path))
			continue
		}
		w.walk(v, vt, p, depth+1)
	}
}

// mergeSources returns the mappings a merge key's value refers to.
func mergeSources(v *yaml.Node) []*yaml.Node {
	if v.Kind == yaml.SequenceNode {
		return v.Content
	}
	return []*yaml.Node{v}
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// join appends a key to a key path.
func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// describe names a node's value for messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.DocumentNode:
		return "a document"
	}
	v := n.Value
	if len(v) > 40 {
		v = v[:40] + "..."
	}
	return strconv.Quote(v)
}

// kindName names what a scalar type expects.
func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	}
	return "a string"
}

// yamlFields returns the YAML keys of struct type t with their types,
// flattening inline structs, and the element type of an inline map.
func yamlFields(t reflect.Type) (fields map[string]reflect.Type, inline reflect.Type) {
	fields = map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if slices.Contains(strings.Split(opts, ","), "inline") {
			switch f.Type.Kind() {
			case reflect.Struct:
				sub, subInline := yamlFields(f.Type)
				for k, v := range sub {
					fields[k] = v
				}
				if subInline != nil {
					inline = subInline
				}
			case reflect.Map:
				inline = f.Type.Elem()
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fields[name] = f.Type
	}
	return fields, inline
}

// suggest proposes the closest known key, or lists them all.
func suggest(key string, known []string, section string) string {
	where := ""
	if section != "" {
		where = " in " + section
	}
	best, bestDist := "", 3
	for _, k := range known {
		if d := editDistance(strings.ToLower(key), k); d < bestDist {
			best, bestDist = k, d
		}
	}
	if best != "" {
		return fmt.Sprintf("%s; did you mean %q?", where, best)
	}
	return fmt.Sprintf("%s; known keys: %s", where, strings.Join(known, ", "))
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
