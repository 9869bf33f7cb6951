package mcp

import (
	"slices"
	"testing"
)

// TestToolDefs: every tool of ToolNames is defined once, with a
// description, schemas and annotations whose read-only hint matches the
// token scope the tool needs (docs/mcp.md's table).
func TestToolDefs(t *testing.T) {
	defs, err := toolDefs()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	readOnly := map[string]bool{ToolSearchTickets: true, ToolGetTicket: true, ToolListViews: true,
		ToolListViewTickets: true, ToolLookupUser: true, ToolListChannels: true}
	for _, d := range defs {
		names = append(names, d.tool.Name)
		if d.tool.Description == "" || d.tool.Title == "" || d.tool.InputSchema == nil || d.tool.OutputSchema == nil || d.tool.Annotations == nil {
			t.Errorf("%s: incomplete definition", d.tool.Name)
			continue
		}
		if d.tool.Annotations.ReadOnlyHint != readOnly[d.tool.Name] {
			t.Errorf("%s: readOnlyHint %v", d.tool.Name, d.tool.Annotations.ReadOnlyHint)
		}
	}
	if !slices.Equal(names, ToolNames()) {
		t.Fatalf("defined %v, ToolNames %v", names, ToolNames())
	}
}
