package main

import (
	"fmt"
	"io"
	"runtime"

	"github.com/patchbayhq/patchbay/sdk"
)

func cmdVersion(args []string, stdout io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("%w: version takes no arguments", errUsage)
	}
	fmt.Fprintf(stdout, "patchbay %s (plugin protocol %d, %s %s/%s)\n", version, sdk.ProtocolVersion, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}
