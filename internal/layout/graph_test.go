package layout

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the import graph in docs/ARCHITECTURE.md from the code")

const (
	graphBegin = "<!-- import-graph:begin (generated: go test ./internal/layout -run TestArchitectureImportGraph -update) -->"
	graphEnd   = "<!-- import-graph:end -->"
)

// importGraph renders, for every package of the module, the packages of the
// module it imports in its non-test code, one Markdown table row each.
func importGraph(t *testing.T) string {
	t.Helper()
	cmd := exec.Command("go", "list", "-json=ImportPath,Imports", "./...")
	cmd.Dir = filepath.Join("..", "..")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	type pkg struct {
		ImportPath string
		Imports    []string
	}
	var rows []string
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("decoding go list: %v", err)
		}
		var deps []string
		for _, imp := range p.Imports {
			if strings.HasPrefix(imp, mod) {
				deps = append(deps, "`"+strings.TrimPrefix(imp, mod)+"`")
			}
		}
		sort.Strings(deps)
		use := strings.Join(deps, ", ")
		if use == "" {
			use = "—"
		}
		rows = append(rows, fmt.Sprintf("| `%s` | %s |", strings.TrimPrefix(p.ImportPath, mod), use))
	}
	sort.Strings(rows)
	return "| package | imports (this module only, non-test code) |\n|---|---|\n" + strings.Join(rows, "\n") + "\n"
}

// TestArchitectureImportGraph keeps the package map in docs/ARCHITECTURE.md
// true: the table between the import-graph markers must equal what `go list`
// says the code imports. After changing imports, rerun with -update.
func TestArchitectureImportGraph(t *testing.T) {
	path := filepath.Join("..", "..", "docs", "ARCHITECTURE.md")
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(doc)
	b := strings.Index(s, graphBegin)
	e := strings.Index(s, graphEnd)
	if b < 0 || e < b {
		t.Fatalf("%s: the import-graph markers are missing", path)
	}
	want := importGraph(t)
	got := s[b+len(graphBegin)+1 : e]
	if got == want {
		return
	}
	if *update {
		s = s[:b+len(graphBegin)] + "\n" + want + s[e:]
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("docs/ARCHITECTURE.md's import graph disagrees with the code; rerun with -update and review the diff.\nwant:\n%s\ngot:\n%s", want, got)
}
