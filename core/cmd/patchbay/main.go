// Command patchbay is the Patchbay core: one process that owns the public
// HTTP listener, the ticket store and the channel plugins.
//
//	patchbay serve    -config FILE   serve the API and webhooks, run the plugins
//	patchbay validate -config FILE   check the config and every channel's plugin configuration
//	patchbay plugins  [-config FILE | -dir DIR]   list installed plugins and their manifests
//	patchbay backup   -config FILE -o BACKUP   back up the store (online while serving)
//	patchbay restore  -config FILE -i BACKUP   restore into an empty data directory
//	patchbay mcp      -url URL -token-env NAME   an MCP server on stdio for a running core
//	patchbay reindex  -config FILE             rebuild the full-text search index (server stopped)
//	patchbay check    -config FILE   check a stopped server's store file by file and record by record
//	patchbay version                 print the version
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// errUsage marks command-line mistakes (exit status 2).
var errUsage = errors.New("usage")

// errFailed marks a command that ran and found problems it already printed
// (exit status 1).
var errFailed = errors.New("failed")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	// After the first signal the core shuts down gracefully; restoring the
	// default lets a second one end it at once (plugins die with it through
	// their parent-death signal).
	go func() {
		<-ctx.Done()
		stop()
	}()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one command and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = cmdServe(ctx, args[1:], stdout, stderr)
	case "validate":
		err = cmdValidate(ctx, args[1:], stdout, stderr)
	case "plugins":
		err = cmdPlugins(ctx, args[1:], stdout, stderr)
	case "backup":
		err = cmdBackup(ctx, args[1:], stdout, stderr)
	case "restore":
		err = cmdRestore(ctx, args[1:], stdout, stderr)
	case "mcp":
		err = cmdMCP(ctx, args[1:], os.Stdin, stdout, stderr)
	case "reindex":
		err = cmdReindex(ctx, args[1:], stdout, stderr)
	case "check":
		err = cmdCheck(ctx, args[1:], stdout, stderr)
	case "version", "-version", "--version":
		err = cmdVersion(args[1:], stdout)
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return 0
	default:
		fmt.Fprintf(stderr, "patchbay: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage):
		if err != errUsage {
			fmt.Fprintf(stderr, "patchbay %s: %v\n", args[0], err)
		}
		return 2
	case errors.Is(err, errFailed):
		return 1
	default:
		fmt.Fprintf(stderr, "patchbay %s: %v\n", args[0], err)
		return 1
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, `Patchbay: a self-hosted channel gateway.

Usage:
  patchbay serve    -config FILE               serve the HTTP API and webhooks, run the channel plugins
  patchbay validate -config FILE               check the configuration and each channel's plugin config
  patchbay plugins  [-config FILE | -dir DIR]  list installed plugins with their manifests
  patchbay backup   -config FILE -o BACKUP     back up the store (online while the server runs)
  patchbay restore  -config FILE -i BACKUP     restore a backup into an empty data directory
  patchbay mcp      -url URL -token-env NAME   serve MCP on stdin/stdout for a running core (desktop AI clients)
  patchbay reindex  -config FILE               rebuild the search index from the store (server stopped)
  patchbay check    -config FILE               check the store of a stopped server (exit 1 when damaged)
  patchbay version                             print the version

Run "patchbay COMMAND -h" for a command's flags.
`)
}
