// Command protogen regenerates proto/channel/v1's Go code (`make proto`).
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/patchbayhq/patchbay/internal/protogen"
)

func main() {
	if err := protogen.Write(context.Background(), "."); err != nil {
		fmt.Fprintln(os.Stderr, "protogen:", err)
		os.Exit(1)
	}
}
