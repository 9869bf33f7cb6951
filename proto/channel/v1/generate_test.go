package channelv1_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/patchbayhq/patchbay/internal/protogen"
)

// TestGeneratedCodeIsCurrent fails when channel.proto was changed without
// running `make proto`, or when the pinned generators changed.
func TestGeneratedCodeIsCurrent(t *testing.T) {
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	files, err := protogen.Generate(context.Background(), root)
	if err != nil {
		t.Fatalf("generate: %v", err)
	}
	if len(files) == 0 {
		t.Fatal("generator produced no files")
	}
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatalf("%s: %v (run `make proto`)", name, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run `make proto` and commit the result", name)
		}
	}
}
