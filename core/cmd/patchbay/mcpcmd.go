package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/patchbayhq/patchbay/core/logscrub"
	"github.com/patchbayhq/patchbay/core/mcp"
)

// cmdMCP is `patchbay mcp`: an MCP server on standard input and output (the
// stdio transport desktop MCP clients launch) that works tickets through a
// running core's API with a token read from the environment. Logs go to
// standard error, never to standard output (the protocol's channel).
func cmdMCP(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("mcp", "-url URL -token-env NAME", stderr)
	url := fs.String("url", "http://127.0.0.1:8080", "base URL of the running core (its http.listen or public address)")
	tokenEnv := fs.String("token-env", "PATCHBAY_TOKEN", "name of the environment variable that holds the API token (the token itself is never a flag: flags show in process lists)")
	var lf logFlags
	lf.register(fs, "warn")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	if strings.TrimSpace(*tokenEnv) == "" {
		return fmt.Errorf("%w: -token-env must name an environment variable", errUsage)
	}
	token := strings.TrimSpace(os.Getenv(*tokenEnv))
	if token == "" {
		return fmt.Errorf("%w: the environment variable %s (from -token-env) is empty or unset: set it to an API token (POST /api/v1/tokens)", errUsage, *tokenEnv)
	}
	// The bridge's log lines pass the same scrubber as the core's: the
	// token never reaches standard error, whatever a library logs.
	scrub := logscrub.New()
	scrub.Set("mcp token", []string{token})
	logger, err := lf.logger(stderr, scrub)
	if err != nil {
		return err
	}
	srv, err := mcp.New(mcp.Options{URL: *url, Token: token, Version: version, Logger: logger.Named("mcp")})
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	defer srv.Close()
	err = srv.ServeStdio(ctx, io.NopCloser(stdin), nopWriteCloser{stdout})
	var ae *mcp.APIError
	switch {
	case errors.As(err, &ae):
		return fmt.Errorf("the core at %s refused the token from %s: %w", *url, *tokenEnv, err)
	case err != nil && ctx.Err() != nil:
		return nil // interrupted
	}
	return err
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }
